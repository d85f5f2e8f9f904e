// Bulwark's configuration: YAML turned into plain, validated structs made of policies/ parameter
// types. Loading never throws: it returns either a Config or every error found, each naming file,
// line, column and key path. yaml-cpp stays inside config/.
#pragma once

#include "policies/backoff.h"
#include "policies/duration.h"
#include "policies/policy.h"
#include "policies/policy_table.h"
#include "policies/recovery.h"
#include "policies/response_cache.h"
#include "policies/retry_budget.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark::config {

using policies::Duration;

// How a stdio child that exits is restarted (upstream.restart).
struct StdioRestartConfig {
  policies::BackoffParams backoff{std::chrono::milliseconds(100), 2.0, std::chrono::seconds(5)};
  int max_restarts = 5;                           // quick exits in a row before a crash loop
  Duration stable_after{std::chrono::seconds(10)}; // uptime that resets the count
};

struct UpstreamConfig {
  // "http://host:port/path". Optional here: `bulwark --upstream URL` may supply it; the caller
  // decides whether a missing URL is an error.
  std::optional<std::string> url;
  Duration connect_timeout{std::chrono::seconds(1)};
  // A stdio MCP server to spawn instead (argv; `bulwark -- CMD...`). Exclusive with url; the
  // keys below apply only to it.
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env; // added to Bulwark's environment
  std::string cwd;                                       // empty: Bulwark's own
  StdioRestartConfig restart;
  Duration stop_timeout{std::chrono::seconds(2)}; // stdin closed -> SIGTERM -> SIGKILL, each
  Duration session_idle_timeout{std::chrono::minutes(30)};
  std::size_t max_sessions = 100; // one child each
};

// The seed's `monitoring` block; thresholds for alerting, stored for the proxy and deploy/.
struct MonitoringConfig {
  bool log_errors = true;
  bool access_log = false;          // one JSON line per request, not only per error
  std::size_t max_tool_labels = 100; // distinct tool label values; more fold into "other"
  double alert_error_rate = 0.05; // fraction of requests, 0..1
  Duration alert_recovery_time{std::chrono::seconds(5)};
};

struct Config {
  std::string source = "<defaults>";     // the file (or name) it was loaded from
  std::string listen = "127.0.0.1:8080"; // data port, host:port (IPv6 as [::1]:8080)
  std::string admin = "127.0.0.1:9090";  // /metrics /healthz /readyz
  UpstreamConfig upstream;
  // defaults (seed's error_handling folded in), methods and tools, validated.
  policies::PolicySet policies;
  // One budget for the upstream (defaults.retry.budget); tools and methods cannot override it.
  policies::RetryBudgetParams retry_budget;
  // Recovery order per failure class (defaults.recovery); global, like the budget.
  policies::RecoveryPlan recovery;
  // The response cache's byte budget (top-level cache.max_bytes); 0 turns the cache off.
  std::size_t cache_max_bytes = policies::ResponseCache::kDefaultMaxBytes;
  // Seed: error_handling.fallback_enabled. Configured fallbacks are used unless this is false.
  bool fallback_enabled = true;
  MonitoringConfig monitoring;
};

struct ConfigError {
  std::string file;
  int line = 0;         // 1-based; 0 when the error is about the whole file (cannot read it)
  int column = 0;       // 1-based; 0 with line 0
  std::string key_path; // "tools[0].retry.backoff.base"; empty for syntax and file errors
  std::string message;

  // "bulwark.yaml:12:7: tools[0].retry.backoff.base: invalid duration "5 sec" (use e.g. 250ms,
  // 30s, 5m)"
  std::string toString() const;
};

struct ConfigLoadResult {
  std::optional<Config> config;    // set exactly when errors is empty
  std::vector<ConfigError> errors; // every error found, sorted by line and column

  bool ok() const { return config.has_value(); }
  // One toString() line per error, each ending in '\n'.
  std::string errorText() const;
};

// Reads and validates a YAML file. Never throws.
ConfigLoadResult loadConfigFile(const std::string& path) noexcept;
// Validates YAML text; `file_name` is used in error messages and Config::source. Never throws.
ConfigLoadResult loadConfigString(std::string_view yaml, std::string_view file_name) noexcept;

// The immutable resolver the proxy consults per request: policyFor(method, tool).
inline policies::PolicyTable buildPolicyTable(const Config& config) {
  return policies::PolicyTable(config.policies);
}

// A human-readable summary: addresses, upstream, budget, then every resolved policy (for
// `--check-config` and the startup log).
std::string describeConfig(const Config& config);

} // namespace bulwark::config
