// Bulwark's configuration: YAML turned into plain, validated structs made of policies/ parameter
// types. Loading never throws: it returns either a Config or every error found, each naming file,
// line, column and key path. yaml-cpp stays inside config/.
#pragma once

#include "config/address.h"
#include "policies/backoff.h"
#include "policies/duration.h"
#include "policies/policy.h"
#include "policies/policy_table.h"
#include "policies/recovery.h"
#include "policies/response_cache.h"
#include "policies/restart_wait.h"
#include "policies/retry_budget.h"
#include "policies/tool_knowledge.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
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
  int max_restarts = 5;                            // quick exits in a row before a crash loop
  Duration stable_after{std::chrono::seconds(10)}; // uptime that resets the count
};

// `upstream.discovery`: Bulwark's own listing of the upstream's tools (proxy/upstream/
// tool_discovery.h).
struct DiscoveryConfig {
  bool enabled = true;
  // List at start; otherwise at the first retry decision about a tool Bulwark does not know.
  bool at_start = true;
  Duration interval{std::chrono::minutes(5)}; // refresh; a 2026 server's ttlMs shortens it
  // Sent with each of Bulwark's listing requests, values expanded from the environment
  // (`${NAME}`). Secrets: never logged, never shown.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct UpstreamConfig {
  // "http://host:port/path", parsed. Optional here: `bulwark --upstream URL` may supply it; the
  // caller decides whether a missing URL is an error.
  std::optional<UpstreamUrl> url;
  Duration connect_timeout{std::chrono::seconds(1)};
  // A stdio MCP server to spawn instead (argv; `bulwark -- CMD...`). Exclusive with url; the
  // keys below apply only to it.
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env; // added to Bulwark's environment
  std::string cwd;                                      // empty: Bulwark's own
  StdioRestartConfig restart;
  Duration stop_timeout{std::chrono::seconds(2)}; // stdin closed -> SIGTERM -> SIGKILL, each
  Duration session_idle_timeout{std::chrono::minutes(30)};
  std::size_t max_sessions = 100; // one child each
  DiscoveryConfig discovery;
};

// The `monitoring` block of a FastMCP-style production config. The alert thresholds are exported
// as bulwark_alert_threshold{name}, which the rules in deploy/prometheus compare against.
struct MonitoringConfig {
  bool log_errors = true;
  bool access_log = false;           // one JSON line per request, not only per error
  std::size_t max_tool_labels = 100; // distinct tool label values; more fold into "other"
  double alert_error_rate = 0.05;    // fraction of requests, 0..1
  Duration alert_recovery_time{std::chrono::seconds(5)};
};

// The `limits` block: what one client may cost Bulwark. Defaults follow Envoy, HAProxy and nginx
// practice; each limit, when hit, is answered with an HTTP status (and a JSON-RPC error body),
// counted in bulwark_limit_rejections_total{limit} and logged once.
struct LimitsConfig {
  std::size_t max_header_bytes = 64 * 1024;      // request line + header fields; over: 431
  std::size_t max_headers = 100;                 // header fields per request; over: 431
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // over: 413
  std::size_t max_connections = 10000;           // per listener; beyond: 503 and close
  std::uint64_t max_requests_per_connection = 0; // 0: unlimited; else the last one says close
  std::size_t max_streams_per_session = 8;       // concurrent GET streams per Mcp-Session-Id: 429
  // An answer (a JSON body, one SSE event) is held to be judged up to this size; past it the
  // outcome is decided from what was read and the rest streams through, with no retry.
  std::size_t max_held_answer_bytes = 1024 * 1024;
  // Every byte buffered for clients and answers together (held answers, request bodies, bytes
  // queued for clients). At it, answers stream instead of being held and new requests get 503.
  std::size_t max_buffered_bytes = 64 * 1024 * 1024;
  // The head must arrive within this of its first byte (of the accept, for the first request):
  // slowloris. Over: 408 and close.
  Duration header_timeout{std::chrono::seconds(10)};
  // The body must arrive within this of the end of the head. Over: 408 and close.
  Duration body_timeout{std::chrono::seconds(30)};
  // A keep-alive connection with no request in progress closes after this. A request in
  // progress (an SSE GET stream too) is never idle.
  Duration idle_timeout{std::chrono::seconds(60)};
  // A client that takes no response bytes for this long while Bulwark has some queued for it is
  // closed and its upstream request cancelled: a reader that never reads holds no window.
  Duration send_timeout{std::chrono::seconds(60)};

  bool operator==(const LimitsConfig&) const = default;
};

