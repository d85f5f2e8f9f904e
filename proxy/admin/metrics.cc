#include "proxy/admin/metrics.h"

#include "proxy/http/limit_report.h"

#include <array>
#include <chrono>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

namespace bulwark {
namespace {

using policies::FailureClass;

// The MCP methods of 2025-03-26 .. 2026-07-28, plus Bulwark's own "batch", "response" and
// "invalid"; then the folds: "none" (no JSON-RPC method), "other" and "notifications/other",
// so that a client cannot grow the label set.
constexpr std::array<std::string_view, 31> kMethodLabels = {
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "batch",
    "response",
    "invalid",
    "none",
    "other",
    "notifications/other",
};
constexpr std::size_t kKnownMethodCount = 28;
constexpr std::size_t kMethodNone = 28;
constexpr std::size_t kMethodOther = 29;
constexpr std::size_t kMethodOtherNotification = 30;

std::size_t methodIndex(std::string_view method) {
  if (method.empty()) {
    return kMethodNone;
  }
  for (std::size_t i = 0; i < kKnownMethodCount; ++i) {
    if (method == kMethodLabels[i]) {
      return i;
    }
  }
  return method.starts_with("notifications/") ? kMethodOtherNotification : kMethodOther;
}

// The closed label sets, in enum order.
constexpr std::array<std::string_view, 7> kUpstreamAttemptLabels = {"response",
                                                                    "abandoned",
                                                                    "connect_failed",
                                                                    "connect_timeout",
                                                                    "reset_before_response",
                                                                    "reset_during_response",
                                                                    "malformed_response"};
constexpr std::array<std::string_view, 3> kCacheResultLabels = {"hit", "miss", "stale"};
constexpr std::array<std::string_view, 4> kRecoveredByLabels = {"retry", "stale", "fallback",
                                                                "session"};
constexpr std::array<std::string_view, 2> kReloadResultLabels = {"success", "failure"};
constexpr std::array<std::string_view, 3> kSessionForgottenLabels = {"handshake_too_large",
                                                                     "memory", "idle"};
constexpr std::array<std::string_view, 6> kToolDiscoveryLabels = {
    "success", "refused", "failed", "malformed", "too_large", "endless"};
constexpr std::array<std::string_view, 12> kSharedStateOpLabels = {
    "handshake", "heartbeat",  "session_write", "session_read", "session_touch", "session_delete",
    "claim",     "cache_read", "cache_write",   "catalog_read", "catalog_write", "other"};
constexpr std::array<std::string_view, 4> kSharedStateResultLabels = {"ok", "error", "timeout",
                                                                      "unavailable"};
constexpr std::array<std::string_view, 4> kSessionForwardLabels = {"success", "owner_unreachable",
                                                                   "failed", "loop_refused"};
constexpr std::array<std::string_view, 3> kSessionTakeoverLabels = {"success", "lost", "failed"};
constexpr std::array<std::string_view, 2> kTimeoutKindLabels = {"per_try", "deadline"};
constexpr std::size_t kFailureClassCount = policies::kAllFailureClasses.size();

template <typename Enum> constexpr std::size_t indexOf(Enum value) {
  return static_cast<std::size_t>(value);
}

const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

// A counter family with its children looked up by label values without building a label map
// (Family::Add hashes a std::map under a mutex; this is a flat string key on one thread).
template <std::size_t N> class CounterFamily {
public:
  CounterFamily(prometheus::Family<prometheus::Counter>& family,
                std::array<std::string_view, N> label_names)
      : family_(family), label_names_(label_names) {}

  prometheus::Counter& with(std::array<std::string_view, N> values) {
    key_.clear();
    for (const std::string_view value : values) {
      key_.append(value);
      key_.push_back('\0');
    }
    if (const auto found = children_.find(key_); found != children_.end()) {
      return *found->second;
    }
    prometheus::Labels labels;
    for (std::size_t i = 0; i < N; ++i) {
      labels.emplace(std::string(label_names_[i]), std::string(values[i]));
    }
    prometheus::Counter& added = family_.Add(labels);
    children_.emplace(key_, &added);
    return added;
  }

private:
  prometheus::Family<prometheus::Counter>& family_;
  std::array<std::string_view, N> label_names_;
  std::unordered_map<std::string, prometheus::Counter*> children_;
  std::string key_;
};

// A one-label counter family over a closed set: children in an array indexed by the enum,
// created on first use (or up front with create(), so the series shows at zero).
template <std::size_t N> class ClosedCounterFamily {
public:
  ClosedCounterFamily(prometheus::Family<prometheus::Counter>& family, std::string_view label_name,
                      const std::array<std::string_view, N>& values)
      : family_(family), label_name_(label_name), values_(values) {}

  prometheus::Counter& at(std::size_t index) {
    prometheus::Counter*& child = children_[index];
    if (child == nullptr) {
      child = &family_.Add({{std::string(label_name_), std::string(values_[index])}});
    }
    return *child;
  }
  void createAll() {
    for (std::size_t i = 0; i < N; ++i) {
      at(i);
    }
  }

private:
  prometheus::Family<prometheus::Counter>& family_;
  std::string_view label_name_;
  const std::array<std::string_view, N>& values_;
  std::array<prometheus::Counter*, N> children_{};
};

// Tool names are hashed as views: looking one up builds no std::string.
struct ViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

// policies::failureClassName() in FailureClass order.
const std::array<std::string_view, kFailureClassCount>& failureClassLabels() {
  static const std::array<std::string_view, kFailureClassCount> labels = [] {
    std::array<std::string_view, kFailureClassCount> names{};
    for (const FailureClass failure : policies::kAllFailureClasses) {
      names[indexOf(failure)] = policies::failureClassName(failure);
    }
    return names;
  }();
  return labels;
}

} // namespace

std::string_view requestOutcomeLabel(RequestOutcome outcome) {
  if (outcome.isCancelled()) {
    return "cancelled";
  }
  return outcome.isSuccess() ? std::string_view("success")
                             : policies::failureClassName(outcome.failure());
}
std::string_view upstreamAttemptResultLabel(UpstreamAttemptResult result) {
  return kUpstreamAttemptLabels[indexOf(result)];
}
std::string_view cacheResultLabel(CacheResult result) {
  return kCacheResultLabels[indexOf(result)];
}
std::string_view recoveredByLabel(RecoveredBy strategy) {
  return kRecoveredByLabels[indexOf(strategy)];
}
std::string_view reloadResultLabel(ReloadResult result) {
  return kReloadResultLabels[indexOf(result)];
}
std::string_view sessionForgottenLabel(SessionForgotten reason) {
  return kSessionForgottenLabels[indexOf(reason)];
}

std::string_view toolDiscoveryResultLabel(ToolDiscoveryResult result) {
  return kToolDiscoveryLabels[indexOf(result)];
}

// Every family Bulwark exports, declared once.
class MetricFamilies {
public:
  explicit MetricFamilies(std::size_t max_tool_labels);

