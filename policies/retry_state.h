// One client request's retry state (Envoy's RetryState, without the timer): the deadline that
// bounds all its attempts, the per-try timeout of each, and the answer to "again, and when?"
// after a failed attempt. It owns nothing on the wire: the proxy arms the timers, sends the
// attempts and counts the metrics. Pure; `now` and the random draw come from the caller.
#pragma once

#include "policies/deadline.h"
#include "policies/duration.h"
#include "policies/failure_class.h"
#include "policies/retry.h"
#include "policies/retry_budget.h"

#include <chrono>
#include <optional>

namespace bulwark::policies {

// A request held back by an open circuit asks again this often: the circuit may close before the
// time it announced (a health check saw the upstream come back, or a half-open probe succeeded).
inline constexpr Duration kBreakerRecheck{250};
// An upstream seen up this recently is restarting: attempts that never reached it are waits,
// bounded by the deadline. One never seen up (or down for longer) fails after max_attempts.
inline constexpr std::chrono::seconds kRestartWindow{60};

// What the proxy knows about the attempt that just failed.
struct AttemptFailure {
  int attempt = 1;  // 1-based number of the failed attempt
  FailureClass failure = FailureClass::kNone;
  bool safe = false;  // mayRetry(...) for this outcome; a held-back attempt is always safe
  bool may_have_reached_upstream = true;  // mayHaveReachedUpstream(outcome)
  bool held_back = false;                 // a circuit breaker kept the attempt from being sent
  // The upstream was seen up within kRestartWindow (the proxy's health probe says so).
  bool upstream_seen_recently = false;
  std::optional<Duration> retry_after;  // parseRetryAfter() of the response, or the breaker's
};

class RetryState {
public:
  RetryState(const RetryPolicy& retry, const TimeoutPolicy& timeouts, TimePoint started)
      : retry_(retry), deadline_(started, timeouts.timeout), per_try_(timeouts.per_try_timeout) {}

  const Deadline& deadline() const { return deadline_; }
  // What the next attempt's timer is armed with: min(per_try, time left).
  AttemptTimeout attemptTimeout(TimePoint now) const {
    return deadline_.nextAttempt(per_try_, now);
  }

  // Decides; when the decision is to retry, the retry is recorded in `budget` and the first
  // failure's time is kept (for the recovery-duration metric).
  RetryDecision onFailure(const AttemptFailure& failure, RetryBudget& budget, double draw,
                          TimePoint now);

  // A failure that leads to another try outside the retry policy (a resend on a fresh
  // connection, a session re-opened, a stream re-opened): only its time is kept.
  void noteFailure(TimePoint now) {
    if (!first_failure_at_) {
      first_failure_at_ = now;
    }
  }
  std::optional<TimePoint> firstFailureAt() const { return first_failure_at_; }
  // A recovery (stale, fallback) has been counted: a later success is not one more.
  void forgetFailures() { first_failure_at_.reset(); }

private:
  const RetryPolicy& retry_;
  Deadline deadline_;
  Duration per_try_;
  std::optional<TimePoint> first_failure_at_;
};

// A client's broken GET stream is re-opened after this wait (50 ms doubling up to 2 s), at most
// kMaxStreamReopens times in a row; nullopt once those are spent. `reopens_so_far` counts the
// re-opens since the stream last delivered an event.
inline constexpr int kMaxStreamReopens = 20;
std::optional<Duration> streamReopenDelay(int reopens_so_far);

}  // namespace bulwark::policies
