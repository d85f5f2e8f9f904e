// Discovery (issue #14): Bulwark lists the upstream's tools itself (upstream/tool_listing.h), so
// that a tool's retry safety is known before any client lists it. Discovery becomes active at
// start (at_start, the default) or, without it, the first time a retry decision needs the hints
// of a tool the catalog does not know; from then on it lists again when asked (the upstream
// restarted, notifications/tools/list_changed passed through) and on a refresh interval
// (shortened by a 2026 server's ttlMs).
//
// A stdio server is listed through its bridge (stdio/README.md): the listing's session takes
// the bridge's spare child, and its DELETE stops it.
//
// When discovery is off or refused (401/403) and a retry decision needs an unknown tool's hints,
// the tools are listed with that caller's own credentials (and session, in the 2025 protocol):
// one listing per caller at a time, the result kept like any other (source caller_listing).
//
// A listing that is refused, malformed, over the body limit or endless leaves the catalog as it
// was; the reason is logged (never a header value) and counted in bulwark_tool_discovery_total.
#pragma once

#include "proxy/admin/metrics.h"
#include "proxy/upstream/tool_listing.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <uv.h>
#include <vector>

namespace bulwark {

class ToolCatalog;

struct DiscoverySettings {
  bool enabled = true;
  // List at start. Otherwise discovery waits until it is first needed (a retry decision about a
  // tool the catalog does not know).
  bool at_start = true;
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
  std::size_t caller_listings = 0; // listings with a caller's credentials, since start
};

// Who asked, for a listing in the caller's context.
struct CallerCredentials {
  std::string authorization;    // the caller's Authorization value (may be empty)
  std::string session_id;       // the caller's upstream session (2025); empty for 2026
  std::string protocol_version; // the caller's MCP-Protocol-Version
};

// A retry decision waiting for a listing. Not owned; forget() it before it dies.
class HintsWaiter {
public:
  // Runs once, from a later loop turn than awaitHints(), when the listing ended (whatever its
  // result): look the tool up again.
  virtual void onHintsListed() = 0;

protected:
  ~HintsWaiter() = default;
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

  // Arms the timer; lists at once (on the next loop turn) with at_start. Returns an empty string,
  // or what failed.
  std::string start(DiscoverySettings settings);
  // New settings (reload): they apply from the next listing.
  void configure(DiscoverySettings settings);
  // Lists again soon (coalesced: a listing in flight is followed by one more), once discovery is
  // active. `why` is logged.
  void listSoon(std::string_view why);
  // A tool's hints are needed and not known: activates discovery, and lists now unless a listing
  // is in flight or one succeeded since the last list change.
  void needed(std::string_view why);

  // A retry decision needs the hints of a tool the catalog does not know: lists (discovery, or
  // with `caller`'s credentials when discovery is off or refused) and calls
  // waiter.onHintsListed() when that listing ended. Returns false when no listing can help (the
  // catalog is as fresh as it gets); the waiter is then never called.
  bool awaitHints(const CallerCredentials& caller, HintsWaiter& waiter);
  // The waiter gives up (deadline, client gone): it is never called.
  void forget(HintsWaiter& waiter);

  // Stops the timer and cancels the listings in flight. Idempotent.
  void close();

  // Runs after each successful listing, once the catalog has taken it.
  void setOnListed(std::function<void()> hook) { on_listed_ = std::move(hook); }

  const DiscoveryStatus& status() const { return status_; }
  bool running() const { return listing_.active(); }

private:
  struct Waiting {
    HintsWaiter* waiter;
    CallerCredentials caller;
  };
  struct CallerListing {
    ToolListing listing;
    std::vector<HintsWaiter*> waiters;
  };

  static void onTimer(uv_timer_t* timer);
  void begin();
  void finished(ListingOutcome&& outcome);
  void schedule(std::chrono::milliseconds delay);
  std::chrono::milliseconds soonest() const;
  bool canDiscover() const;
  void listForCaller(const CallerCredentials& caller, HintsWaiter& waiter);
  void callerFinished(const std::string& key, ListingOutcome&& outcome);
  ListingTarget ownTarget() const;

  ListingContext context_;
  ToolCatalog& catalog_;
  std::string host_;
  std::string path_;
  DiscoverySettings settings_;
  DiscoveryStatus status_;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  bool closed_ = false;
  bool again_ = false;  // a trigger arrived while a listing was in flight
  bool active_ = false; // listed at start, or needed once
  bool fresh_ = false;  // a listing succeeded and nothing said the list changed since
  int failures_ = 0;
  std::chrono::steady_clock::time_point last_begin_{};
  // Known after a first answer: a 2025 server is not asked server/discover again.
  std::optional<bool> stateless_;
  ToolListing listing_;
  std::vector<Waiting> waiting_; // for the discovery listing
  // By caller (Authorization and session): one listing in flight each.
  std::unordered_map<std::string, CallerListing> caller_listings_;
  std::function<void()> on_listed_;
};

} // namespace bulwark
