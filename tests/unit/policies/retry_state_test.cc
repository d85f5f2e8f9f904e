// RetryState, the per-request retry state the exchange holds: driven through whole requests
// (one outcome per attempt, a fake clock, scripted draws) so every delay, timer and give-up
// reason is exact; then the breaker recheck, the restart window and the stream re-open backoff.
#include "policies/backoff.h"
#include "policies/deadline.h"
#include "policies/outcome.h"
#include "policies/policy_table.h"
#include "policies/retry.h"
#include "policies/retry_budget.h"
#include "policies/retry_state.h"
#include "policies/retry_safety.h"

#include <chrono>
#include <cstddef>
#include <doctest/doctest.h>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

const RestartWaitParams kRestartWait{};  // 5s, within 60s

struct Step {
  Outcome outcome;
  Duration took;                       // how long the attempt ran before this outcome
  std::optional<Duration> retry_after; // parsed Retry-After of this attempt
};

struct Trace {
  int attempts = 0;
  std::vector<Duration> delays;
  GiveUpReason reason = GiveUpReason::kNone;
  FailureClass last_class = FailureClass::kNone;
  std::vector<AttemptTimeout> timers;
};

// Plays `steps` (one per attempt) through RetryState, as the exchange does.
Trace run(const EffectivePolicy& policy, RetryBudget& budget, TimePoint& now,
          const std::vector<Step>& steps, std::string_view method, ToolAnnotations annotations,
          const std::vector<double>& draws) {
  Trace trace;
  RetryState state(policy.retry, policy.timeouts, kRestartWait, now);
  budget.recordRequest(now);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    ++trace.attempts;
    trace.timers.push_back(state.attemptTimeout(now));
    now += steps[i].took;
    const FailureClass cls = classify(steps[i].outcome);
    trace.last_class = cls;
    if (cls == FailureClass::kNone) {
      return trace;
    }
    RetrySafetyFacts safety;
    safety.may_have_reached_upstream = mayHaveReachedUpstream(steps[i].outcome);
    safety.method = method;
    safety.idempotent_override = policy.idempotent;
    safety.annotations = annotations;
    safety.trust_annotations = policy.trust_tool_annotations;
    AttemptFailure failure;
    failure.attempt = trace.attempts;
    failure.failure = cls;
    failure.safe = mayRetry(safety);
    failure.may_have_reached_upstream = safety.may_have_reached_upstream;
    failure.retry_after = steps[i].retry_after;
    const RetryDecision decision = state.onFailure(failure, budget, draws.at(i), now);
    if (!decision.retry) {
      trace.reason = decision.reason;
      return trace;
    }
    trace.delays.push_back(decision.delay);
    now += decision.delay;
  }
  return trace;
}

EffectivePolicy readPolicy() {
  EffectivePolicy p;
  p.timeouts = {5s, 2s};
  p.retry = RetryPolicy{4, BackoffParams{100ms, 2.0, 1s}, kDefaultRetryOn};
  return p;
}

} // namespace

TEST_CASE("a read survives a reset, a 503 and a 429 with Retry-After") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const std::vector<Step> steps = {
      {Outcome::resetBeforeResponse(), 10ms, std::nullopt},
      {Outcome::httpStatus(503), 20ms, std::nullopt},
      {Outcome::httpStatus(429, false, true), 5ms, Duration{1000}},
      {Outcome::success(), 50ms, std::nullopt},
  };
  const Trace t = run(readPolicy(), budget, now, steps, "resources/read", {}, {0.5, 0.5, 0.5, 0.5});
  CHECK(t.attempts == 4);
  CHECK(t.last_class == FailureClass::kNone);
  REQUIRE(t.delays.size() == 3);
  CHECK(t.delays[0] == 50ms);  // ceiling 100ms, draw 0.5
  CHECK(t.delays[1] == 100ms); // ceiling 200ms
  CHECK(t.delays[2] == 1s);    // Retry-After 1s beats backoff 200ms
  CHECK(budget.retriesInWindow(now) == 3);
  // every attempt got the full per-try timeout: the deadline was never close
  for (const AttemptTimeout& timer : t.timers) {
    CHECK(timer.timeout == 2s);
    CHECK(timer.kind == TimeoutKind::kPerTry);
  }
}

