// Automatic recovery as configuration (the seed's AutomaticRecovery table): for each failure class,
// the ordered strategies Bulwark tries when an attempt fails, and the pure choice of the next one.
// Also the fallback result type (plain data; the proxy writes its JSON).
//
// Strategies:
//   retry    another attempt, as far as the retry policy allows (retry.on, safety, attempts,
//            deadline, budget: decideRetry). Leaving `retry` out of a class's list turns retries
//            of that class off whatever retry.on says.
//   stale    a cached answer within its stale_if_error window (ResponseCache::lookupStale).
//   fallback the policy's configured fallback result, when fallbacks are enabled globally.
//   fail     answer the error. Implied at the end of every list; written explicitly it ends the
//            list (nothing may follow it).
#pragma once

#include "policies/failure_class.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::policies {

enum class RecoveryStrategy : std::uint8_t { kRetry, kStaleCache, kFallback, kFail };

// "retry", "stale", "fallback", "fail" (config words and label values of
// bulwark_recoveries_total{strategy}).
std::string_view recoveryStrategyName(RecoveryStrategy strategy);
std::optional<RecoveryStrategy> parseRecoveryStrategy(std::string_view name);

using RecoverySteps = std::vector<RecoveryStrategy>;

// The order per failure class, plus the order used when a circuit breaker rejects a request
// before any attempt (`circuit_open`: retrying is pointless then, so it has no `retry`).
class RecoveryPlan {
public:
  // The defaults (see README): upstream [retry, stale, fallback]; timeout [retry, stale];
  // overload [retry, stale]; resource [retry, stale]; tool_error, session_lost, protocol [retry];
  // invalid_input, permission, none [fail]; circuit_open [stale, fallback].
  RecoveryPlan();

  // The steps for a class, without the implied trailing kFail (an explicit `fail` is dropped
  // too, since it is the end anyway). An empty span means: fail at once.
  std::span<const RecoveryStrategy> stepsFor(FailureClass c) const;
  std::span<const RecoveryStrategy> stepsWhenCircuitOpen() const { return circuit_open_; }

  // Replace one list (config). Steps after a kFail are dropped.
  void set(FailureClass c, RecoverySteps steps);
  void setCircuitOpen(RecoverySteps steps);

  bool operator==(const RecoveryPlan&) const = default;

  // "upstream=[retry, stale, fallback] timeout=[retry, stale] ... circuit_open=[stale, fallback]"
  std::string describe() const;

private:
  static RecoverySteps normalise(RecoverySteps steps);
  std::array<RecoverySteps, kAllFailureClasses.size()> by_class_;
  RecoverySteps circuit_open_;
};

// "[retry, stale, fallback]"
std::string describeSteps(std::span<const RecoveryStrategy> steps);

// What is possible right now, for the request that just failed.
struct RecoveryFacts {
  bool retry_allowed = false;      // decideRetry(...).retry
  bool stale_available = false;    // lookupStale(...) found a fresh or stale entry
  bool fallback_available = false; // the policy has a fallback and fallbacks are enabled
};

// The first step of `steps` that is possible, or kFail. Call it after each failed attempt (and
// with stepsWhenCircuitOpen() when the breaker refused the request); kRetry means arm the backoff
// timer and try again, then ask again if that attempt fails too.
RecoveryStrategy chooseRecovery(std::span<const RecoveryStrategy> steps,
                                const RecoveryFacts& facts);

// A configured fallback result (the seed's "default data"): either plain text, answered as a
// CallToolResult with one text content item, or a complete result object the config wrote as a
// mapping (already JSON text, made by config/). Policies only carry it: the proxy writes the text
// as JSON (proxy/mcp/json_writer's fallbackTextResult) and adds `_meta: {"bulwark/fallback":
// true}` so clients can tell it apart from a real answer.
struct FallbackSpec {
  enum class Kind : std::uint8_t { kText, kResult };
  Kind kind = Kind::kText;
  std::string text;        // kText: the message
  std::string result_json; // kResult: a JSON object, without `_meta`

  static FallbackSpec fromText(std::string text) { return {Kind::kText, std::move(text), {}}; }
  static FallbackSpec fromResultJson(std::string json) {
    return {Kind::kResult, {}, std::move(json)};
  }
  bool operator==(const FallbackSpec&) const = default;
};

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool isValidUtf8(std::string_view s);

} // namespace bulwark::policies
