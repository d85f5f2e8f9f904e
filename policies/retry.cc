#include "policies/retry.h"

#include <algorithm>

namespace bulwark::policies {

std::string_view giveUpReasonName(GiveUpReason reason) {
  switch (reason) {
  case GiveUpReason::kNone:
    return "retrying";
  case GiveUpReason::kNotRetryableClass:
    return "not_retryable_class";
  case GiveUpReason::kUnsafe:
    return "unsafe";
  case GiveUpReason::kAttemptsExhausted:
    return "attempts_exhausted";
  case GiveUpReason::kDeadline:
    return "deadline";
  case GiveUpReason::kBudgetExhausted:
    return "budget_exhausted";
  case GiveUpReason::kRecoveryReady:
    return "recovery_ready";
  case GiveUpReason::kRestartWaitOver:
    return "restart_wait";
  }
  return "unknown";
}

RetryDecision decideRetry(const RetryPolicy& policy, const RetryFacts& facts) {
  if (facts.failure == FailureClass::kNone || !policy.on.contains(facts.failure)) {
    return RetryDecision::giveUp(GiveUpReason::kNotRetryableClass);
  }
  if (!facts.safe) {
    return RetryDecision::giveUp(GiveUpReason::kUnsafe);
  }
  if (facts.attempt >= policy.max_attempts && !facts.never_sent) {
    return RetryDecision::giveUp(GiveUpReason::kAttemptsExhausted);
  }
  Duration wait = backoffDelay(policy.backoff, facts.attempt, facts.draw);
  if (facts.retry_after) {
    wait = std::max(wait, *facts.retry_after);
  }
  if (wait >= facts.remaining) {
    return RetryDecision::giveUp(GiveUpReason::kDeadline);
  }
  if (!facts.budget_available) {
    return RetryDecision::giveUp(GiveUpReason::kBudgetExhausted);
  }
  if (facts.recheck_after) {
    wait = std::min(wait, *facts.recheck_after);
  }
  return RetryDecision::retryAfter(wait);
}

} // namespace bulwark::policies