// The `sessions` block: what Bulwark keeps per MCP session (its initialize, for recovery), so
// that no client can pin memory. See proxy/mcp/session_directory.h.
struct SessionsConfig {
  // An initialize body larger than this is proxied, but its session is not kept (it cannot be
  // recovered). At most max_total_bytes.
  std::size_t max_handshake_bytes = 64 * 1024;
  // Everything kept for all sessions together; past it the least recently used are forgotten.
  std::size_t max_total_bytes = 16 * 1024 * 1024;
  // A session no request used for this long is forgotten (an open GET stream counts as use);
  // 0: never.
  Duration idle_timeout{std::chrono::hours(1)};

  bool operator==(const SessionsConfig&) const = default;
};

// The `security` block. Unset lists take a default that depends on the listen address (see
// config/README.md): on a loopback address only loopback hosts and origins, the MCP spec's
// DNS-rebinding protection; elsewhere any.
struct SecurityConfig {
  // "https://app.example.com", "http://localhost:*" (any port), or "*" (any). A request
  // without an Origin field is always allowed (not a browser).
  std::optional<std::vector<std::string>> allowed_origins;
  // Host field values: "mcp.example.com", "localhost:*", "*".
  std::optional<std::vector<std::string>> allowed_hosts;

  bool operator==(const SecurityConfig&) const = default;
};

// The `shared_state` block (config/README.md "Shared state"): Redis, which replicas of one server
// use to find each session's owner and take over a dead one's sessions. Redis is a helper: when
// it is down or slow Bulwark serves alone. Secrets come from the environment, never from here.
struct SharedStateConfig {
  std::string redis_url = "redis://127.0.0.1:6379"; // as written (logs, --check-config)
  HostPort redis{"127.0.0.1", 6379};                // parsed from redis_url
  int redis_db = 0;                                 // SELECT after connecting (the /DB part)
  std::string password_env; // the variable holding the Redis password; empty: no AUTH
  std::string key_prefix = "bulwark:";
  // How other sidecars reach this one's data port; unset: the listen address (the bound port
  // when it is 0). Required when listening on a wildcard address.
  std::optional<HostPort> advertise;
  std::string key_secret_env; // the variable holding the HMAC secret for shared cache keys
  Duration timeout{std::chrono::milliseconds(50)}; // per Redis command; then Bulwark goes alone
  Duration session_ttl{std::chrono::hours(1)};     // a session record unused this long expires
  Duration heartbeat_interval{std::chrono::seconds(1)};
  Duration heartbeat_ttl{std::chrono::seconds(3)}; // a sidecar silent this long is gone

  bool operator==(const SharedStateConfig&) const = default;
};

// Why other sidecars could not reach this one: `shared_state` without `advertise` while `listen`
// is a wildcard address (0.0.0.0, [::]). One sentence naming both ways to fix it (the key and
// --advertise); empty when there is no such problem. Checked once the command-line flags are
// applied (a file alone is not refused: --advertise may complete it); `listen_from_flag` names
// where the wildcard came from.
std::string missingAdvertiseProblem(const HostPort& listen,
                                    const std::optional<HostPort>& advertise,
                                    bool listen_from_flag = false);

struct Config {
  std::string source = "<defaults>";  // the file (or name) it was loaded from
  HostPort listen{"127.0.0.1", 8080}; // data port, host:port (IPv6 as [::1]:8080)
  HostPort admin{"127.0.0.1", 9901};  // /metrics /healthz /readyz
  UpstreamConfig upstream;
  // defaults (with the FastMCP-style error_handling block folded in), methods and tools.
  policies::PolicySet policies;
  // One budget for the upstream (defaults.retry.budget); tools and methods cannot override it.
  policies::RetryBudgetParams retry_budget;
  // Upstream HTTP statuses that mean the request never ran (defaults.retry.never_ran_statuses).
  policies::NeverRanStatuses never_ran;
  // How long a request without a recovery answer waits for a restarting upstream, and when
  // refused connections count as a restart (defaults.retry.restart_wait); global, like the budget.
  policies::RestartWaitParams restart_wait;
  // Recovery order per failure class (defaults.recovery); global, like the budget.
  policies::RecoveryPlan recovery;
  // The response cache's byte budget (top-level cache.max_bytes); 0 turns the cache off.
  std::size_t cache_max_bytes = policies::ResponseCache::kDefaultMaxBytes;
  // More header names (lower case, top-level cache.identity_headers) that tell callers apart in
  // the `caller` cache scope, on top of the session, Authorization, Cookie, X-API-Key and the
  // query (policies/cache_identity.h).
  std::vector<std::string> cache_identity_headers;
  // error_handling.fallback_enabled. Configured fallbacks are used unless this is false.
  bool fallback_enabled = true;
  MonitoringConfig monitoring;
  LimitsConfig limits;
  SessionsConfig sessions;
  SecurityConfig security;
  std::optional<SharedStateConfig> shared_state; // unset: no Redis, each replica alone
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
