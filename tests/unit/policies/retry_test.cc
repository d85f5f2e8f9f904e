#include "policies/retry.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

RetryFacts failing(FailureClass c, int attempt = 1) {
  RetryFacts f;
  f.attempt = attempt;
  f.failure = c;
  f.safe = true;
  f.remaining = 30s;
  f.budget_available = true;
  f.draw = 0.5;
  return f;
}

const RetryPolicy kPolicy{3, BackoffParams{1s, 2.0, 10s}, kDefaultRetryOn};

} // namespace

TEST_CASE("retry with the jittered backoff when everything allows it") {
  CHECK(decideRetry(kPolicy, failing(FailureClass::kUpstream, 1)) ==
        RetryDecision::retryAfter(500ms));
  CHECK(decideRetry(kPolicy, failing(FailureClass::kTimeout, 2)) ==
        RetryDecision::retryAfter(1000ms));
  CHECK(decideRetry(kPolicy, failing(FailureClass::kOverload, 1)) ==
        RetryDecision::retryAfter(500ms));
}

TEST_CASE("give-up reasons, one per failing check") {
  struct Row {
    const char* name;
    RetryFacts facts;
    GiveUpReason reason;
  };
  RetryFacts unsafe = failing(FailureClass::kUpstream);
  unsafe.safe = false;
  RetryFacts late = failing(FailureClass::kUpstream);
  late.remaining = 500ms; // draw 0.5 -> 500ms wait: does not fit (must be strictly less)
  RetryFacts no_budget = failing(FailureClass::kUpstream);
  no_budget.budget_available = false;
  RetryFacts expired = failing(FailureClass::kTimeout);
  expired.remaining = 0ms;
  const Row rows[] = {
      {"success is not retried", failing(FailureClass::kNone), GiveUpReason::kNotRetryableClass},
      {"invalid_input", failing(FailureClass::kInvalidInput), GiveUpReason::kNotRetryableClass},
      {"permission", failing(FailureClass::kPermission), GiveUpReason::kNotRetryableClass},
      {"tool_error by default", failing(FailureClass::kToolError),
       GiveUpReason::kNotRetryableClass},
      {"resource", failing(FailureClass::kResource), GiveUpReason::kNotRetryableClass},
      {"protocol", failing(FailureClass::kProtocol), GiveUpReason::kNotRetryableClass},
      {"session_lost (handled by re-initialize)", failing(FailureClass::kSessionLost),
       GiveUpReason::kNotRetryableClass},
      {"unsafe", unsafe, GiveUpReason::kUnsafe},
      {"attempts exhausted", failing(FailureClass::kUpstream, 3), GiveUpReason::kAttemptsExhausted},
      {"backoff does not fit", late, GiveUpReason::kDeadline},
      {"deadline already passed", expired, GiveUpReason::kDeadline},
      {"budget", no_budget, GiveUpReason::kBudgetExhausted},
  };
  for (const Row& r : rows) {
    const std::string name = r.name;
    CAPTURE(name);
    const RetryDecision d = decideRetry(kPolicy, r.facts);
    CHECK_FALSE(d.retry);
    CHECK(giveUpReasonName(d.reason) == giveUpReasonName(r.reason));
  }
}

TEST_CASE("checks run in the documented order") {
  RetryFacts f = failing(FailureClass::kInvalidInput, 5);
  f.safe = false;
  f.remaining = 0ms;
  f.budget_available = false;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kNotRetryableClass);
  f.failure = FailureClass::kUpstream;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kUnsafe);
  f.safe = true;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kAttemptsExhausted);
  f.attempt = 1;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kDeadline);
  f.remaining = 30s;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kBudgetExhausted);
  f.budget_available = true;
  CHECK(decideRetry(kPolicy, f).retry);
}

