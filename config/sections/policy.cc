// A policy block (`defaults`, `methods.<name>`, `tools[]`): timeouts, retry with its backoff and
// budget, idempotency, cache, fallback, circuit breaker, recovery. What a block sets is stored as
// a policies::PolicyOverride; inheritance between blocks is policies::PolicyTable's alone.
#include "config/sections/sections.h"
#include "policies/failure_class.h"

#include <array>

namespace bulwark::config {

using policies::FailureClass;
using policies::FailureClassSet;

std::optional<FailureClassSet> readClassList(Reader& reader, const Field& f,
                                             FailureClassSet refused,
                                             std::string_view refused_because) {
  if (!f.empty() && !f.value.IsSequence()) {
    reader.error(f.valueLoc(), f.path,
                 "expected a list of failure classes, e.g. [upstream, timeout, overload], got " +
                     describeKind(f.value));
    return std::nullopt;
  }
  FailureClassSet set;
  bool ok = true;
  for (const Field& e : reader.elements(f, "failure classes")) {
    auto name = reader.scalar(e, "a failure class");
    if (!name) {
      ok = false;
      continue;
    }
    auto c = policies::parseFailureClass(*name);
    if (!c || *c == FailureClass::kNone) {
      std::string message = "unknown failure class " + quoted(*name) + " (one of:";
      for (FailureClass known : policies::kAllFailureClasses) {
        if (known != FailureClass::kNone && !refused.contains(known)) {
          message += " " + std::string(policies::failureClassName(known));
        }
      }
      reader.error(e.valueLoc(), e.path, message + ")");
      ok = false;
      continue;
    }
    if (refused.contains(*c)) {
      reader.error(e.valueLoc(), e.path, quoted(*name) + std::string(refused_because));
      ok = false;
      continue;
    }
    set.insert(*c);
  }
  return ok ? std::optional<FailureClassSet>(set) : std::nullopt;
}

namespace {

// Limits that catch typos (and keep arithmetic far from overflow).
constexpr int kMaxAttempts = 100;

// Keys in a policy block that belong one level down.
constexpr std::array<Hint, 7> kPolicyHints = {{{"max_attempts", "retry.max_attempts"},
                                               {"backoff", "retry.backoff"},
                                               {"on", "retry.on"},
                                               {"budget", "retry.budget"},
                                               {"base", "retry.backoff.base"},
                                               {"multiplier", "retry.backoff.multiplier"},
                                               {"max", "retry.backoff.max"}}};
constexpr std::array<Hint, 5> kRetryHints = {
    {{"base", "backoff.base"},
     {"multiplier", "backoff.multiplier"},
     {"max", "backoff.max"},
     {"timeout", "the timeout next to retry, not inside it"},
     {"per_try_timeout", "per_try_timeout next to retry, not inside it"}}};

constexpr auto kBudgetKeys = std::to_array<Key<policies::RetryBudgetParams>>({
    {"ratio", ValueKind::kNumber,
     Range{0, 1e6, false, "must not be negative", "must be at most 1000000"},
     [](policies::RetryBudgetParams& b, const Value& v) { b.ratio = v.number; }, nullptr,
     [] { return showNumber(policies::RetryBudgetParams{}.ratio); }},
    {"min_per_second", ValueKind::kNumber,
     Range{0, 1e6, false, "must not be negative", "must be at most 1000000"},
     [](policies::RetryBudgetParams& b, const Value& v) { b.min_per_second = v.number; }, nullptr,
     [] { return showNumber(policies::RetryBudgetParams{}.min_per_second); }},
    {"window", ValueKind::kDuration, positive(),
     [](policies::RetryBudgetParams& b, const Value& v) { b.window = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::RetryBudgetParams{}.window); }},
});

constexpr auto kRestartWaitKeys = std::to_array<Key<policies::RestartWaitParams>>({
    {"max", ValueKind::kDuration,
     Range{0, 3600000, false, "must not be negative (0s = never wait for a restart)",
           "must be at most 1h"},
     [](policies::RestartWaitParams& w, const Value& v) { w.max = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::RestartWaitParams{}.max); }},
    {"window", ValueKind::kDuration, positive(),
     [](policies::RestartWaitParams& w, const Value& v) { w.window = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::RestartWaitParams{}.window); }},
});

constexpr auto kBackoffKeys = std::to_array<Key<policies::RetryOverride>>({
    {"base", ValueKind::kDuration, Range{},
     [](policies::RetryOverride& r, const Value& v) { r.base = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::BackoffParams{}.base); }},
    {"multiplier", ValueKind::kNumber,
     Range{1, 100, false, "must be at least 1 (1 = constant backoff)", "must be at most 100"},
     [](policies::RetryOverride& r, const Value& v) { r.multiplier = v.number; }, nullptr,
     [] { return showNumber(policies::BackoffParams{}.multiplier); }},
    {"max", ValueKind::kDuration, Range{},
     [](policies::RetryOverride& r, const Value& v) { r.max = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::BackoffParams{}.max); }},
});

