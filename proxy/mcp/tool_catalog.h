// What Bulwark has learned about the upstream's tools from the tools/list replies that passed
// through it: each tool's readOnlyHint and idempotentHint, for retry safety.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policies/retry_safety.h"
#include "proxy/mcp/jsonrpc_envelope.h"

namespace bulwark {

class ToolCatalog {
public:
  // Records (or replaces) the hints of every tool in one tools/list page.
  void learn(const std::vector<ToolHints>& tools);
  // The hints known for `tool`; both empty when the tool was never listed.
  policies::ToolAnnotations annotationsOf(std::string_view tool) const;
  bool knows(std::string_view tool) const { return tools_.contains(std::string(tool)); }
  std::size_t size() const { return tools_.size(); }

private:
  // Bounded: a server listing more tools than this is not one a sidecar fronts; the first
  // ones seen keep their hints and later ones count as unknown (never retried unless policy).
  static constexpr std::size_t kMaxTools = 4096;
  std::unordered_map<std::string, policies::ToolAnnotations> tools_;
};

}  // namespace bulwark