TEST_CASE("max_attempts 1 never retries; 5 allows four retries") {
  RetryPolicy once = kPolicy;
  once.max_attempts = 1;
  CHECK(decideRetry(once, failing(FailureClass::kUpstream, 1)).reason ==
        GiveUpReason::kAttemptsExhausted);
  RetryPolicy five = kPolicy;
  five.max_attempts = 5;
  five.backoff = {50ms, 2.0, 500ms};
  const Duration expected[] = {25ms, 50ms, 100ms, 200ms};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    CAPTURE(attempt);
    CHECK(decideRetry(five, failing(FailureClass::kUpstream, attempt)) ==
          RetryDecision::retryAfter(expected[attempt - 1]));
  }
  CHECK(decideRetry(five, failing(FailureClass::kUpstream, 5)).reason ==
        GiveUpReason::kAttemptsExhausted);
}

TEST_CASE("waiting for an upstream that refuses connections is bounded by the deadline, not max_attempts") {
  RetryFacts f = failing(FailureClass::kUpstream, 7);
  f.remaining = 30s;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kAttemptsExhausted);
  f.never_sent = true;
  CHECK(decideRetry(kPolicy, f).retry);
  f.remaining = 1ms;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kDeadline);
  f.remaining = 30s;
  f.budget_available = false;
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kBudgetExhausted);
  f.budget_available = true;
  f.safe = false;  // never_sent does not make an unsafe request safe by itself
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kUnsafe);
}

TEST_CASE("recheck_after shortens the wait but not the deadline check") {
  RetryFacts f = failing(FailureClass::kOverload, 1);
  f.never_sent = true;
  f.retry_after = 3s;
  f.recheck_after = 250ms;
  f.remaining = 30s;
  CHECK(decideRetry(kPolicy, f) == RetryDecision::retryAfter(250ms));
  f.remaining = 2s;  // the circuit stays open past the deadline: fail fast, do not poll
  CHECK(decideRetry(kPolicy, f).reason == GiveUpReason::kDeadline);
}

TEST_CASE("Retry-After: wait max(Retry-After, backoff) if it fits the deadline") {
  RetryFacts f = failing(FailureClass::kOverload, 1); // backoff 500ms
  f.retry_after = 3s;
  CHECK(decideRetry(kPolicy, f) == RetryDecision::retryAfter(3s));
  f.retry_after = 100ms; // shorter than the backoff: backoff wins
  CHECK(decideRetry(kPolicy, f) == RetryDecision::retryAfter(500ms));
  f.retry_after = 0ms;
  CHECK(decideRetry(kPolicy, f) == RetryDecision::retryAfter(500ms));
  f.retry_after = 40s; // does not fit in 30s
  CHECK(decideRetry(kPolicy, f) == RetryDecision::giveUp(GiveUpReason::kDeadline));
  f.retry_after = 29999ms;
  CHECK(decideRetry(kPolicy, f) == RetryDecision::retryAfter(29999ms));
  f.retry_after = 30s; // exactly the remaining time: nothing left for the attempt
  CHECK(decideRetry(kPolicy, f) == RetryDecision::giveUp(GiveUpReason::kDeadline));
}

TEST_CASE("the on list decides which classes retry") {
  RetryPolicy p = kPolicy;
  p.on = {FailureClass::kToolError};
  CHECK(decideRetry(p, failing(FailureClass::kToolError)).retry);
  CHECK(decideRetry(p, failing(FailureClass::kUpstream)).reason ==
        GiveUpReason::kNotRetryableClass);
  p.on = {};
  CHECK(decideRetry(p, failing(FailureClass::kTimeout)).reason == GiveUpReason::kNotRetryableClass);
}

TEST_CASE("give-up reason names") {
  CHECK(giveUpReasonName(GiveUpReason::kNotRetryableClass) == "not_retryable_class");
  CHECK(giveUpReasonName(GiveUpReason::kUnsafe) == "unsafe");
  CHECK(giveUpReasonName(GiveUpReason::kAttemptsExhausted) == "attempts_exhausted");
  CHECK(giveUpReasonName(GiveUpReason::kDeadline) == "deadline");
  CHECK(giveUpReasonName(GiveUpReason::kBudgetExhausted) == "budget_exhausted");
}
