// The parameter types of a request's policy: the fully resolved EffectivePolicy, the partial
// PolicyOverride a tool or method rule carries, and how they merge (field by field, the override
// wins where it says something).
#pragma once

#include "policies/cache_policy.h"
#include "policies/circuit_breaker.h"
#include "policies/deadline.h"
#include "policies/duration.h"
#include "policies/failure_class.h"
#include "policies/recovery.h"
#include "policies/retry.h"

#include <optional>
#include <string>
#include <vector>

namespace bulwark::policies {

// Everything the proxy needs to handle one request. Immutable once built.
struct EffectivePolicy {
  TimeoutPolicy timeouts;
  RetryPolicy retry;
  // Explicit idempotency from configuration; nullopt: decide from the method and annotations
  // (see retry_safety.h).
  std::optional<bool> idempotent;
  bool trust_tool_annotations = true;
  // Response cache for this method/tool (cache_policy.h). Off unless configured; tools/call never
  // inherits an enabled cache from `defaults` (see policy_table.h).
  CachePolicy cache;
  // The result answered when recovery reaches `fallback` (recovery.h); none unless configured.
  std::optional<FallbackSpec> fallback;
  // Parameters of this tool's breaker (the proxy keeps one per tool, built from the tool's
  // policy, and one for the upstream, built from the defaults).
  CircuitBreakerParams circuit_breaker;
  // Where it came from, for logs and `describe`: "defaults", "methods.resources/read",
  // "tools[0] get_weather".
  std::string origin = "defaults";
};

struct RetryOverride {
  std::optional<int> max_attempts;
  std::optional<Duration> base;
  std::optional<double> multiplier;
  std::optional<Duration> max;
  std::optional<FailureClassSet> on;
};

struct CacheOverride {
  // Unset: enabled when this layer sets ttl or stale_if_error, else inherited.
  std::optional<bool> enabled;
  std::optional<Duration> ttl;
  std::optional<Duration> stale_if_error;
  std::optional<CacheScope> scope;
};

struct CircuitBreakerOverride {
  std::optional<bool> enabled;
  std::optional<double> failure_ratio;
  std::optional<int> min_requests;
  std::optional<Duration> window;
  std::optional<Duration> open_for;
  std::optional<int> half_open_probes;
  std::optional<FailureClassSet> on;
};

struct PolicyOverride {
  std::optional<Duration> timeout;
  std::optional<Duration> per_try_timeout;
  RetryOverride retry;
  std::optional<bool> idempotent;
  CacheOverride cache;
  std::optional<FallbackSpec> fallback; // set: replaces the inherited fallback
  bool fallback_off = false;            // `fallback: false`: no fallback (wins over `fallback`)
  CircuitBreakerOverride circuit_breaker;
};

// `base` with every field the override sets replaced; origin becomes `origin`.
EffectivePolicy applyOverride(const EffectivePolicy& base, const PolicyOverride& override_,
                              std::string origin);

struct ToolRule {
  std::string match; // exact tool name or glob (glob.h)
  PolicyOverride policy;
};

struct MethodRule {
  std::string method; // exact JSON-RPC method name, e.g. "resources/read"
  PolicyOverride policy;
};

// The validated policy part of a configuration, in file order.
struct PolicySet {
  EffectivePolicy defaults;
  std::vector<MethodRule> methods;
  std::vector<ToolRule> tools;
};

// One line: "timeout=30s per_try_timeout=10s max_attempts=3 backoff=1s*2^n<=10s
// on=[upstream, timeout, overload] idempotent=auto trust_tool_annotations=true cache=off
// fallback=none circuit_breaker=failure_ratio:0.5,min_requests:20,window:10s,open_for:5s,
// half_open_probes:1,on:[upstream, timeout, overload]".
std::string describePolicy(const EffectivePolicy& policy);

} // namespace bulwark::policies