TEST_CASE("a tool without hints is not repeated once it may have run") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const std::vector<Step> steps = {{Outcome::resetBeforeResponse(), 30ms, std::nullopt}};
  const Trace t = run(readPolicy(), budget, now, steps, "tools/call", {}, {0.5});
  CHECK(t.attempts == 1);
  CHECK(t.reason == GiveUpReason::kUnsafe);
  CHECK(budget.retriesInWindow(now) == 0);
}

TEST_CASE("the same tool is retried when the connection was never made") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const std::vector<Step> steps = {
      {Outcome::connectFailed(), 1ms, std::nullopt},
      {Outcome::resetBeforeResponse(), 1ms, std::nullopt},
  };
  const Trace t = run(readPolicy(), budget, now, steps, "tools/call", {}, {0.5, 0.5});
  CHECK(t.attempts == 2);
  CHECK(t.delays == std::vector<Duration>{50ms});
  CHECK(t.reason == GiveUpReason::kUnsafe);
}

TEST_CASE("an annotated read-only tool is retried until attempts run out") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const std::vector<Step> steps(4, Step{Outcome::httpStatus(502), 10ms, std::nullopt});
  const Trace t = run(readPolicy(), budget, now, steps, "tools/call", {true, std::nullopt},
                      {0.99, 0.99, 0.99, 0.99});
  CHECK(t.attempts == 4);
  // floor(0.99 * (ceiling + 1)) for ceilings 100, 200, 400 ms
  CHECK(t.delays == std::vector<Duration>{99ms, 198ms, 396ms});
  CHECK(t.reason == GiveUpReason::kAttemptsExhausted);
}

TEST_CASE("per-try timeouts until the deadline cuts the last attempt short") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  EffectivePolicy p = readPolicy(); // timeout 5s, per try 2s, 4 attempts
  // attempt 1: 0..2s, wait 50ms; attempt 2: 2.05..4.05s, wait 100ms; attempt 3 starts at 4.15s
  // with only 850ms left: the deadline, not the per-try timeout, ends it.
  const std::vector<Step> steps = {
      {Outcome::perTryTimeout(), 2s, std::nullopt},
      {Outcome::perTryTimeout(), 2s, std::nullopt},
      {Outcome::deadlineExceeded(), 850ms, std::nullopt},
  };
  const Trace t = run(p, budget, now, steps, "tools/list", {}, {0.5, 0.5, 0.5});
  CHECK(t.attempts == 3);
  REQUIRE(t.timers.size() == 3);
  CHECK(t.timers[2].timeout == 850ms);
  CHECK(t.timers[2].kind == TimeoutKind::kDeadline);
  CHECK(t.reason == GiveUpReason::kDeadline);
  CHECK(t.last_class == FailureClass::kTimeout);
}

TEST_CASE("a fully failing upstream: the budget caps retries, then recovers") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 0, 10s});
  EffectivePolicy p = readPolicy();
  p.retry.backoff = {0ms, 1.0, 0ms}; // no waiting, to keep the clock in one bucket
  int attempts = 0;
  int budget_denials = 0;
  for (int request = 0; request < 100; ++request) {
    const std::vector<Step> steps(4, Step{Outcome::httpStatus(503), 0ms, std::nullopt});
    const Trace t = run(p, budget, now, steps, "tools/list", {}, {0, 0, 0, 0});
    attempts += t.attempts;
    budget_denials += t.reason == GiveUpReason::kBudgetExhausted ? 1 : 0;
  }
  CHECK(attempts == 150); // 1.5 attempts per request, not 4
  CHECK(budget_denials > 0);
  now += 11s; // the window rolls over
  const std::vector<Step> recovers = {{Outcome::httpStatus(503), 0ms, std::nullopt},
                                      {Outcome::success(), 0ms, std::nullopt}};
  budget.recordRequest(now); // another request earlier in this window
  const Trace t = run(p, budget, now, recovers, "tools/list", {}, {0, 0});
  CHECK(t.attempts == 2);
  CHECK(t.last_class == FailureClass::kNone);
}

