#include "policies/retry_budget.h"

#include <algorithm>

namespace bulwark::policies {

RetryBudget::RetryBudget(RetryBudgetParams params)
    : params_(params), bucket_width_(std::max<Clock::duration>(
                           std::chrono::duration_cast<Clock::duration>(params.window) / kBuckets,
                           Clock::duration{1})) {}

std::int64_t RetryBudget::bucketIndex(TimePoint now) const {
  // Floor division, so instants before the clock's epoch (fake clocks) still bucket correctly.
  const auto ticks = now.time_since_epoch().count();
  const auto width = bucket_width_.count();
  auto q = ticks / width;
  if (ticks % width != 0 && ticks < 0) {
    --q;
  }
  return static_cast<std::int64_t>(q);
}

RetryBudget::Bucket& RetryBudget::current(TimePoint now) {
  const std::int64_t index = bucketIndex(now);
  const auto slot = static_cast<std::size_t>(((index % kBuckets) + kBuckets) % kBuckets);
  Bucket& b = buckets_[slot];
  if (b.index != index) {
    b = Bucket{index, 0, 0};
  }
  return b;
}

template <typename Field> std::uint64_t RetryBudget::sum(TimePoint now, Field field) const {
  const std::int64_t index = bucketIndex(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.index != INT64_MIN && b.index <= index && b.index > index - kBuckets) {
      total += field(b);
    }
  }
  return total;
}

void RetryBudget::recordRequest(TimePoint now) { ++current(now).requests; }

void RetryBudget::recordRetry(TimePoint now) { ++current(now).retries; }

std::uint64_t RetryBudget::requestsInWindow(TimePoint now) const {
  return sum(now, [](const Bucket& b) { return b.requests; });
}

std::uint64_t RetryBudget::retriesInWindow(TimePoint now) const {
  return sum(now, [](const Bucket& b) { return b.retries; });
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