  std::string_view toolLabel(std::string_view tool);
  void updateProcessMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  CounterFamily<3> requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  ClosedCounterFamily<kUpstreamAttemptLabels.size()> upstream_attempts_;
  CounterFamily<2> retries_;
  CounterFamily<2> errors_;
  ClosedCounterFamily<kTimeoutKindLabels.size()> timeouts_;
  prometheus::Counter& budget_exhausted_;
  ClosedCounterFamily<kReloadResultLabels.size()> config_reloads_;
  ClosedCounterFamily<kFailureClassCount> log_records_;
  prometheus::Gauge& client_connections_;
  prometheus::Gauge& upstream_up_;
  prometheus::Gauge& sessions_active_;
  ClosedCounterFamily<kReloadResultLabels.size()> session_recoveries_;
  ClosedCounterFamily<kSessionForgottenLabels.size()> sessions_forgotten_;
  prometheus::Gauge& session_bytes_;
  prometheus::Gauge& buffered_bytes_;
  prometheus::Counter& stdio_restarts_;
  prometheus::Gauge& stdio_child_up_;
  prometheus::Gauge& stdio_children_;
  prometheus::Gauge& stdio_crash_loop_;
  ClosedCounterFamily<kRecoveredByLabels.size()> recoveries_;
  ClosedCounterFamily<kCacheResultLabels.size()> cache_requests_;
  CounterFamily<1> fallbacks_;
  CounterFamily<3> circuit_transitions_;
  CounterFamily<1> limit_rejections_;
  prometheus::Family<prometheus::Gauge>& circuit_state_;
  prometheus::Family<prometheus::Gauge>& alert_thresholds_;
  // Created by the first setAlertThresholds(): without them the rules use the seed defaults.
  prometheus::Gauge* alert_error_rate_ = nullptr;
  prometheus::Gauge* alert_recovery_time_ = nullptr;
  prometheus::Histogram& recovery_duration_;
  ClosedCounterFamily<kToolDiscoveryLabels.size()> tool_discoveries_;
  prometheus::Gauge& tool_catalog_tools_;
  prometheus::Gauge& shared_state_up_;
  CounterFamily<2> shared_state_operations_;
  ClosedCounterFamily<kSessionForwardLabels.size()> session_forwards_;
  ClosedCounterFamily<kSessionTakeoverLabels.size()> session_takeovers_;
  // Process metrics, read from /proc at scrape time.
  prometheus::Gauge& resident_memory_;
  prometheus::Gauge& virtual_memory_;
  prometheus::Counter& cpu_seconds_;
  prometheus::Gauge& open_fds_;
  prometheus::Gauge& max_fds_;
  prometheus::Gauge& start_time_;

