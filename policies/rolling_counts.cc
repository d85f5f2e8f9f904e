#include "policies/rolling_counts.h"

#include <algorithm>

namespace bulwark::policies {

RollingCounts::RollingCounts(Duration window)
    : bucket_width_(std::max<Clock::duration>(
          std::chrono::duration_cast<Clock::duration>(window) / kBuckets, Clock::duration{1})) {}

std::int64_t RollingCounts::bucketIndex(TimePoint now) const {
  // Floor division, so instants before the clock's epoch (fake clocks) still bucket correctly.
  const auto ticks = now.time_since_epoch().count();
  const auto width = bucket_width_.count();
  auto q = ticks / width;
  if (ticks % width != 0 && ticks < 0) {
    --q;
  }
  return static_cast<std::int64_t>(q);
}

void RollingCounts::add(TimePoint now, std::uint64_t first, std::uint64_t second) {
  const std::int64_t index = bucketIndex(now);
  const auto slot = static_cast<std::size_t>(((index % kBuckets) + kBuckets) % kBuckets);
  Bucket& b = buckets_[slot];
  if (b.index != index) {
    b = Bucket{index, 0, 0};
  }
  b.first += first;
  b.second += second;
}

template <typename Field> std::uint64_t RollingCounts::sum(TimePoint now, Field field) const {
  const std::int64_t index = bucketIndex(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.index != INT64_MIN && b.index <= index && b.index > index - kBuckets) {
      total += field(b);
    }
  }
  return total;
}

std::uint64_t RollingCounts::first(TimePoint now) const {
  return sum(now, [](const Bucket& b) { return b.first; });
}

std::uint64_t RollingCounts::second(TimePoint now) const {
  return sum(now, [](const Bucket& b) { return b.second; });
}

} // namespace bulwark::policies
