#include "proxy/admin/metrics.h"

#include "proxy/http/limit_report.h"

#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace bulwark {
namespace {

// The MCP methods of 2025-03-26 .. 2026-07-28, plus Bulwark's own "batch", "response" and
// "invalid"; anything else is "other" so that a client cannot grow the label set.
constexpr std::array<std::string_view, 28> kKnownMethods = {
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
};

const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry,
                                                 const std::string& name,
                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

}  // namespace

template <std::size_t N>
prometheus::Counter& CounterFamily<N>::with(std::array<std::string_view, N> values) {
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

template class CounterFamily<1>;
template class CounterFamily<2>;
template class CounterFamily<3>;

Metrics::Metrics(std::size_t max_tool_labels)
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
                         {"result"}),
      retries_(counter(*registry_, "bulwark_retries_total",
                       "Retries sent, by tool and the failure class that caused them."),
               {"tool", "reason"}),
      errors_(counter(*registry_, "bulwark_errors_total",
                      "Requests whose final outcome was a failure, by class and tool."),
              {"class", "tool"}),
      timeouts_(counter(*registry_, "bulwark_timeouts_total",
                        "Timeouts that fired, by kind (per_try or deadline)."),
                {"kind"}),
      budget_exhausted_(&counter(*registry_, "bulwark_retry_budget_exhausted_total",
                                 "Retries every other rule allowed but the retry budget refused.")
                             .Add({})),
      config_reloads_(counter(*registry_, "bulwark_config_reloads_total",
                              "Configuration reloads, by result (success or failure)."),
                      {"result"}),
      log_records_(counter(*registry_, "bulwark_log_records_total",
                           "Error log records written, by failure class."),
                   {"class"}),
      client_connections_(&prometheus::BuildGauge()
                               .Name("bulwark_client_connections")
                               .Help("Open client connections on the data port.")
                               .Register(*registry_)
                               .Add({})),
      upstream_up_(&prometheus::BuildGauge()
                        .Name("bulwark_upstream_up")
                        .Help("1 when the upstream accepted the last TCP probe, else 0.")
                        .Register(*registry_)
                        .Add({})),
      sessions_active_(&prometheus::BuildGauge()
                            .Name("bulwark_sessions_active")
                            .Help("MCP sessions the upstream opened (Mcp-Session-Id on an "
                                  "initialize answer) and that were not yet deleted or lost.")
                            .Register(*registry_)
                            .Add({})),
      session_recoveries_(counter(*registry_, "bulwark_session_recoveries_total",
                                  "Upstream sessions re-opened by replaying the client's "
                                  "initialize after the upstream lost them, by result."),
                          {"result"}),
      sessions_forgotten_(counter(*registry_, "bulwark_sessions_forgotten_total",
                                  "Sessions whose initialize Bulwark no longer keeps (they "
                                  "cannot be recovered), by reason."),
                          {"reason"}),
      session_bytes_(&prometheus::BuildGauge()
                          .Name("bulwark_session_bytes")
                          .Help("Bytes the session directory keeps: ids and initialize bodies.")
                          .Register(*registry_)
                          .Add({})),
      stdio_restarts_(&prometheus::BuildCounter()
                           .Name("bulwark_stdio_restarts_total")
                           .Help("stdio children started again after one exited or crashed")
                           .Register(*registry_)
                           .Add({})),
      stdio_child_up_(&prometheus::BuildGauge()
                           .Name("bulwark_stdio_child_up")
                           .Help("1 when the stdio server runs and is not in a crash loop, else 0 "
                                 "(always 0 for an HTTP upstream)")
                           .Register(*registry_)
                           .Add({})),
      stdio_children_(&prometheus::BuildGauge()
                           .Name("bulwark_stdio_children")
                           .Help("stdio child processes running (one per session, plus a spare)")
                           .Register(*registry_)
                           .Add({})),
      stdio_crash_loop_(&prometheus::BuildGauge()
                             .Name("bulwark_stdio_crash_loop")
                             .Help("1 while the stdio server exits quickly again and again, else 0")
                             .Register(*registry_)
                             .Add({})),
      recoveries_(counter(*registry_, "bulwark_recoveries_total",
                          "Requests that failed at least once and were then answered well, by "
                          "the strategy that saved them."),
                  {"strategy"}),
      cache_requests_(counter(*registry_, "bulwark_cache_requests_total",
                              "Response cache lookups: hit (answered from the cache), miss, and "
                              "stale (served after a failure, within stale_if_error)."),
                      {"result"}),
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
      recovery_duration_(&prometheus::BuildHistogram()
                              .Name("bulwark_recovery_duration_seconds")
                              .Help("Time from a request's first failed attempt to its "
                                    "recovered answer.")
                              .Register(*registry_)
                              .Add({}, prometheus::Histogram::BucketBoundaries{
                                           0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30})),
      resident_memory_(&prometheus::BuildGauge()
                            .Name("process_resident_memory_bytes")
                            .Help("Resident memory size in bytes.")
                            .Register(*registry_)
                            .Add({})),
      virtual_memory_(&prometheus::BuildGauge()
                           .Name("process_virtual_memory_bytes")
                           .Help("Virtual memory size in bytes.")
                           .Register(*registry_)
                           .Add({})),
      cpu_seconds_(&counter(*registry_, "process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.")
                        .Add({})),
      open_fds_(&prometheus::BuildGauge()
                     .Name("process_open_fds")
                     .Help("Number of open file descriptors.")
                     .Register(*registry_)
                     .Add({})),
      max_fds_(&prometheus::BuildGauge()
                    .Name("process_max_fds")
                    .Help("Maximum number of open file descriptors.")
                    .Register(*registry_)
                    .Add({})),
      start_time_(&prometheus::BuildGauge()
                       .Name("process_start_time_seconds")
                       .Help("Start time of the process since unix epoch in seconds.")
                       .Register(*registry_)
                       .Add({})),
      max_tool_labels_(max_tool_labels) {
  prometheus::BuildGauge()
      .Name("bulwark_build_info")
      .Help("Always 1; the labels name the running build.")
      .Register(*registry_)
      .Add({{"version", BULWARK_VERSION}})
      .Set(1);
  // Families appear in the exposition only once a series exists: create the ones whose label
  // values are known in advance at zero, so dashboards and rate() see them from the start.
  for (const std::string_view kind : {"per_try", "deadline"}) {
    timeouts_.with({kind});
  }
  for (const std::string_view result : {"success", "failure"}) {
    config_reloads_.with({result});
  }
  for (const std::string_view failure :
       {"invalid_input", "upstream", "timeout", "overload", "resource", "permission",
        "tool_error", "session_lost", "protocol"}) {
    log_records_.with({failure});
    errors_.with({failure, ""});
    retries_.with({"", failure});
  }
  upstream_attempts_.with({"response"});
  for (const std::string_view strategy : {"retry", "stale", "fallback", "session"}) {
    recoveries_.with({strategy});
  }
  session_recoveries_.with({"success"});
  session_recoveries_.with({"failure"});
  for (const std::string_view reason : {"handshake_too_large", "memory", "idle"}) {
    sessions_forgotten_.with({reason});
  }
  for (const std::string_view result : {"hit", "miss", "stale"}) {
    cache_requests_.with({result});
  }
  fallbacks_.with({""});
  for (const std::string_view limit : kLimitNames) {
    limit_rejections_.with({limit});
  }
  start_time_->Set(std::chrono::duration<double>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
}

void Metrics::recordRecovery(std::string_view strategy, double seconds_since_first_failure) {
  recoveries_.with({strategy}).Increment();
  recovery_duration_->Observe(seconds_since_first_failure);
}

void Metrics::updateProcessMetrics() {
  // /proc/self/stat fields 14-15 (utime, stime, in clock ticks), 23 (vsize), 24 (rss pages).
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto after_name = text.rfind(')');  // the command name may hold spaces
  if (after_name != std::string::npos) {
    std::istringstream fields(text.substr(after_name + 2));
    std::string field;
    double utime = 0, stime = 0, vsize = 0, rss = 0;
    for (int index = 3; fields >> field; ++index) {
      if (index == 14) utime = std::stod(field);
      if (index == 15) stime = std::stod(field);
      if (index == 23) vsize = std::stod(field);
      if (index == 24) {
        rss = std::stod(field);
        break;
      }
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu = (utime + stime) / ticks;
    if (cpu > cpu_seconds_->Value()) {
      cpu_seconds_->Increment(cpu - cpu_seconds_->Value());
    }
    virtual_memory_->Set(vsize);
    resident_memory_->Set(rss * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  if (DIR* fds = opendir("/proc/self/fd")) {
    double count = 0;
    while (const dirent* entry = readdir(fds)) {
      count += entry->d_name[0] != '.' ? 1 : 0;
    }
    closedir(fds);
    open_fds_->Set(count - 1);  // not the descriptor opendir itself holds
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    max_fds_->Set(static_cast<double>(limit.rlim_cur));
  }
}

std::string_view Metrics::methodLabel(std::string_view method) const {
  if (method.empty()) {
    return "none";
  }
  for (const std::string_view known : kKnownMethods) {
    if (method == known) {
      return known;
    }
  }
  return method.starts_with("notifications/") ? "notifications/other" : "other";
}

std::string_view Metrics::toolLabel(std::string_view tool) {
  if (tool.empty()) {
    return {};
  }
  if (const auto found = tool_labels_.find(std::string(tool)); found != tool_labels_.end()) {
    return *found;
  }
  if (tool_labels_.size() >= max_tool_labels_) {
    return "other";
  }
  return *tool_labels_.emplace(tool).first;
}

void Metrics::recordRequest(std::string_view method, std::string_view tool,
                            std::string_view outcome, double seconds) {
  const std::string_view method_label = methodLabel(method);
  requests_.with({method_label, toolLabel(tool), outcome}).Increment();
  auto histogram = duration_histograms_.find(std::string(method_label));
  if (histogram == duration_histograms_.end()) {
    prometheus::Histogram& added =
        durations_.Add({{"method", std::string(method_label)}}, kDurationBuckets);
    histogram = duration_histograms_.emplace(std::string(method_label), &added).first;
  }
  histogram->second->Observe(seconds);
}

void Metrics::recordRetry(std::string_view tool, std::string_view failure_class) {
  retries_.with({toolLabel(tool), failure_class}).Increment();
}

void Metrics::recordError(std::string_view failure_class, std::string_view tool) {
  errors_.with({failure_class, toolLabel(tool)}).Increment();
}

void Metrics::setCircuitState(std::string_view target, int state) {
  auto gauge = circuit_gauges_.find(std::string(target));
  if (gauge == circuit_gauges_.end()) {
    prometheus::Gauge& added = circuit_state_.Add({{"target", std::string(target)}});
    gauge = circuit_gauges_.emplace(std::string(target), &added).first;
  }
  gauge->second->Set(state);
}

std::string Metrics::serialize() {
  if (before_scrape_) {
    before_scrape_();
  }
  updateProcessMetrics();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace bulwark