  std::unordered_map<std::string, prometheus::Gauge*> circuit_gauges_;
  std::array<prometheus::Histogram*, kMethodLabels.size()> duration_histograms_{};
  std::unordered_set<std::string, ViewHash, std::equal_to<>> tool_labels_;
  std::size_t max_tool_labels_;
  std::function<void()> before_scrape_;
};

MetricFamilies::MetricFamilies(std::size_t max_tool_labels)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(counter(*registry_, "bulwark_requests_total",
                        "Client requests handled, by JSON-RPC method, tool and outcome "
                        "(success, cancelled or the failure class)."),
                {"method", "tool", "outcome"}),
      durations_(prometheus::BuildHistogram()
                     .Name("bulwark_request_duration_seconds")
                     .Help("Time from a client request's arrival to the end of its response, "
                           "all attempts included.")
                     .Register(*registry_)),
      upstream_attempts_(counter(*registry_, "bulwark_upstream_attempts_total",
                                 "Exchanges attempted with the upstream, by how they ended."),
                         "result", kUpstreamAttemptLabels),
      retries_(counter(*registry_, "bulwark_retries_total",
                       "Retries sent, by tool and the failure class that caused them."),
               {"tool", "reason"}),
      errors_(counter(*registry_, "bulwark_errors_total",
                      "Requests whose final outcome was a failure, by class and tool."),
              {"class", "tool"}),
      timeouts_(counter(*registry_, "bulwark_timeouts_total",
                        "Timeouts that fired, by kind (per_try or deadline)."),
                "kind", kTimeoutKindLabels),
      budget_exhausted_(counter(*registry_, "bulwark_retry_budget_exhausted_total",
                                "Retries every other rule allowed but the retry budget refused.")
                            .Add({})),
      config_reloads_(counter(*registry_, "bulwark_config_reloads_total",
                              "Configuration reloads, by result (success or failure)."),
                      "result", kReloadResultLabels),
      log_records_(counter(*registry_, "bulwark_log_records_total",
                           "Error log records written, by failure class."),
                   "class", failureClassLabels()),
      client_connections_(gauge(*registry_, "bulwark_client_connections",
                                "Open client connections on the data port.")),
      upstream_up_(gauge(*registry_, "bulwark_upstream_up",
                         "1 when the upstream accepted the last TCP probe, else 0.")),
      sessions_active_(gauge(*registry_, "bulwark_sessions_active",
                             "MCP sessions the upstream opened (Mcp-Session-Id on an "
                             "initialize answer) and that were not yet deleted or lost.")),
      session_recoveries_(counter(*registry_, "bulwark_session_recoveries_total",
                                  "Upstream sessions re-opened by replaying the client's "
                                  "initialize after the upstream lost them, by result."),
                          "result", kReloadResultLabels),
      sessions_forgotten_(counter(*registry_, "bulwark_sessions_forgotten_total",
                                  "Sessions whose initialize Bulwark no longer keeps (they "
                                  "cannot be recovered), by reason."),
                          "reason", kSessionForgottenLabels),
      session_bytes_(gauge(*registry_, "bulwark_session_bytes",
                           "Bytes the session directory keeps: ids and initialize bodies.")),
      buffered_bytes_(gauge(*registry_, "bulwark_buffered_bytes",
                            "Bytes buffered for clients and answers (held answers, request "
                            "bodies, bytes queued for clients), against "
                            "limits.max_buffered_bytes.")),
      stdio_restarts_(counter(*registry_, "bulwark_stdio_restarts_total",
                              "stdio children started again after one exited or crashed")
                          .Add({})),
      stdio_child_up_(gauge(*registry_, "bulwark_stdio_child_up",
                            "1 when the stdio server runs and is not in a crash loop, else 0 "
                            "(always 0 for an HTTP upstream)")),
      stdio_children_(gauge(*registry_, "bulwark_stdio_children",
                            "stdio child processes running (one per session, plus a spare)")),
      stdio_crash_loop_(gauge(*registry_, "bulwark_stdio_crash_loop",
                              "1 while the stdio server exits quickly again and again, else 0")),
      recoveries_(counter(*registry_, "bulwark_recoveries_total",
                          "Requests that failed at least once and were then answered well, by "
                          "the strategy that saved them."),
                  "strategy", kRecoveredByLabels),
      cache_requests_(counter(*registry_, "bulwark_cache_requests_total",
                              "Response cache lookups: hit (answered from the cache), miss, and "
                              "stale (served after a failure, within stale_if_error)."),
                      "result", kCacheResultLabels),
      fallbacks_(counter(*registry_, "bulwark_fallbacks_total",
                         "Configured fallback results served, by tool."),
                 {"tool"}),
      circuit_transitions_(counter(*registry_, "bulwark_circuit_transitions_total",
                                   "Circuit breaker state changes, by target (upstream or a "
                                   "tool) and states."),
                           {"target", "from", "to"}),
      limit_rejections_(counter(*registry_, "bulwark_limit_rejections_total",
                                "Clients that hit a limit (limits: and security: in the "
                                "configuration, or malformed HTTP), by limit."),
                        {"limit"}),
      circuit_state_(prometheus::BuildGauge()
                         .Name("bulwark_circuit_state")
                         .Help("Circuit breaker state by target: 0 closed, 1 half-open, 2 open.")
                         .Register(*registry_)),
      alert_thresholds_(prometheus::BuildGauge()
                            .Name("bulwark_alert_threshold")
                            .Help("The configured alerting thresholds (monitoring.alert_threshold) "
                                  "by name: error_rate (fraction of requests), recovery_time "
                                  "(seconds). deploy/prometheus's alerts compare against them.")
                            .Register(*registry_)),
      recovery_duration_(
          prometheus::BuildHistogram()
              .Name("bulwark_recovery_duration_seconds")
              .Help("Time to a recovered answer: from the request's arrival for a stale "
                    "or fallback answer, from its first failed attempt for a retry.")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3,
                                                               5, 10, 30})),
      tool_discoveries_(counter(*registry_, "bulwark_tool_discovery_total",
                                "Bulwark's own tools/list listings of the upstream (discovery, "
                                "and listings with a caller's credentials), by result."),
                        "result", kToolDiscoveryLabels),
      tool_catalog_tools_(gauge(*registry_, "bulwark_tool_catalog_tools",
                                "Tools whose annotations Bulwark knows (listed, discovered or "
                                "from a caller's listing).")),
      shared_state_up_(gauge(*registry_, "bulwark_shared_state_up",
                             "1 while the shared-state Redis is connected and ready.")),
      shared_state_operations_(counter(*registry_, "bulwark_shared_state_operations_total",
                                       "Redis commands of shared state, by operation and result."),
                               {"op", "result"}),
      session_forwards_(counter(*registry_, "bulwark_session_forwards_total",
                                "Requests sent to the sidecar that owns their session."),
                        "result", kSessionForwardLabels),
      session_takeovers_(counter(*registry_, "bulwark_session_takeovers_total",
                                 "Sessions of a dead sidecar taken over here, by result."),
                         "result", kSessionTakeoverLabels),
      resident_memory_(
          gauge(*registry_, "process_resident_memory_bytes", "Resident memory size in bytes.")),
      virtual_memory_(
          gauge(*registry_, "process_virtual_memory_bytes", "Virtual memory size in bytes.")),
      cpu_seconds_(counter(*registry_, "process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.")
                       .Add({})),
      open_fds_(gauge(*registry_, "process_open_fds", "Number of open file descriptors.")),
      max_fds_(gauge(*registry_, "process_max_fds", "Maximum number of open file descriptors.")),
      start_time_(gauge(*registry_, "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.")),
      max_tool_labels_(max_tool_labels) {
  prometheus::BuildGauge()
      .Name("bulwark_build_info")
      .Help("Always 1; the labels name the running build.")
      .Register(*registry_)
      .Add({{"version", BULWARK_VERSION}})
      .Set(1);
  // Families appear in the exposition only once a series exists: create the ones whose label
  // values are known in advance at zero, so dashboards and rate() see them from the start.
  timeouts_.createAll();
  config_reloads_.createAll();
  for (const FailureClass failure : policies::kAllFailureClasses) {
    if (failure == FailureClass::kNone) {
      continue;
    }
    log_records_.at(indexOf(failure));
    errors_.with({policies::failureClassName(failure), ""});
    retries_.with({"", policies::failureClassName(failure)});
  }
  upstream_attempts_.at(indexOf(UpstreamAttemptResult::kResponse));
  recoveries_.createAll();
  session_recoveries_.createAll();
  sessions_forgotten_.createAll();
  cache_requests_.createAll();
  tool_discoveries_.createAll();
  session_forwards_.createAll();
  session_takeovers_.createAll();
  for (const std::string_view result : kSharedStateResultLabels) {
    shared_state_operations_.with({"heartbeat", result});
  }
  fallbacks_.with({""});
  for (const std::string_view limit : kLimitNames) {
    limit_rejections_.with({limit});
  }
  start_time_.Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string_view MetricFamilies::toolLabel(std::string_view tool) {
  if (tool.empty()) {
    return {};
  }
  if (const auto found = tool_labels_.find(tool); found != tool_labels_.end()) {
    return *found;
  }
  if (tool_labels_.size() >= max_tool_labels_) {
    return "other";
  }
  return *tool_labels_.emplace(tool).first;
}

void MetricFamilies::updateProcessMetrics() {
  // /proc/self/stat fields 14-15 (utime, stime, in clock ticks), 23 (vsize), 24 (rss pages).
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto after_name = text.rfind(')'); // the command name may hold spaces
  if (after_name != std::string::npos) {
    std::istringstream fields(text.substr(after_name + 2));
    std::string field;
    double utime = 0, stime = 0, vsize = 0, rss = 0;
    for (int index = 3; fields >> field; ++index) {
      if (index == 14)
        utime = std::stod(field);
      if (index == 15)
        stime = std::stod(field);
      if (index == 23)
        vsize = std::stod(field);
      if (index == 24) {
        rss = std::stod(field);
        break;
      }
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu = (utime + stime) / ticks;
    if (cpu > cpu_seconds_.Value()) {
      cpu_seconds_.Increment(cpu - cpu_seconds_.Value());
    }
    virtual_memory_.Set(vsize);
    resident_memory_.Set(rss * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  if (DIR* fds = opendir("/proc/self/fd")) {
    double count = 0;
    while (const dirent* entry = readdir(fds)) {
      count += entry->d_name[0] != '.' ? 1 : 0;
    }
    closedir(fds);
    open_fds_.Set(count - 1); // not the descriptor opendir itself holds
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    max_fds_.Set(static_cast<double>(limit.rlim_cur));
  }
}

Metrics::Metrics(std::size_t max_tool_labels)
    : families_(std::make_unique<MetricFamilies>(max_tool_labels)) {}

Metrics::~Metrics() = default;

void Metrics::recordRequest(std::string_view method, std::string_view tool, RequestOutcome outcome,
                            double seconds) {
  MetricFamilies& f = *families_;
  const std::size_t method_index = methodIndex(method);
  const std::string_view method_label = kMethodLabels[method_index];
  f.requests_.with({method_label, f.toolLabel(tool), requestOutcomeLabel(outcome)}).Increment();
  prometheus::Histogram*& histogram = f.duration_histograms_[method_index];
  if (histogram == nullptr) {
    histogram = &f.durations_.Add({{"method", std::string(method_label)}}, kDurationBuckets);
  }
  histogram->Observe(seconds);
}

void Metrics::recordUpstreamAttempt(UpstreamAttemptResult result) {
  families_->upstream_attempts_.at(indexOf(result)).Increment();
}

void Metrics::recordRetry(std::string_view tool, FailureClass reason) {
  families_->retries_.with({families_->toolLabel(tool), policies::failureClassName(reason)})
      .Increment();
}

void Metrics::recordError(FailureClass failure, std::string_view tool) {
  families_->errors_.with({policies::failureClassName(failure), families_->toolLabel(tool)})
      .Increment();
}

void Metrics::recordTimeout(policies::TimeoutKind kind) {
  families_->timeouts_.at(indexOf(kind)).Increment();
}

void Metrics::recordBudgetExhausted() { families_->budget_exhausted_.Increment(); }

void Metrics::recordConfigReload(ReloadResult result) {
  families_->config_reloads_.at(indexOf(result)).Increment();
}

void Metrics::recordLogRecord(FailureClass failure) {
  families_->log_records_.at(indexOf(failure)).Increment();
}

void Metrics::recordLimitRejection(std::string_view limit) {
  families_->limit_rejections_.with({limit}).Increment();
}

void Metrics::setActiveClientConnections(double value) {
  families_->client_connections_.Set(value);
}

void Metrics::setUpstreamUp(bool up) { families_->upstream_up_.Set(up ? 1 : 0); }

void Metrics::setActiveSessions(std::size_t sessions) {
  families_->sessions_active_.Set(static_cast<double>(sessions));
}

void Metrics::recordSessionRecovery(SessionRecoveryResult result) {
  families_->session_recoveries_.at(indexOf(result)).Increment();
}

void Metrics::recordSessionForgotten(SessionForgotten reason) {
  families_->sessions_forgotten_.at(indexOf(reason)).Increment();
}

void Metrics::setSessionBytes(std::size_t bytes) {
  families_->session_bytes_.Set(static_cast<double>(bytes));
}

void Metrics::setBufferedBytes(std::size_t bytes) {
  families_->buffered_bytes_.Set(static_cast<double>(bytes));
}

void Metrics::recordRecovery(RecoveredBy strategy, double seconds_since_first_failure) {
  families_->recoveries_.at(indexOf(strategy)).Increment();
  families_->recovery_duration_.Observe(seconds_since_first_failure);
}

void Metrics::setStdioState(std::size_t children, bool crash_loop, bool child_up) {
  families_->stdio_children_.Set(static_cast<double>(children));
  families_->stdio_crash_loop_.Set(crash_loop ? 1 : 0);
  families_->stdio_child_up_.Set(child_up ? 1 : 0);
}

void Metrics::recordStdioRestart() { families_->stdio_restarts_.Increment(); }

void Metrics::recordCacheRequest(CacheResult result) {
  families_->cache_requests_.at(indexOf(result)).Increment();
}

void Metrics::recordFallback(std::string_view tool) {
  families_->fallbacks_.with({families_->toolLabel(tool)}).Increment();
}

void Metrics::setCircuitState(std::string_view target, policies::CircuitState state) {
  MetricFamilies& f = *families_;
  auto gauge = f.circuit_gauges_.find(std::string(target));
  if (gauge == f.circuit_gauges_.end()) {
    prometheus::Gauge& added = f.circuit_state_.Add({{"target", std::string(target)}});
    gauge = f.circuit_gauges_.emplace(std::string(target), &added).first;
  }
  gauge->second->Set(policies::circuitStateGaugeValue(state));
}

void Metrics::recordCircuitTransition(std::string_view target, policies::CircuitState from,
                                      policies::CircuitState to, double count) {
  families_->circuit_transitions_
      .with({target, policies::circuitStateName(from), policies::circuitStateName(to)})
      .Increment(count);
}

void Metrics::recordToolDiscovery(ToolDiscoveryResult result) {
  families_->tool_discoveries_.at(indexOf(result)).Increment();
}

void Metrics::setToolCatalogSize(std::size_t tools) {
  families_->tool_catalog_tools_.Set(static_cast<double>(tools));
}

void Metrics::setSharedStateUp(bool up) { families_->shared_state_up_.Set(up ? 1 : 0); }

void Metrics::recordSharedStateOperation(SharedStateOp op, SharedStateResult result) {
  families_->shared_state_operations_
      .with({kSharedStateOpLabels[indexOf(op)], kSharedStateResultLabels[indexOf(result)]})
      .Increment();
}

void Metrics::recordSessionForward(SessionForwardResult result) {
  families_->session_forwards_.at(indexOf(result)).Increment();
}

void Metrics::recordSessionTakeover(SessionTakeoverResult result) {
  families_->session_takeovers_.at(indexOf(result)).Increment();
}

void Metrics::setMaxToolLabels(std::size_t cap) { families_->max_tool_labels_ = cap; }

void Metrics::setAlertThresholds(double error_rate, std::chrono::duration<double> recovery_time) {
  MetricFamilies& f = *families_;
  if (f.alert_error_rate_ == nullptr) {
    f.alert_error_rate_ = &f.alert_thresholds_.Add({{"name", "error_rate"}});
    f.alert_recovery_time_ = &f.alert_thresholds_.Add({{"name", "recovery_time"}});
  }
  f.alert_error_rate_->Set(error_rate);
  f.alert_recovery_time_->Set(recovery_time.count());
}

void Metrics::setBeforeScrape(std::function<void()> hook) {
  families_->before_scrape_ = std::move(hook);
}

std::string_view Metrics::methodLabel(std::string_view method) const {
  return kMethodLabels[methodIndex(method)];
}

std::string_view Metrics::toolLabel(std::string_view tool) { return families_->toolLabel(tool); }

std::string Metrics::serialize() {
  if (families_->before_scrape_) {
    families_->before_scrape_();
  }
  families_->updateProcessMetrics();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families_->registry_->Collect());
  return out.str();
}

} // namespace bulwark