void readBackoff(Reader& reader, const Field& f, PolicyBlock& block) {
  const std::vector<KeyRead> reads =
      readKeys<policies::RetryOverride>(reader, f, kBackoffKeys, block.layer.value.retry);
  if (const Field* base = storedField(reads, "base")) {
    block.layer.base_at = *base;
  }
  if (const Field* max = storedField(reads, "max")) {
    block.layer.max_at = *max;
  }
}

// defaults.retry.never_ran_statuses: a list of HTTP statuses 400..599 (global, like the budget).
void readNeverRanStatuses(Reader& reader, const Field& f, PolicyBlock& b) {
  if (b.kind != kDefaultsBlock) {
    reader.error(f.keyLoc(), f.path,
                 "which statuses mean a request never ran is one list for the upstream: set it "
                 "under defaults.retry.never_ran_statuses");
    return;
  }
  if (!f.empty() && !f.value.IsSequence()) {
    reader.error(f.valueLoc(), f.path,
                 "expected a list of HTTP statuses, e.g. [429, 503], got " + describeKind(f.value));
    return;
  }
  std::vector<int> statuses;
  for (const Field& element : reader.elements(f, "statuses")) {
    if (auto value = readValue(reader, element, ValueKind::kWhole,
                               Range{400, 599, false, "must be an HTTP error status (400..599)",
                                     "must be an HTTP error status (400..599)"})) {
      statuses.push_back(static_cast<int>(value->whole));
    }
  }
  b.config.never_ran.statuses = std::move(statuses);
}

constexpr auto kRetryKeys = std::to_array<Key<PolicyBlock>>({
    {"max_attempts", ValueKind::kWhole,
     Range{1, kMaxAttempts, false, "must be at least 1 (1 = no retries), got {got}",
           "must be at most 100"},
     [](PolicyBlock& b, const Value& v) {
       b.layer.value.retry.max_attempts = static_cast<int>(v.whole);
     },
     nullptr, [] { return std::to_string(policies::RetryPolicy{}.max_attempts); }},
    {"backoff", ValueKind::kCustom, Range{}, nullptr, &readBackoff},
    {"on", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) {
       if (auto on =
               readClassList(reader, f, {FailureClass::kInvalidInput, FailureClass::kPermission},
                             " is never retried: repeating the same request cannot succeed")) {
         b.layer.value.retry.on = *on;
       }
     }},
    {"budget", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) {
       if (b.kind != kDefaultsBlock) {
         reader.error(f.keyLoc(), f.path,
                      "the retry budget is shared by all requests: set it under "
                      "defaults.retry.budget");
         return;
       }
       readKeys<policies::RetryBudgetParams>(reader, f, kBudgetKeys, b.config.retry_budget);
     }},
    {"never_ran_statuses", ValueKind::kCustom, Range{}, nullptr, &readNeverRanStatuses, nullptr},
    {"restart_wait", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) {
       if (b.kind != kDefaultsBlock) {
         reader.error(f.keyLoc(), f.path,
                      "the wait for a restarting upstream is global: set it under "
                      "defaults.retry.restart_wait");
         return;
       }
       readKeys<policies::RestartWaitParams>(reader, f, kRestartWaitKeys, b.config.restart_wait);
     }},
});

constexpr auto kBreakerKeys = std::to_array<Key<policies::CircuitBreakerOverride>>({
    {"enabled", ValueKind::kBool, Range{},
     [](policies::CircuitBreakerOverride& c, const Value& v) { c.enabled = v.flag; }, nullptr,
     [] { return showBool(policies::CircuitBreakerParams{}.enabled); }},
    {"failure_ratio", ValueKind::kNumber,
     Range{0, 1, true,
           "must be a fraction greater than 0 and at most 1 (0.5 = half the attempts fail)",
           "must be a fraction greater than 0 and at most 1 (0.5 = half the attempts fail)"},
     [](policies::CircuitBreakerOverride& c, const Value& v) { c.failure_ratio = v.number; },
     nullptr, [] { return showNumber(policies::CircuitBreakerParams{}.failure_ratio); }},
    {"min_requests", ValueKind::kWhole, between(1, 1000000),
     [](policies::CircuitBreakerOverride& c, const Value& v) {
       c.min_requests = static_cast<int>(v.whole);
     },
     nullptr, [] { return std::to_string(policies::CircuitBreakerParams{}.min_requests); }},
    {"window", ValueKind::kDuration, positive(),
     [](policies::CircuitBreakerOverride& c, const Value& v) { c.window = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::CircuitBreakerParams{}.window); }},
    {"open_for", ValueKind::kDuration, positive(),
     [](policies::CircuitBreakerOverride& c, const Value& v) { c.open_for = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::CircuitBreakerParams{}.open_for); }},
    {"half_open_probes", ValueKind::kWhole, between(1, 1000),
     [](policies::CircuitBreakerOverride& c, const Value& v) {
       c.half_open_probes = static_cast<int>(v.whole);
     },
     nullptr, [] { return std::to_string(policies::CircuitBreakerParams{}.half_open_probes); }},
    {"on", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, policies::CircuitBreakerOverride& c) {
       if (auto on = readClassList(
               reader, f, policies::kNeverBreakerFailures,
               " never counts against a circuit: it is an answer from a working upstream")) {
         c.on = *on;
       }
     }},
});

