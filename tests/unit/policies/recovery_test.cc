#include "policies/recovery.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace bulwark::policies;
using S = RecoveryStrategy;

namespace {

std::vector<S> steps(std::span<const S> s) { return {s.begin(), s.end()}; }

} // namespace

TEST_CASE("strategy names round-trip") {
  for (S s : {S::kRetry, S::kStaleCache, S::kFallback, S::kFail}) {
    CHECK(parseRecoveryStrategy(recoveryStrategyName(s)) == s);
  }
  CHECK(recoveryStrategyName(S::kStaleCache) == "stale");
  CHECK_FALSE(parseRecoveryStrategy("cache").has_value());
  CHECK_FALSE(parseRecoveryStrategy("Retry").has_value());
}

TEST_CASE("the default plan: the seed's table plus the issue's stale classes") {
  const RecoveryPlan plan;
  CHECK(steps(plan.stepsFor(FailureClass::kUpstream)) ==
        std::vector<S>{S::kRetry, S::kStaleCache, S::kFallback});
  CHECK(steps(plan.stepsFor(FailureClass::kTimeout)) == std::vector<S>{S::kRetry, S::kStaleCache});
  CHECK(steps(plan.stepsFor(FailureClass::kOverload)) == std::vector<S>{S::kRetry, S::kStaleCache});
  CHECK(steps(plan.stepsFor(FailureClass::kResource)) == std::vector<S>{S::kRetry, S::kStaleCache});
  // retry stays possible where retry.on may list the class (issue 3 behaviour is unchanged).
  for (FailureClass c :
       {FailureClass::kToolError, FailureClass::kSessionLost, FailureClass::kProtocol}) {
    CHECK(steps(plan.stepsFor(c)) == std::vector<S>{S::kRetry});
  }
  // Passed through as they are.
  for (FailureClass c :
       {FailureClass::kInvalidInput, FailureClass::kPermission, FailureClass::kNone}) {
    CHECK(plan.stepsFor(c).empty());
  }
  CHECK(steps(plan.stepsWhenCircuitOpen()) == std::vector<S>{S::kStaleCache, S::kFallback});
}

TEST_CASE("set replaces one class and drops everything from fail on") {
  RecoveryPlan plan;
  plan.set(FailureClass::kTimeout, {S::kRetry, S::kStaleCache, S::kFallback});
  CHECK(steps(plan.stepsFor(FailureClass::kTimeout)) ==
        std::vector<S>{S::kRetry, S::kStaleCache, S::kFallback});
  plan.set(FailureClass::kUpstream, {S::kStaleCache, S::kFail, S::kFallback});
  CHECK(steps(plan.stepsFor(FailureClass::kUpstream)) == std::vector<S>{S::kStaleCache});
  plan.set(FailureClass::kResource, {S::kFail});
  CHECK(plan.stepsFor(FailureClass::kResource).empty());
  plan.setCircuitOpen({S::kFallback});
  CHECK(steps(plan.stepsWhenCircuitOpen()) == std::vector<S>{S::kFallback});
  // Other classes keep their defaults.
  CHECK(steps(plan.stepsFor(FailureClass::kOverload)) == std::vector<S>{S::kRetry, S::kStaleCache});
  CHECK_FALSE(plan == RecoveryPlan{});
}

