// Bulwark's Prometheus metrics: every family is declared once, in metrics.cc; components report
// typed events here. Closed label sets are enums mapped to their exported label strings in one
// place; only open sets (methods, tool names, limit names, breaker targets) are string_view.
// No prometheus-cpp type appears in this header: only admin/ sees prometheus-cpp.
// Single-threaded (the loop thread); recording an event allocates nothing once its series exists.
#pragma once

#include "policies/circuit_breaker.h"
#include "policies/deadline.h"
#include "policies/failure_class.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace bulwark {

// How a finished client request ended: success, a failure class, or cancelled by the client.
// Exported as the `outcome` label: "success", "cancelled" or policies::failureClassName().
class RequestOutcome {
public:
  static constexpr RequestOutcome success() {
    return RequestOutcome(policies::FailureClass::kNone, false);
  }
  static constexpr RequestOutcome cancelled() {
    return RequestOutcome(policies::FailureClass::kNone, true);
  }
  // kNone is success.
  static constexpr RequestOutcome failed(policies::FailureClass failure) {
    return RequestOutcome(failure, false);
  }

  constexpr bool isSuccess() const {
    return !cancelled_ && failure_ == policies::FailureClass::kNone;
  }
  constexpr bool isCancelled() const { return cancelled_; }
  constexpr bool isFailure() const {
    return !cancelled_ && failure_ != policies::FailureClass::kNone;
  }
  // The failure class (kNone unless isFailure()).
  constexpr policies::FailureClass failure() const { return failure_; }

private:
  constexpr RequestOutcome(policies::FailureClass failure, bool cancelled)
      : failure_(failure), cancelled_(cancelled) {}
  policies::FailureClass failure_;
  bool cancelled_;
};

// How one upstream exchange ended (the `result` label of bulwark_upstream_attempts_total).
enum class UpstreamAttemptResult : std::uint8_t {
  kResponse,            // "response": a complete answer (whatever its status)
  kAbandoned,           // "abandoned": cut short by us (timeout, client gone) before an answer
  kConnectFailed,       // "connect_failed"
  kConnectTimeout,      // "connect_timeout"
  kResetBeforeResponse, // "reset_before_response"
  kResetDuringResponse, // "reset_during_response"
  kMalformedResponse,   // "malformed_response"
};

// The response cache lookup result (the `result` label of bulwark_cache_requests_total).
enum class CacheResult : std::uint8_t {
  kHit,   // "hit": answered from the cache
  kMiss,  // "miss"
  kStale, // "stale": served after a failure, within stale_if_error
};

// What saved a request that failed at least once (the `strategy` label of
// bulwark_recoveries_total).
enum class RecoveredBy : std::uint8_t {
  kRetry,    // "retry"
  kStale,    // "stale"
  kFallback, // "fallback"
  kSession,  // "session": a retry after re-initializing a lost upstream session
};

// The result of a configuration reload or of a session re-initialization.
enum class ReloadResult : std::uint8_t { kSuccess, kFailure }; // "success", "failure"
using SessionRecoveryResult = ReloadResult;

// Why Bulwark does not keep a session's initialize (the `reason` label of
// bulwark_sessions_forgotten_total): such a session cannot be recovered.
enum class SessionForgotten : std::uint8_t {
  kHandshakeTooLarge, // "handshake_too_large": over sessions.max_handshake_bytes, never kept
  kMemory,            // "memory": the least recently used, past sessions.max_total_bytes
  kIdle,              // "idle": unused for sessions.idle_timeout
};

// How one of Bulwark's own tools/list listings ended (the `result` label of
// bulwark_tool_discovery_total).
enum class ToolDiscoveryResult : std::uint8_t {
  kSuccess,   // "success": every page read; the catalog took the hints
  kRefused,   // "refused": the upstream answered 401 or 403
  kFailed,    // "failed": no usable answer (connection, timeout, another status)
  kMalformed, // "malformed": an answer that is not a tools/list result
  kTooLarge,  // "too_large": a page over the body limit
  kEndless,   // "endless": pagination that never ends (over 100 pages, or a repeated cursor)
};

// One Redis command of shared state (the `op` label of bulwark_shared_state_operations_total).
enum class SharedStateOp : std::uint8_t {
  kHandshake,     // "handshake": AUTH, SELECT and PING after connecting
  kHeartbeat,     // "heartbeat"
  kSessionWrite,  // "session_write": a session record written when the session opens
  kSessionRead,   // "session_read": the record of a session this sidecar does not know
  kSessionTouch,  // "session_touch": its TTL refreshed
  kSessionDelete, // "session_delete"
  kClaim,         // "claim": the compare-and-set that takes a dead owner's session over
  kCacheRead,     // "cache_read"
  kCacheWrite,    // "cache_write"
  kCatalogRead,   // "catalog_read"
  kCatalogWrite,  // "catalog_write"
  kOther,         // "other"
};
// How it ended (the `result` label): "ok", "error" (Redis answered an error), "timeout"
// (shared_state.timeout passed; Bulwark went on alone), "unavailable" (not connected, or the
// connection dropped before the answer).
enum class SharedStateResult : std::uint8_t { kOk, kError, kTimeout, kUnavailable };
// A request in a session another live sidecar owns, sent to it (bulwark_session_forwards_total).
enum class SessionForwardResult : std::uint8_t {
  kSuccess,          // "success": the owner's answer relayed
  kOwnerUnreachable, // "owner_unreachable": its port refused: the session is taken over
  kFailed,           // "failed": the forward broke after it started
  kLoopRefused,      // "loop_refused": a forwarded request whose owner is elsewhere
};
// A dead owner's session taken over here (bulwark_session_takeovers_total).
enum class SessionTakeoverResult : std::uint8_t {
  kSuccess, // "success": claimed, initialize replayed, served
  kLost,    // "lost": another sidecar claimed it first; the request went to it
  kFailed,  // "failed": Redis or the replay failed
};

