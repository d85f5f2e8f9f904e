#include "policies/retry_budget.h"

#include <algorithm>

namespace bulwark::policies {

RetryBudget::RetryBudget(RetryBudgetParams params) : params_(params), counts_(params.window) {}

void RetryBudget::recordRequest(TimePoint now) { counts_.add(now, 1, 0); }

void RetryBudget::recordRetry(TimePoint now) { counts_.add(now, 0, 1); }

std::uint64_t RetryBudget::requestsInWindow(TimePoint now) const {
  return counts_.first(now);
}

std::uint64_t RetryBudget::retriesInWindow(TimePoint now) const {
  return counts_.second(now);
}

double RetryBudget::allowance(TimePoint now) const {
  const double window_seconds = std::chrono::duration<double>(params_.window).count();
  return params_.ratio * static_cast<double>(requestsInWindow(now)) +
         params_.min_per_second * window_seconds;
}

bool RetryBudget::canRetry(TimePoint now) const {
  return static_cast<double>(retriesInWindow(now)) + 1.0 <= allowance(now) + 1e-9;
}

bool RetryBudget::tryAcquireRetry(TimePoint now) {
  if (!canRetry(now)) {
    return false;
  }
  recordRetry(now);
  return true;
}

} // namespace bulwark::policies