TEST_CASE("invalid input, permission and tool errors are answered at once") {
  TimePoint now = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const Outcome once[] = {Outcome::jsonRpcError(-32602), Outcome::httpStatus(401),
                          Outcome::toolError(), Outcome::jsonRpcError(-32601)};
  for (const Outcome& o : once) {
    const Trace t =
        run(readPolicy(), budget, now, {{o, 1ms, std::nullopt}}, "tools/list", {}, {0.5});
    CHECK(t.attempts == 1);
    CHECK(t.reason == GiveUpReason::kNotRetryableClass);
  }
}

TEST_CASE("RetryState keeps the first failure's time, records retries in the budget only") {
  const TimePoint start = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const EffectivePolicy p = readPolicy();
  RetryState state(p.retry, p.timeouts, kRestartWait, start);
  CHECK_FALSE(state.firstFailureAt().has_value());
  CHECK(state.deadline().at() == start + 5s);
  AttemptFailure failure{.attempt = 1, .failure = FailureClass::kUpstream, .safe = true};
  CHECK(state.onFailure(failure, budget, 0.5, start + 1s).retry);
  CHECK(state.firstFailureAt() == start + 1s);
  CHECK(budget.retriesInWindow(start + 1s) == 1);
  failure.attempt = 2;
  CHECK(state.onFailure(failure, budget, 0.5, start + 2s).retry);
  CHECK(state.firstFailureAt() == start + 1s);  // the first one stays
  failure.attempt = 2;
  failure.safe = false;
  CHECK(state.onFailure(failure, budget, 0.5, start + 3s).reason == GiveUpReason::kUnsafe);
  CHECK(budget.retriesInWindow(start + 3s) == 2);
  state.forgetFailures();
  CHECK_FALSE(state.firstFailureAt().has_value());
}

TEST_CASE("an attempt held back by an open circuit rechecks every 250ms, even if unsafe") {
  const TimePoint start = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const EffectivePolicy p = readPolicy();
  RetryState state(p.retry, p.timeouts, kRestartWait, start);
  AttemptFailure held{.attempt = 1,
                      .failure = FailureClass::kOverload,
                      .held_back = true,
                      .since_seen_up = Duration{0},
                      .retry_after = Duration{3000}};
  const RetryDecision decision = state.onFailure(held, budget, 0.5, start);
  CHECK(decision == RetryDecision::retryAfter(kBreakerRecheck));
  CHECK(kBreakerRecheck == 250ms);
  // The circuit's announced time does not fit the deadline: give up rather than recheck.
  held.retry_after = Duration{6000};
  CHECK(state.onFailure(held, budget, 0.5, start).reason == GiveUpReason::kDeadline);
}

TEST_CASE("an upstream seen up within the restart window is waited for beyond max_attempts, "
          "for restart_wait.max from the first failure") {
  const TimePoint start = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  EffectivePolicy p = readPolicy();  // 4 attempts, deadline 5s
  p.timeouts.timeout = 30s;
  p.retry.backoff = {1000ms, 1.0, 1000ms};
  const RestartWaitParams wait{2500ms, 60s};
  RetryState state(p.retry, p.timeouts, wait, start);
  AttemptFailure refused{.attempt = 10,
                         .failure = FailureClass::kUpstream,
                         .safe = true,
                         .may_have_reached_upstream = false,
                         .probe_failing = true,
                         .since_seen_up = Duration{1500}};
  // The first failure starts the wait: 1s backoff (draw 0.99 of a 1s ceiling -> 990ms).
  CHECK(state.onFailure(refused, budget, 0.99, start + 1s) == RetryDecision::retryAfter(990ms));
  CHECK(state.firstFailureAt() == start + 1s);
  // 2s into the wait only 500ms are left: the last try comes at the bound, not after it.
  CHECK(state.onFailure(refused, budget, 0.99, start + 3s) == RetryDecision::retryAfter(500ms));
  // At the bound the request stops waiting.
  CHECK(state.onFailure(refused, budget, 0.99, start + 3500ms).reason ==
        GiveUpReason::kRestartWaitOver);
  // Not seen up within the window: max_attempts applies.
  refused.since_seen_up = Duration{61000};
  CHECK(state.onFailure(refused, budget, 0.5, start + 1s).reason ==
        GiveUpReason::kAttemptsExhausted);
  // A failure that may have reached the upstream is an attempt, whatever the probe says.
  refused.since_seen_up = Duration{0};
  refused.may_have_reached_upstream = true;
  refused.probe_failing = false;
  CHECK(state.onFailure(refused, budget, 0.5, start + 1s).reason ==
        GiveUpReason::kAttemptsExhausted);
}

