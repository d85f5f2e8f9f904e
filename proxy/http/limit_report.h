// One place that reports a client hitting a limit (limits: or security:): a count in
// bulwark_limit_rejections_total{limit} and one JSON log line. Never given header values or the
// request target, which may carry credentials.
#pragma once

#include <array>
#include <string_view>

namespace bulwark {

class Metrics;

// Every value of bulwark_limit_rejections_total's `limit` label (series exist from the start).
inline constexpr std::array<std::string_view, 14> kLimitNames = {
    "header_bytes",  "headers",        "body_bytes",   "connections",
    "requests_per_connection", "streams_per_session", "header_timeout", "body_timeout",
    "idle_timeout",  "malformed_http", "origin",       "host",
    "send_timeout",  "memory"};

struct LimitHit {
  std::string_view listener;  // "data" or "admin"
  std::string_view limit;     // the metric's label value, e.g. "header_timeout"
  int status = 0;             // the HTTP status answered; 0 when none was
  std::string_view detail;    // what was over, in words and numbers
  std::string_view peer;      // "address:port" of the client
};

// `metrics` may be null (component tests): then only the log line is written.
void reportLimitHit(Metrics* metrics, const LimitHit& hit);

}  // namespace bulwark
