// One client request's retry state (Envoy's RetryState, without the timer): the deadline that
// bounds all its attempts, the per-try timeout of each, and the answer to "again, and when?"
// after a failed attempt. It owns nothing on the wire: the proxy arms the timers, sends the
// attempts and counts the metrics. Pure; `now` and the random draw come from the caller.
#pragma once

#include "policies/deadline.h"
#include "policies/duration.h"
#include "policies/failure_class.h"
#include "policies/restart_wait.h"
#include "policies/retry.h"
#include "policies/retry_budget.h"

#include <chrono>
#include <optional>

namespace bulwark::policies {

// A request held back by an open circuit asks again this often: the circuit may close before the
// time it announced (a health check saw the upstream come back, or a half-open probe succeeded).
inline constexpr Duration kBreakerRecheck{250};

// What the proxy knows about the attempt that just failed.
struct AttemptFailure {
  int attempt = 1;  // 1-based number of the failed attempt
  FailureClass failure = FailureClass::kNone;
  bool safe = false;  // mayRetry(...) for this outcome; a held-back attempt is always safe
  bool may_have_reached_upstream = true;  // mayHaveReachedUpstream(outcome)
  bool held_back = false;                 // a circuit breaker kept the attempt from being sent
  bool connection_lost = false;  // reset or EOF before any response byte
  bool probe_failing = false;    // the health probe's latest connect failed
  // Since the health probe last connected (zero while it is up); nullopt: never.
  std::optional<Duration> since_seen_up{};
  bool recovery_available = false;  // a stale entry or a fallback can answer this request now
  std::optional<Duration> retry_after{};  // parseRetryAfter() of the response, or the breaker's
};

class RetryState {
public:
  RetryState(const RetryPolicy& retry, const TimeoutPolicy& timeouts,
             const RestartWaitParams& restart_wait, TimePoint started)
      : retry_(retry), restart_wait_(restart_wait), deadline_(started, timeouts.timeout),
        per_try_(timeouts.per_try_timeout) {}

  const Deadline& deadline() const { return deadline_; }
  // What the next attempt's timer is armed with: min(per_try, time left).
  AttemptTimeout attemptTimeout(TimePoint now) const {
    return deadline_.nextAttempt(per_try_, now);
  }

  // Decides, first "wait out a restart, or answer now?" (decideUnreachable), then the retry
  // policy; when the decision is to retry, the retry is recorded in `budget` and the first
  // failure's time is kept (it starts the restart wait). kRecoveryReady tells the caller to
  // answer from the stale entry or the fallback.
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
  const RestartWaitParams& restart_wait_;
  Deadline deadline_;
  Duration per_try_;
  std::optional<TimePoint> first_failure_at_;
};

// A client's broken GET stream is re-opened after this wait (50 ms doubling up to 2 s, then
// every 2 s), for as long as the client holds the stream: an outage of any length costs the
// client nothing but the events sent while the server was down. `reopens_so_far` counts the
// re-opens since the stream last delivered an event or keep-alive.
Duration streamReopenDelay(int reopens_so_far);

// A client's GET stream whose response has not started (no stream yet to keep open) waits for
// a restarting upstream as a POST does: decideUnreachable() with defaults.retry.restart_wait
// (a GET has no stale entry or fallback), trying again at the re-open pace above, the last try
// at `max`. nullopt: no restart to wait for (or the wait is spent): answer the client now.
std::optional<Duration> streamOpenWait(const RestartWaitParams& params,
                                       const UnreachableFacts& facts, int reopens_so_far);

}  // namespace bulwark::policies
