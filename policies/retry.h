// The retry decision (Envoy's wouldRetry, kept apart from its effect): given the policy and the
// facts about the attempt that just failed, retry after a delay or give up with a reason. Pure:
// the proxy arms the timer, records the retry in the budget and counts the metrics.
#pragma once

#include "policies/backoff.h"
#include "policies/duration.h"
#include "policies/failure_class.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark::policies {

// The classes retried by default: design.md's table says "retry" for exactly these.
inline constexpr FailureClassSet kDefaultRetryOn = {FailureClass::kUpstream, FailureClass::kTimeout,
                                                    FailureClass::kOverload};

struct RetryPolicy {
  int max_attempts = 3; // attempts in total, the first included; >= 1 (1 = never retry)
  BackoffParams backoff;
  FailureClassSet on = kDefaultRetryOn;
};

enum class GiveUpReason : std::uint8_t {
  kNone,              // not giving up: the decision is to retry
  kNotRetryableClass, // the class is not in the policy's `on` list (or there was no failure)
  kUnsafe,            // the request may have run upstream and is not known to be idempotent
  kAttemptsExhausted, // max_attempts reached
  kDeadline,          // the wait (backoff or Retry-After) does not fit in the remaining deadline
  kBudgetExhausted,   // the retry budget is spent
  kRecoveryReady,     // the upstream is unreachable and a stale entry or fallback can answer now
  kRestartWaitOver,   // the wait for a restarting upstream (restart_wait.max) is spent
};

// "retrying", "not_retryable_class", "unsafe", "attempts_exhausted", "deadline",
// "budget_exhausted", "recovery_ready", "restart_wait" (label values for metrics and logs).
std::string_view giveUpReasonName(GiveUpReason reason);

struct RetryFacts {
  int attempt = 1; // 1-based number of the attempt that just failed
  FailureClass failure = FailureClass::kNone;
  bool safe = false;                   // mayRetry(...)
  Duration remaining{0};               // until the request's overall deadline (Deadline::remaining)
  std::optional<Duration> retry_after; // parseRetryAfter() of the failed attempt's response
  bool budget_available = true;        // RetryBudget::canRetry(now)
  double draw = 0.0;                   // uniform random number in [0, 1) for the jitter
  // The attempt never reached the upstream (connection refused, or a circuit breaker held it
  // back) while the upstream is restarting or resting. Waiting for it is not another try of the
  // request, so max_attempts does not apply; the deadline, the budget and recheck_after (cut to
  // what is left of the restart wait) still do.
  bool never_sent = false;
  // When set, the wait is cut to this and the next attempt asks again: a circuit breaker may
  // close before the retry_after it announced (a health check saw the upstream come back, or
  // its half-open probe succeeded). retry_after still decides whether waiting fits the deadline.
  std::optional<Duration> recheck_after;
};

struct RetryDecision {
  bool retry = false;
  Duration delay{0}; // when retrying: wait this long, then send the next attempt
  GiveUpReason reason = GiveUpReason::kNone;

  static RetryDecision retryAfter(Duration d) { return {true, d, GiveUpReason::kNone}; }
  static RetryDecision giveUp(GiveUpReason r) { return {false, Duration{0}, r}; }
  bool operator==(const RetryDecision&) const = default;
};

// Checks, in this order (the first failing check is the reason):
//   1. the class is in policy.on                              -> else kNotRetryableClass
//   2. facts.safe                                             -> else kUnsafe
//   3. facts.attempt < policy.max_attempts, unless never_sent -> else kAttemptsExhausted
//   4. wait = backoffDelay(backoff, attempt, draw), raised to Retry-After when given;
//      wait < facts.remaining                                 -> else kDeadline
//   5. facts.budget_available                                 -> else kBudgetExhausted
// The wait is then cut to recheck_after when that is set and shorter.
// The budget comes last so that bulwark_retry_budget_exhausted_total counts only retries that
// every other rule allowed.
RetryDecision decideRetry(const RetryPolicy& policy, const RetryFacts& facts);

} // namespace bulwark::policies
