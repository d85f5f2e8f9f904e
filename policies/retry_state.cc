#include "policies/retry_state.h"

#include "policies/backoff.h"

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
  facts.never_sent = (failure.held_back || !failure.may_have_reached_upstream) &&
                     failure.upstream_seen_recently;
  if (failure.held_back) {
    facts.recheck_after = kBreakerRecheck;
  }
  const RetryDecision decision = decideRetry(retry_, facts);
  if (decision.retry) {
    budget.recordRetry(now);
    noteFailure(now);
  }
  return decision;
}

std::optional<Duration> streamReopenDelay(int reopens_so_far) {
  if (reopens_so_far >= kMaxStreamReopens) {
    return std::nullopt;
  }
  static constexpr BackoffParams kReopenBackoff{Duration{50}, 2.0, Duration{2000}};
  return backoffCeiling(kReopenBackoff, reopens_so_far + 1);
}

}  // namespace bulwark::policies
