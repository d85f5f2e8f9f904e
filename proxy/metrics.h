// Bulwark's Prometheus metrics: one registry, families declared once here, label values
// bounded. Serialized on the loop thread for the admin endpoint.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace bulwark {

class Metrics {
public:
  // `max_tool_labels` caps distinct tool label values; later names fold into "other".
  explicit Metrics(std::size_t max_tool_labels = 100);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished client request: its JSON-RPC method (or "" for non-MCP traffic), the tool of
  // a tools/call, the outcome ("success" or a failure class), and how long it took.
  void recordRequest(std::string_view method, std::string_view tool, std::string_view outcome,
                     double seconds);
  void recordUpstreamAttempt(std::string_view result);
  void setActiveClientConnections(double value) { client_connections_->Set(value); }

  // Prometheus text exposition format 0.0.4.
  std::string serialize() const;

  // Bounded label values, exposed for the logger and tests.
  std::string_view methodLabel(std::string_view method) const;
  std::string_view toolLabel(std::string_view tool);

private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& upstream_attempts_;
  prometheus::Gauge* client_connections_;
  // Family::Add hashes a label map under a mutex; the hot path looks counters up here instead.
  std::unordered_map<std::string, prometheus::Counter*> request_counters_;
  std::unordered_map<std::string, prometheus::Histogram*> duration_histograms_;
  std::unordered_map<std::string, prometheus::Counter*> attempt_counters_;
  std::unordered_set<std::string> tool_labels_;
  std::size_t max_tool_labels_;
  std::string key_;
};

}  // namespace bulwark