constexpr unsigned kMethodOrTool = kMethodBlock | kToolBlock;

// One table for the three kinds of block; `only_in` says which accept a key. The order is the
// order of the "known keys" in error messages.
constexpr auto kPolicyKeys = std::to_array<Key<PolicyBlock>>({
    {"match", ValueKind::kCustom, Range{}, nullptr,
     [](Reader&, const Field& f, PolicyBlock& b) {
       if (b.match != nullptr) {
         *b.match = f;
       }
     },
     nullptr, kToolBlock},
    {"timeout", ValueKind::kDuration, positive(),
     [](PolicyBlock& b, const Value& v) { b.layer.value.timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::TimeoutPolicy{}.timeout); }},
    {"per_try_timeout", ValueKind::kDuration, positive(),
     [](PolicyBlock& b, const Value& v) { b.layer.value.per_try_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::TimeoutPolicy{}.per_try_timeout); }},
    {"retry", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) {
       readKeys<PolicyBlock>(reader, f, kRetryKeys, b, kRetryHints);
     }},
    {"trust_tool_annotations", ValueKind::kBool, Range{},
     [](PolicyBlock& b, const Value& v) {
       b.config.policies.defaults.trust_tool_annotations = v.flag;
     },
     nullptr, [] { return showBool(policies::EffectivePolicy{}.trust_tool_annotations); },
     kDefaultsBlock},
    {"idempotent", ValueKind::kBool, Range{},
     [](PolicyBlock& b, const Value& v) { b.layer.value.idempotent = v.flag; }, nullptr, nullptr,
     kMethodOrTool},
    {"cache", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) { readCache(reader, f, b.layer); }},
    {"fallback", ValueKind::kCustom, Range{}, nullptr, &readFallback},
    {"circuit_breaker", ValueKind::kCustom, Range{}, nullptr, &readCircuitBreaker},
    {"recovery", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, PolicyBlock& b) {
       if (b.kind != kDefaultsBlock) {
         reader.error(f.keyLoc(), f.path,
                      "the recovery order is global: set it under defaults.recovery");
         return;
       }
       readRecovery(reader, f, b.config.recovery);
     }},
});

} // namespace

void readCircuitBreaker(Reader& reader, const Field& f, PolicyBlock& block) {
  if (block.kind == kMethodBlock && block.layer.method != "tools/call") {
    reader.error(f.keyLoc(), f.path,
                 "circuit breakers are per upstream (defaults.circuit_breaker) and per tool "
                 "(methods.tools/call, tools[]), not per method");
    return;
  }
  readKeys<policies::CircuitBreakerOverride>(reader, f, kBreakerKeys,
                                             block.layer.value.circuit_breaker);
}

void readPolicyBlock(Reader& reader, const Field& f, PolicyBlock& block) {
  readKeys<PolicyBlock>(reader, f, kPolicyKeys, block, kPolicyHints, block.kind);
}

void appendPolicyKeys(std::vector<KeyInfo>& out, std::string_view prefix, BlockKind kind) {
  const std::string p(prefix);
  appendKeyInfo<PolicyBlock>(out, p, kPolicyKeys, kind);
  appendKeyInfo<PolicyBlock>(out, p + "retry.", kRetryKeys);
  appendKeyInfo<policies::RetryOverride>(out, p + "retry.backoff.", kBackoffKeys);
  if (kind == kDefaultsBlock) {
    appendKeyInfo<policies::RetryBudgetParams>(out, p + "retry.budget.", kBudgetKeys);
    appendKeyInfo<policies::RestartWaitParams>(out, p + "retry.restart_wait.", kRestartWaitKeys);
  }
  appendCacheKeys(out, p + "cache.", false);
  appendKeyInfo<policies::CircuitBreakerOverride>(out, p + "circuit_breaker.", kBreakerKeys);
}

} // namespace bulwark::config
