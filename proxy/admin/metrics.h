// Bulwark's Prometheus metrics: one registry, every family declared here once, label values
// bounded. Serialized on the loop thread for the admin endpoint.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bulwark {

// A counter family with its children looked up by label values without building a label map
// (Family::Add hashes a std::map under a mutex; this is a flat string key on one thread).
template <std::size_t N>
class CounterFamily {
public:
  CounterFamily(prometheus::Family<prometheus::Counter>& family,
                std::array<std::string_view, N> label_names)
      : family_(family), label_names_(label_names) {}

  prometheus::Counter& with(std::array<std::string_view, N> values);

private:
  prometheus::Family<prometheus::Counter>& family_;
  std::array<std::string_view, N> label_names_;
  std::unordered_map<std::string, prometheus::Counter*> children_;
  std::string key_;
};

class Metrics {
public:
  // `max_tool_labels` caps distinct tool label values; later names fold into "other".
  explicit Metrics(std::size_t max_tool_labels = 100);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished client request: its JSON-RPC method ("" for non-MCP traffic), the tool of a
  // tools/call, the outcome ("success", "cancelled" or a failure class), and how long it took.
  void recordRequest(std::string_view method, std::string_view tool, std::string_view outcome,
                     double seconds);
  // One upstream exchange and how it ended ("response" or a transport failure kind).
  void recordUpstreamAttempt(std::string_view result) { upstream_attempts_.with({result}).Increment(); }
  // A retry about to be sent, by tool and the failure class that caused it.
  void recordRetry(std::string_view tool, std::string_view failure_class);
  // A client-visible failure (the final outcome of a request was not success).
  void recordError(std::string_view failure_class, std::string_view tool);
  void recordTimeout(std::string_view kind) { timeouts_.with({kind}).Increment(); }
  void recordBudgetExhausted() { budget_exhausted_->Increment(); }
  void recordConfigReload(bool ok) { config_reloads_.with({ok ? "success" : "failure"}).Increment(); }
  void recordLogRecord(std::string_view failure_class) { log_records_.with({failure_class}).Increment(); }
  // A client hit a limit (limits: or security:), by its name (kLimitNames).
  void recordLimitRejection(std::string_view limit) { limit_rejections_.with({limit}).Increment(); }
  void setActiveClientConnections(double value) { client_connections_->Set(value); }
  void setUpstreamUp(bool up) { upstream_up_->Set(up ? 1 : 0); }
  void setActiveSessions(std::size_t sessions) { sessions_active_->Set(static_cast<double>(sessions)); }
  // One re-initialization of a session the upstream lost: "success" or "failure".
  void recordSessionRecovery(bool ok) {
    session_recoveries_.with({ok ? "success" : "failure"}).Increment();
  }
  // A session whose initialize Bulwark does not keep (it cannot be recovered), by why:
  // "handshake_too_large", "memory" (the least recently used, past the total) or "idle".
  void recordSessionForgotten(std::string_view reason) {
    sessions_forgotten_.with({reason}).Increment();
  }
  // Bytes the session directory keeps (ids, initialize bodies, per-session overhead).
  void setSessionBytes(std::size_t bytes) { session_bytes_->Set(static_cast<double>(bytes)); }
  // A request that failed at least once and was then answered well, by the strategy that saved
  // it ("retry", "stale", "fallback", "session"), and how long after its first failure.
  void recordRecovery(std::string_view strategy, double seconds_since_first_failure);
  // A stdio upstream (zero for an HTTP one): children running, crash loop, child usable.
  void setStdioState(std::size_t children, bool crash_loop, bool child_up) {
    stdio_children_->Set(static_cast<double>(children));
    stdio_crash_loop_->Set(crash_loop ? 1 : 0);
    stdio_child_up_->Set(child_up ? 1 : 0);
  }
  void recordStdioRestart() { stdio_restarts_->Increment(); }
  // The response cache: "hit" (answered from it), "miss", "stale" (served after a failure).
  void recordCacheRequest(std::string_view result) { cache_requests_.with({result}).Increment(); }
  void recordFallback(std::string_view tool) { fallbacks_.with({toolLabel(tool)}).Increment(); }
  // Circuit breakers: state 0 closed, 1 half-open, 2 open (policies::circuitStateGaugeValue).
  void setCircuitState(std::string_view target, int state);
  void recordCircuitTransition(std::string_view target, std::string_view from,
                               std::string_view to, double count = 1) {
    circuit_transitions_.with({target, from, to}).Increment(count);
  }
  // Tool label values beyond this many fold into "other" (monitoring.max_tool_labels).
  void setMaxToolLabels(std::size_t cap) { max_tool_labels_ = cap; }
  // Runs before each scrape (time-driven state changes, e.g. breakers going half-open).
  void setBeforeScrape(std::function<void()> hook) { before_scrape_ = std::move(hook); }

  // For components that declare their own families (the stdio bridge).

  // Prometheus text exposition format 0.0.4, with the process metrics read fresh.
  std::string serialize();

  // Bounded label values.
  std::string_view methodLabel(std::string_view method) const;
  std::string_view toolLabel(std::string_view tool);

private:
  std::shared_ptr<prometheus::Registry> registry_;
  CounterFamily<3> requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  CounterFamily<1> upstream_attempts_;
  CounterFamily<2> retries_;
  CounterFamily<2> errors_;
  CounterFamily<1> timeouts_;
  prometheus::Counter* budget_exhausted_;
  CounterFamily<1> config_reloads_;
  CounterFamily<1> log_records_;
  prometheus::Gauge* client_connections_;
  prometheus::Gauge* upstream_up_;
  prometheus::Gauge* sessions_active_;
  CounterFamily<1> session_recoveries_;
  CounterFamily<1> sessions_forgotten_;
  prometheus::Gauge* session_bytes_;
  prometheus::Counter* stdio_restarts_;
  prometheus::Gauge* stdio_child_up_;
  prometheus::Gauge* stdio_children_;
  prometheus::Gauge* stdio_crash_loop_;
  CounterFamily<1> recoveries_;
  CounterFamily<1> cache_requests_;
  CounterFamily<1> fallbacks_;
  CounterFamily<3> circuit_transitions_;
  CounterFamily<1> limit_rejections_;
  prometheus::Family<prometheus::Gauge>& circuit_state_;
  std::unordered_map<std::string, prometheus::Gauge*> circuit_gauges_;
  std::function<void()> before_scrape_;
  prometheus::Histogram* recovery_duration_;
  // Process metrics, read from /proc at scrape time.
  prometheus::Gauge* resident_memory_;
  prometheus::Gauge* virtual_memory_;
  prometheus::Counter* cpu_seconds_;
  prometheus::Gauge* open_fds_;
  prometheus::Gauge* max_fds_;
  prometheus::Gauge* start_time_;
  void updateProcessMetrics();
  std::unordered_map<std::string, prometheus::Histogram*> duration_histograms_;
  std::unordered_set<std::string> tool_labels_;
  std::size_t max_tool_labels_;
};

}  // namespace bulwark
