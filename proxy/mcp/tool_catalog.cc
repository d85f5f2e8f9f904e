#include "proxy/mcp/tool_catalog.h"

namespace bulwark {

void ToolCatalog::learn(const std::vector<ToolHints>& tools) {
  for (const ToolHints& tool : tools) {
    const auto found = tools_.find(tool.name);
    if (found != tools_.end()) {
      found->second = {tool.read_only, tool.idempotent};
    } else if (tools_.size() < kMaxTools) {
      tools_.emplace(tool.name, policies::ToolAnnotations{tool.read_only, tool.idempotent});
    }
  }
}

policies::ToolAnnotations ToolCatalog::annotationsOf(std::string_view tool) const {
  const auto found = tools_.find(std::string(tool));
  return found == tools_.end() ? policies::ToolAnnotations{} : found->second;
}

}  // namespace bulwark
