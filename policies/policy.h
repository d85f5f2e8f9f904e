// The parameter types of a request's policy: the fully resolved EffectivePolicy, the partial
// PolicyOverride a tool or method rule carries, and how they merge (field by field, the override
// wins where it says something).
#pragma once

#include "policies/deadline.h"
#include "policies/duration.h"
#include "policies/failure_class.h"
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

struct PolicyOverride {
  std::optional<Duration> timeout;
  std::optional<Duration> per_try_timeout;
  RetryOverride retry;
  std::optional<bool> idempotent;
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
// on=[upstream, timeout, overload] idempotent=auto trust_tool_annotations=true".
std::string describePolicy(const EffectivePolicy& policy);

} // namespace bulwark::policies