class MetricFamilies; // the prometheus-cpp side, in metrics.cc

class Metrics {
public:
  // `max_tool_labels` caps distinct tool label values; later names fold into "other".
  explicit Metrics(std::size_t max_tool_labels = 100);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished client request: its JSON-RPC method ("" for non-MCP traffic), the tool of a
  // tools/call, its outcome, and how long it took.
  void recordRequest(std::string_view method, std::string_view tool, RequestOutcome outcome,
                     double seconds);
  // One upstream exchange and how it ended.
  void recordUpstreamAttempt(UpstreamAttemptResult result);
  // A retry about to be sent, by tool and the failure class that caused it.
  void recordRetry(std::string_view tool, policies::FailureClass reason);
  // A client-visible failure (the final outcome of a request was not success).
  void recordError(policies::FailureClass failure, std::string_view tool);
  void recordTimeout(policies::TimeoutKind kind);
  void recordBudgetExhausted();
  void recordConfigReload(ReloadResult result);
  // One error log record written, by its failure class.
  void recordLogRecord(policies::FailureClass failure);
  // A client hit a limit (limits: or security:), by its name (kLimitNames).
  void recordLimitRejection(std::string_view limit);
  void setActiveClientConnections(double value);
  void setUpstreamUp(bool up);
  void setActiveSessions(std::size_t sessions);
  // One re-initialization of a session the upstream lost.
  void recordSessionRecovery(SessionRecoveryResult result);
  void recordSessionForgotten(SessionForgotten reason);
  // Bytes the session directory keeps (ids, initialize bodies, per-session overhead).
  void setSessionBytes(std::size_t bytes);
  // Bytes buffered for clients and answers (the process's BufferBudget), set at each scrape.
  void setBufferedBytes(std::size_t bytes);
  // A request that failed at least once and was then answered well, by what saved it, and how
  // long after its first failure.
  void recordRecovery(RecoveredBy strategy, double seconds_since_first_failure);
  // A stdio upstream (zero for an HTTP one): children running, crash loop, child usable.
  void setStdioState(std::size_t children, bool crash_loop, bool child_up);
  void recordStdioRestart();
  void recordCacheRequest(CacheResult result);
  void recordFallback(std::string_view tool);
  // Circuit breakers by target ("upstream" or a tool name).
  void setCircuitState(std::string_view target, policies::CircuitState state);
  // `count` 0 creates the series without counting (so the family shows from the start).
  void recordCircuitTransition(std::string_view target, policies::CircuitState from,
                               policies::CircuitState to, double count = 1);
  // One of Bulwark's own tool listings (discovery or a caller-credential listing) and how it
  // ended; the number of tools the catalog knows.
  void recordToolDiscovery(ToolDiscoveryResult result);
  void setToolCatalogSize(std::size_t tools);
  // Shared state (proxy/shared/): Redis connected and ready, each command and its result, and
  // the requests forwarded to or taken over from another sidecar.
  void setSharedStateUp(bool up);
  void recordSharedStateOperation(SharedStateOp op, SharedStateResult result);
  void recordSessionForward(SessionForwardResult result);
  void recordSessionTakeover(SessionTakeoverResult result);
  // Tool label values beyond this many fold into "other" (monitoring.max_tool_labels).
  void setMaxToolLabels(std::size_t cap);
  // monitoring.alert_threshold, exported as bulwark_alert_threshold{name} so that the alerting
  // rules in deploy/prometheus compare against the configured values (set at start and reload).
  void setAlertThresholds(double error_rate, std::chrono::duration<double> recovery_time);
  // Runs before each scrape (time-driven state changes, e.g. breakers going half-open).
  void setBeforeScrape(std::function<void()> hook);

  // Prometheus text exposition format 0.0.4, with the process metrics read fresh.
  std::string serialize();

  // Bounded label values.
  std::string_view methodLabel(std::string_view method) const;
  std::string_view toolLabel(std::string_view tool);

private:
  std::unique_ptr<MetricFamilies> families_;
};

// The exported label strings of the closed sets (static storage), for tests and logs.
std::string_view requestOutcomeLabel(RequestOutcome outcome);
std::string_view upstreamAttemptResultLabel(UpstreamAttemptResult result);
std::string_view cacheResultLabel(CacheResult result);
std::string_view recoveredByLabel(RecoveredBy strategy);
std::string_view reloadResultLabel(ReloadResult result);
std::string_view sessionForgottenLabel(SessionForgotten reason);
std::string_view toolDiscoveryResultLabel(ToolDiscoveryResult result);

} // namespace bulwark
