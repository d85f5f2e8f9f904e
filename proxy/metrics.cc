#include "proxy/metrics.h"

#include <prometheus/text_serializer.h>

#include <array>
#include <sstream>

namespace bulwark {
namespace {

// The MCP methods of 2025-03-26 .. 2026-07-28; anything else is "other" so that a client
// cannot grow the label set.
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

}  // namespace

Metrics::Metrics(std::size_t max_tool_labels)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("bulwark_requests_total")
                    .Help("Client requests handled, by JSON-RPC method, tool and outcome "
                          "(success or the failure class).")
                    .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("bulwark_request_duration_seconds")
                     .Help("Time from a client request's arrival to the end of its response, "
                           "all attempts included.")
                     .Register(*registry_)),
      upstream_attempts_(prometheus::BuildCounter()
                             .Name("bulwark_upstream_attempts_total")
                             .Help("Exchanges attempted with the upstream, by result.")
                             .Register(*registry_)),
      client_connections_(&prometheus::BuildGauge()
                               .Name("bulwark_client_connections")
                               .Help("Open client connections on the data port.")
                               .Register(*registry_)
                               .Add({})),
      max_tool_labels_(max_tool_labels) {}

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
  const std::string_view tool_label = toolLabel(tool);
  key_.assign(method_label);
  key_.push_back('\0');
  key_.append(tool_label);
  key_.push_back('\0');
  key_.append(outcome);
  auto counter = request_counters_.find(key_);
  if (counter == request_counters_.end()) {
    prometheus::Counter& added = requests_.Add({{"method", std::string(method_label)},
                                                {"tool", std::string(tool_label)},
                                                {"outcome", std::string(outcome)}});
    counter = request_counters_.emplace(key_, &added).first;
  }
  counter->second->Increment();

  auto histogram = duration_histograms_.find(std::string(method_label));
  if (histogram == duration_histograms_.end()) {
    prometheus::Histogram& added =
        durations_.Add({{"method", std::string(method_label)}}, kDurationBuckets);
    histogram = duration_histograms_.emplace(std::string(method_label), &added).first;
  }
  histogram->second->Observe(seconds);
}

void Metrics::recordUpstreamAttempt(std::string_view result) {
  auto counter = attempt_counters_.find(std::string(result));
  if (counter == attempt_counters_.end()) {
    prometheus::Counter& added = upstream_attempts_.Add({{"result", std::string(result)}});
    counter = attempt_counters_.emplace(std::string(result), &added).first;
  }
  counter->second->Increment();
}

std::string Metrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace bulwark
