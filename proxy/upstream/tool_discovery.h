// Discovery (issue #14): Bulwark lists the upstream's tools itself, so that a tool's retry safety
// is known before any client lists it. It lists once at start, again when asked (the upstream
// restarted, notifications/tools/list_changed passed through) and on a refresh interval (shortened
// by a 2026 server's ttlMs). Every page is read (nextCursor, at most 100 pages).
//
// The newest protocol the upstream accepts is used: first `server/discover` (2026-07-28, then a
// stateless tools/list carrying Mcp-Method); a server that does not answer it is a 2025 server,
// and Bulwark opens its own session (initialize, notifications/initialized, tools/list, DELETE).
// A stdio upstream is listed the same way through its bridge, which hands the session its spare
// child.
//
// A listing that is refused (401/403), malformed, over the body limit or endless leaves the
// catalog as it was; the reason is logged (never the configured header values) and counted in
// bulwark_tool_discovery_total.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/mcp/jsonrpc_envelope.h"

namespace bulwark {

class ToolCatalog;
class UpstreamPool;

struct DiscoverySettings {
  bool enabled = true;
  // List at start. Otherwise discovery waits until it is first needed (a retry decision about a
  // tool the catalog does not know); from then on it keeps the list fresh (interval, list_changed,
  // upstream restarts). Off by default so that Bulwark sends nothing of its own to an upstream
  // that only ever sees well-known tools.
  bool at_start = false;
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  // Sent with every request of a listing (e.g. Authorization). Values are secrets: never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  // Bounds each request of a listing.
  std::chrono::milliseconds request_timeout{10000};
};

// What /tools shows about discovery.
struct DiscoveryStatus {
  bool enabled = true;
  bool active = false; // listed at start, or needed once
  std::optional<ToolDiscoveryResult> last_result;
  std::chrono::system_clock::time_point last_at{};
  std::string last_error;       // why the last listing failed; empty after a success
  std::string protocol_version; // the version the last successful listing used
  int pages = 0;                // pages read by the last successful listing
  std::size_t tools = 0;        // tools in the last successful listing
  std::chrono::milliseconds next_in{0};
};

class ToolDiscovery {
public:
  // `host` is the Host header for the upstream; `path` its MCP endpoint. All references must
  // outlive this object (the Server owns them all).
  ToolDiscovery(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics, ToolCatalog& catalog,
                EnvelopeParser& parser, std::string host, std::string path);
  ~ToolDiscovery();
  ToolDiscovery(const ToolDiscovery&) = delete;
  ToolDiscovery& operator=(const ToolDiscovery&) = delete;

  // Arms the timer and lists at once (on the next loop turn) when enabled. Returns an empty
  // string, or what failed.
  std::string start(DiscoverySettings settings);
  // New settings (reload): they apply from the next listing; enabling lists soon.
  void configure(DiscoverySettings settings);
  // Lists again soon (coalesced: a listing in flight is followed by one more), once discovery is
  // active. `why` is logged.
  void listSoon(std::string_view why);
  // A tool's hints are needed and not known: activates discovery, and lists now unless a listing
  // is in flight or one succeeded since the last list change.
  void needed(std::string_view why);
  // Stops the timer and detaches a listing in flight (its answer is dropped). Idempotent.
  void close();

  // Runs after each successful listing, once the catalog has taken it.
  void setOnListed(std::function<void()> hook) { on_listed_ = std::move(hook); }

  const DiscoveryStatus& status() const { return status_; }
  bool running() const { return listing_ != nullptr; }

private:
  class Listing;
  friend class Listing;
  struct Outcome {
    ToolDiscoveryResult result = ToolDiscoveryResult::kFailed;
    std::string detail;
    std::vector<ToolHints> tools;
    std::optional<std::int64_t> ttl_ms;
    std::string protocol_version;
    int pages = 0;
    bool stateless = false;
  };

  static void onTimer(uv_timer_t* timer);
  void begin();
  void finished(Outcome&& outcome);
  void schedule(std::chrono::milliseconds delay);
  std::chrono::milliseconds soonest() const;

  uv_loop_t* loop_;
  UpstreamPool& pool_;
  Metrics& metrics_;
  ToolCatalog& catalog_;
  EnvelopeParser& parser_;
  std::string host_;
  std::string path_;
  DiscoverySettings settings_;
  DiscoveryStatus status_;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  bool closed_ = false;
  bool again_ = false; // a trigger arrived while a listing was in flight
  bool active_ = false; // listed at start, or needed once
  bool fresh_ = false;  // a listing succeeded and nothing said the list changed since
  int failures_ = 0;
  std::chrono::steady_clock::time_point last_begin_{};
  // Known after a first answer: a 2025 server is not asked server/discover again.
  std::optional<bool> stateless_;
  Listing* listing_ = nullptr;
  std::function<void()> on_listed_;
};

}  // namespace bulwark