TEST_CASE("chooseRecovery takes the first possible step in order, else fail") {
  const std::vector<S> order = {S::kRetry, S::kStaleCache, S::kFallback};
  CHECK(chooseRecovery(order, {true, true, true}) == S::kRetry);
  CHECK(chooseRecovery(order, {false, true, true}) == S::kStaleCache);
  CHECK(chooseRecovery(order, {false, false, true}) == S::kFallback);
  CHECK(chooseRecovery(order, {false, false, false}) == S::kFail);
  // Order matters: stale first serves the stale answer rather than retrying.
  const std::vector<S> stale_first = {S::kStaleCache, S::kRetry};
  CHECK(chooseRecovery(stale_first, {true, true, false}) == S::kStaleCache);
  CHECK(chooseRecovery(stale_first, {true, false, true}) == S::kRetry);
  // A fallback not in the list is never used.
  const std::vector<S> retry_only = {S::kRetry};
  CHECK(chooseRecovery(retry_only, {false, true, true}) == S::kFail);
  CHECK(chooseRecovery({}, {true, true, true}) == S::kFail);
  // An explicit fail ends the walk.
  const std::vector<S> explicit_fail = {S::kFail, S::kFallback};
  CHECK(chooseRecovery(explicit_fail, {false, false, true}) == S::kFail);
}

TEST_CASE("chooseRecovery over the default plan") {
  const RecoveryPlan plan;
  // Upstream down, retries exhausted, nothing cached, a fallback configured.
  CHECK(chooseRecovery(plan.stepsFor(FailureClass::kUpstream), {false, false, true}) ==
        S::kFallback);
  // A timeout never falls back by default, but serves stale.
  CHECK(chooseRecovery(plan.stepsFor(FailureClass::kTimeout), {false, false, true}) == S::kFail);
  CHECK(chooseRecovery(plan.stepsFor(FailureClass::kTimeout), {false, true, true}) ==
        S::kStaleCache);
  // Permission errors pass through whatever is available.
  CHECK(chooseRecovery(plan.stepsFor(FailureClass::kPermission), {true, true, true}) == S::kFail);
  // Circuit open: stale, then fallback, never retry.
  CHECK(chooseRecovery(plan.stepsWhenCircuitOpen(), {true, false, false}) == S::kFail);
  CHECK(chooseRecovery(plan.stepsWhenCircuitOpen(), {true, false, true}) == S::kFallback);
}

TEST_CASE("describe lists every class and circuit_open") {
  const std::string text = RecoveryPlan{}.describe();
  CHECK(text.find("upstream=[retry, stale, fallback]") != std::string::npos);
  CHECK(text.find("timeout=[retry, stale]") != std::string::npos);
  CHECK(text.find("permission=[]") != std::string::npos);
  CHECK(text.find("circuit_open=[stale, fallback]") != std::string::npos);
  CHECK(text.find("none=") == std::string::npos);
}

TEST_CASE("FallbackSpec: plain data; the proxy writes the text as JSON") {
  const FallbackSpec text = FallbackSpec::fromText("down \"now\"");
  CHECK(text.kind == FallbackSpec::Kind::kText);
  CHECK(text.text == "down \"now\"");
  CHECK(text.result_json.empty());
  const FallbackSpec result =
      FallbackSpec::fromResultJson(R"({"content":[],"structuredContent":{"temp":null}})");
  CHECK(result.kind == FallbackSpec::Kind::kResult);
  CHECK(result.result_json == R"({"content":[],"structuredContent":{"temp":null}})");
}

TEST_CASE("isValidUtf8") {
  CHECK(isValidUtf8(""));
  CHECK(isValidUtf8("plain ascii"));
  CHECK(isValidUtf8("Zürich ☀ 😀"));
  CHECK(isValidUtf8("\xF4\x8F\xBF\xBF"));       // U+10FFFF
  CHECK_FALSE(isValidUtf8("\xF4\x90\x80\x80")); // above U+10FFFF
  CHECK_FALSE(isValidUtf8("\xC3"));             // truncated
  CHECK_FALSE(isValidUtf8("\xE2\x98"));         // truncated
  CHECK_FALSE(isValidUtf8("\xC0\xAF"));         // overlong '/'
  CHECK_FALSE(isValidUtf8("\xED\xA0\x80"));     // surrogate U+D800
  CHECK_FALSE(isValidUtf8("\x80"));             // lone continuation
  CHECK_FALSE(isValidUtf8("\xFF"));
  CHECK_FALSE(isValidUtf8("a\xC3(b")); // bad continuation
}
