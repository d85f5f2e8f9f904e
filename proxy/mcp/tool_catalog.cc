#include "proxy/mcp/tool_catalog.h"

#include "proxy/admin/log.h"

#include <algorithm>

namespace bulwark {

void ToolCatalog::learn(const std::vector<ToolHints>& tools, policies::HintSource source,
                        std::chrono::system_clock::time_point now) {
  bool changed = false;
  for (const ToolHints& tool : tools) {
    const policies::ToolAnnotations listed{tool.read_only, tool.idempotent};
    const auto found = tools_.find(tool.name);
    if (found == tools_.end()) {
      if (tools_.size() < kMaxTools) {
        tools_.emplace(tool.name, KnownTool{listed, source, now, generation_});
        changed = true;
      }
      continue;
    }
    KnownTool& known = found->second;
    const policies::HintMerge merged =
        policies::mergeHints(known.hints, known.generation, listed, generation_);
    if (merged.conflict) {
      // Two listings of the same upstream state disagree (e.g. per-caller listings, or a server
      // that changed a tool without saying list_changed): the reading that retries less wins.
      logLine(LogLevel::kWarn, "tool listings disagree; keeping the safer reading",
              {{"tool", tool.name},
               {"source", policies::hintSourceName(source)},
               {"earlier_source", policies::hintSourceName(known.source)}});
    }
    changed = changed || !policies::sameHints(known.hints, merged.hints);
    known = KnownTool{merged.hints, source, now, generation_};
  }
  if (changed && on_learned_) {
    on_learned_();
  }
}

void ToolCatalog::listChanged() {
  ++generation_;
  if (on_list_changed_) {
    on_list_changed_();
  }
}

void ToolCatalog::noticeStreamEvent(std::string_view data, EnvelopeParser& parser) {
  if (data.find("notifications/tools/list_changed") == std::string_view::npos) {
    return;
  }
  const EnvelopeResult parsed = parser.parse(data);
  for (const Envelope& message : parsed.parsed.messages) {
    if (parsed.error == EnvelopeError::kNone) {
      notice(message);
    }
  }
}

policies::ToolAnnotations ToolCatalog::annotationsOf(std::string_view tool) const {
  const auto found = tools_.find(std::string(tool));
  return found == tools_.end() ? policies::ToolAnnotations{} : found->second.hints;
}

std::vector<std::pair<std::string, KnownTool>> ToolCatalog::snapshot() const {
  std::vector<std::pair<std::string, KnownTool>> out(tools_.begin(), tools_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::vector<std::string> ToolCatalog::names() const {
  std::vector<std::string> out;
  out.reserve(tools_.size());
  for (const auto& [name, known] : tools_) {
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace bulwark
