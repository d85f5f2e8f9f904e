#include "policies/retry_state.h"

#include "policies/backoff.h"

#include <algorithm>

namespace bulwark::policies {

RetryDecision RetryState::onFailure(const AttemptFailure& failure, RetryBudget& budget,
                                    double draw, TimePoint now) {
  RetryFacts facts;
  facts.attempt = failure.attempt;
  facts.failure = failure.failure;
  facts.safe = failure.held_back || failure.safe;  // held back: this attempt never left
  facts.remaining = deadline_.remaining(now);
  facts.retry_after = failure.retry_after;
  facts.budget_available = budget.canRetry(now);
  facts.draw = draw;
  if (failure.held_back) {
    facts.recheck_after = kBreakerRecheck;
  }
  UnreachableFacts unreachable;
  unreachable.never_sent = !failure.held_back && !failure.may_have_reached_upstream;
  unreachable.held_back = failure.held_back;
  unreachable.connection_lost = failure.connection_lost;
  unreachable.probe_failing = failure.probe_failing;
  unreachable.since_seen_up = failure.since_seen_up;
  unreachable.recovery_available = failure.recovery_available;
  unreachable.waited = first_failure_at_
                           ? std::chrono::duration_cast<Duration>(now - *first_failure_at_)
                           : Duration{0};
  const UnreachableDecision wait = decideUnreachable(restart_wait_, unreachable);
  switch (wait.action) {
  case UnreachableAction::kRecoverNow:
    return RetryDecision::giveUp(GiveUpReason::kRecoveryReady);
  case UnreachableAction::kStopWaiting:
    return RetryDecision::giveUp(GiveUpReason::kRestartWaitOver);
  case UnreachableAction::kWaitForRestart:
    facts.never_sent = true;
    facts.recheck_after = std::min(facts.recheck_after.value_or(wait.wait_left), wait.wait_left);
    break;
  case UnreachableAction::kWaitForCircuit:
    facts.never_sent = true;
    break;
  case UnreachableAction::kFollowRetryPolicy:
    break;
  }
  const RetryDecision decision = decideRetry(retry_, facts);
  if (decision.retry) {
    budget.recordRetry(now);
    noteFailure(now);
  }
  return decision;
}

Duration streamReopenDelay(int reopens_so_far) {
  static constexpr BackoffParams kReopenBackoff{Duration{50}, 2.0, Duration{2000}};
  // Past the cap the attempt number no longer matters; clamped so that it cannot overflow.
  return backoffCeiling(kReopenBackoff, std::min(reopens_so_far, 64) + 1);
}

std::optional<Duration> streamOpenWait(const RestartWaitParams& params,
                                       const UnreachableFacts& facts, int reopens_so_far) {
  const UnreachableDecision decision = decideUnreachable(params, facts);
  if (decision.action != UnreachableAction::kWaitForRestart) {
    return std::nullopt;
  }
  return std::min(streamReopenDelay(reopens_so_far), decision.wait_left);
}

}  // namespace bulwark::policies
