// What Bulwark knows about the upstream's tools: each tool's readOnlyHint and idempotentHint (for
// retry safety), where they came from and when. Filled by the tools/list replies that pass
// through (source `listed`), by Bulwark's own listings (`discovered`, see
// upstream/tool_discovery.h) and by listings made with a caller's credentials
// (`caller_listing`). Listings of one generation that disagree about a tool keep the safer
// reading (policies::mergeHints) and log one warning; a new generation (list_changed seen, the
// upstream restarted) lets the next listing replace what was known.
#pragma once

#include "policies/retry_safety.h"
#include "policies/tool_knowledge.h"
#include "proxy/mcp/jsonrpc_envelope.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bulwark {

struct KnownTool {
  policies::ToolAnnotations hints;
  policies::HintSource source = policies::HintSource::kListed;
  std::chrono::system_clock::time_point learned_at{};
  std::uint64_t generation = 0;
};

class ToolCatalog {
public:
  // Records the hints of every tool in one tools/list page (or a whole listing). Runs the
  // on-learned hook when the set of known tools or their hints changed.
  void learn(const std::vector<ToolHints>& tools,
             policies::HintSource source = policies::HintSource::kListed,
             std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // The upstream's list may have changed (notifications/tools/list_changed passed through, or the
  // upstream restarted): the next listing replaces hints instead of merging with them. Runs the
  // list-changed hook (which asks discovery to list again).
  void listChanged();
  // Called for every message the proxy parses anyway: notices notifications/tools/list_changed.
  void notice(const Envelope& message) {
    if (message.kind == MessageKind::kNotification &&
        message.method == "notifications/tools/list_changed") {
      listChanged();
    }
  }
  // The same for an event of a stream the proxy does not parse (the GET stream): only an event
  // that mentions list_changed is parsed.
  void noticeStreamEvent(std::string_view data, EnvelopeParser& parser);
  // Only starts a new generation (no hook): for an upstream restart, which discovery handles.
  void newGeneration() { ++generation_; }

  // The hints known for `tool`; both empty when the tool was never listed.
  policies::ToolAnnotations annotationsOf(std::string_view tool) const;
  bool knows(std::string_view tool) const { return tools_.contains(std::string(tool)); }
  std::size_t size() const { return tools_.size(); }
  // Every known tool, sorted by name (for the admin view and the unmatched-rule check).
  std::vector<std::pair<std::string, KnownTool>> snapshot() const;
  std::vector<std::string> names() const;

  // Hooks, set once by the owner; they run inline, after the catalog changed.
  void setOnLearned(std::function<void()> hook) { on_learned_ = std::move(hook); }
  void setOnListChanged(std::function<void()> hook) { on_list_changed_ = std::move(hook); }

private:
  // Bounded: a server listing more tools than this is not one a sidecar fronts; the first
  // ones seen keep their hints and later ones count as unknown (never retried unless policy).
  static constexpr std::size_t kMaxTools = 4096;
  std::unordered_map<std::string, KnownTool> tools_;
  std::uint64_t generation_ = 1;
  std::function<void()> on_learned_;
  std::function<void()> on_list_changed_;
};

} // namespace bulwark