TEST_CASE("an unreachable upstream with a recovery answer ready ends the attempts at once") {
  const TimePoint start = TimePoint{} + 100s;
  RetryBudget budget({0.5, 10, 10s});
  const EffectivePolicy p = readPolicy();
  RetryState state(p.retry, p.timeouts, kRestartWait, start);
  AttemptFailure refused{.attempt = 1,
                         .failure = FailureClass::kUpstream,
                         .safe = true,
                         .may_have_reached_upstream = false,
                         .since_seen_up = Duration{0},
                         .recovery_available = true};
  CHECK(state.onFailure(refused, budget, 0.5, start) ==
        RetryDecision::giveUp(GiveUpReason::kRecoveryReady));
  CHECK(giveUpReasonName(GiveUpReason::kRecoveryReady) == "recovery_ready");
  CHECK(giveUpReasonName(GiveUpReason::kRestartWaitOver) == "restart_wait");
  // A 502 from a live upstream is retried first, recovery answer or not.
  AttemptFailure bad_gateway{.attempt = 1,
                             .failure = FailureClass::kUpstream,
                             .safe = true,
                             .since_seen_up = Duration{0},
                             .recovery_available = true};
  CHECK(state.onFailure(bad_gateway, budget, 0.5, start).retry);
  CHECK(budget.retriesInWindow(start) == 1);  // the recovery answer was no retry
}

TEST_CASE("a broken GET stream is re-opened after 50ms doubling to 2s, then every 2s, no limit") {
  const std::vector<Duration> expected = {50ms, 100ms, 200ms, 400ms, 800ms, 1600ms, 2000ms, 2000ms};
  for (int reopens = 0; reopens < static_cast<int>(expected.size()); ++reopens) {
    CAPTURE(reopens);
    CHECK(streamReopenDelay(reopens) == expected.at(static_cast<std::size_t>(reopens)));
  }
  // An outage longer than 31 s (20 re-opens) no longer ends the client's stream.
  CHECK(streamReopenDelay(20) == 2000ms);
  CHECK(streamReopenDelay(1000) == 2000ms);
  CHECK(streamReopenDelay(std::numeric_limits<int>::max()) == 2000ms);
}

TEST_CASE("a GET stream not yet started waits for a restarting upstream like a POST") {
  const UnreachableFacts refused_restarting{.never_sent = true, .since_seen_up = 300ms};
  SUBCASE("a refused connection while the upstream restarts: the re-open pace") {
    CHECK(streamOpenWait(kRestartWait, refused_restarting, 0) == 50ms);
    CHECK(streamOpenWait(kRestartWait, refused_restarting, 10) == 2000ms);
  }
  SUBCASE("the last try lands at restart_wait.max") {
    UnreachableFacts facts = refused_restarting;
    facts.waited = 4500ms;
    CHECK(streamOpenWait(kRestartWait, facts, 10) == 500ms);
    facts.waited = 5000ms;
    CHECK_FALSE(streamOpenWait(kRestartWait, facts, 10).has_value());
  }
  SUBCASE("no restart to wait for: answered at once") {
    UnreachableFacts never_up = refused_restarting;
    never_up.since_seen_up.reset();
    CHECK_FALSE(streamOpenWait(kRestartWait, never_up, 0).has_value());
    UnreachableFacts down_long = refused_restarting;
    down_long.since_seen_up = 61s;
    CHECK_FALSE(streamOpenWait(kRestartWait, down_long, 0).has_value());
    const UnreachableFacts reset{.connection_lost = true, .since_seen_up = 0ms};
    CHECK_FALSE(streamOpenWait(kRestartWait, reset, 0).has_value());
    CHECK_FALSE(streamOpenWait(RestartWaitParams{.max = 0ms}, refused_restarting, 0).has_value());
  }
  SUBCASE("a longer restart_wait.max holds the GET longer") {
    UnreachableFacts facts = refused_restarting;
    facts.waited = 40s;
    CHECK(streamOpenWait(RestartWaitParams{.max = 50s}, facts, 30) == 2000ms);
  }
}
