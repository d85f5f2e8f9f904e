// One tools/list listing of the upstream, every page (nextCursor, at most 100), on Bulwark's own
// behalf (discovery) or in a caller's context. Own listings use the newest protocol the upstream
// accepts: `server/discover` and a stateless tools/list (2026-07-28), else a session of Bulwark's
// own (initialize, notifications/initialized, tools/list, DELETE). A caller's listing goes inside
// the caller's session (2025) or stateless (2026) with the caller's credentials, no handshake.
// A first page answered -32601 (method not found: a server without tools) is an empty listing.
#pragma once

#include "proxy/admin/metrics.h"
#include "proxy/mcp/jsonrpc_envelope.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <uv.h>
#include <vector>

namespace bulwark {

class UpstreamPool;

// What every listing uses; owned by the caller of startToolListing and outliving every listing
// it starts (the Server owns them all).
struct ListingContext {
  uv_loop_t* loop;
  UpstreamPool& pool;
  Metrics& metrics;
  EnvelopeParser& parser;
};

struct ListingTarget {
  std::string host; // the Host header
  std::string path; // the MCP endpoint
  // Sent with every request: the configured discovery headers, or the caller's Authorization.
  // Secrets: never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{10000}; // per request
  std::optional<bool> stateless;            // known from an earlier listing
  bool in_callers_context = false;
  std::string session_id;       // in_callers_context: the caller's upstream session (2025)
  std::string protocol_version; // in_callers_context: the caller's MCP-Protocol-Version
};

struct ListingOutcome {
  ToolDiscoveryResult result = ToolDiscoveryResult::kFailed;
  std::string detail; // why it failed
  std::vector<ToolHints> tools;
  std::optional<std::int64_t> ttl_ms;
  std::string protocol_version;
  int pages = 0;
  bool stateless = false;
};

using ListingDone = std::function<void(ListingOutcome&&)>;

class ToolListing {
public:
  class Run;
  // Starts a listing. `done` runs once, from a later loop turn, unless cancelled first; only when
  // libuv cannot even start a request (uv_timer_init failed) does it run inline, with kFailed,
  // and the returned handle is then inactive.
  static ToolListing start(const ListingContext& context, ListingTarget target, ListingDone done);
  ToolListing() = default;
  // Drops the outcome: `done` never runs. The listing frees itself at its next answer.
  void cancel();
  bool active() const { return run_ != nullptr; }
  // The listing has reported (call from `done`): forget it without cancelling.
  void finished() { run_ = nullptr; }

private:
  explicit ToolListing(Run* run) : run_(run) {}
  Run* run_ = nullptr;
};

} // namespace bulwark
