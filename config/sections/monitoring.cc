// `monitoring`: the FastMCP-style block (log_errors, alert_threshold) plus Bulwark's own log and
// metric label settings.
#include "config/sections/sections.h"

#include <array>

namespace bulwark::config {
namespace {

constexpr auto kThresholdKeys = std::to_array<Key<MonitoringConfig>>({
    {"error_rate", ValueKind::kNumber,
     Range{0, 1, false, "must be a fraction between 0 and 1 (0.05 = 5%)",
           "must be a fraction between 0 and 1 (0.05 = 5%)"},
     [](MonitoringConfig& c, const Value& v) { c.alert_error_rate = v.number; }, nullptr,
     [] { return showNumber(MonitoringConfig{}.alert_error_rate); }},
    {"recovery_time", ValueKind::kSecondsOrDuration, Range{},
     [](MonitoringConfig& c, const Value& v) { c.alert_recovery_time = v.duration; }, nullptr,
     [] { return policies::formatDuration(MonitoringConfig{}.alert_recovery_time); }},
});

constexpr auto kMonitoringKeys = std::to_array<Key<MonitoringConfig>>({
    {"log_errors", ValueKind::kBool, Range{},
     [](MonitoringConfig& c, const Value& v) { c.log_errors = v.flag; }, nullptr,
     [] { return showBool(MonitoringConfig{}.log_errors); }},
    {"access_log", ValueKind::kBool, Range{},
     [](MonitoringConfig& c, const Value& v) { c.access_log = v.flag; }, nullptr,
     [] { return showBool(MonitoringConfig{}.access_log); }},
    {"max_tool_labels", ValueKind::kWhole, between(0, 10000),
     [](MonitoringConfig& c, const Value& v) {
       c.max_tool_labels = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return std::to_string(MonitoringConfig{}.max_tool_labels); }},
    {"alert_threshold", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, MonitoringConfig& c) {
       readKeys<MonitoringConfig>(reader, f, kThresholdKeys, c);
     }},
});

} // namespace

void readMonitoring(Reader& reader, const Field& f, MonitoringConfig& out) {
  readKeys<MonitoringConfig>(reader, f, kMonitoringKeys, out);
}

void appendMonitoringKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<MonitoringConfig>(out, "monitoring.", kMonitoringKeys);
  appendKeyInfo<MonitoringConfig>(out, "monitoring.alert_threshold.", kThresholdKeys);
}

} // namespace bulwark::config
