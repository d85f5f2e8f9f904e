// Two event counts over a rolling window, shared by the retry budget (requests, retries) and the
// circuit breaker (attempts, failures). The window is kBuckets buckets of window/kBuckets: the
// current bucket is partly elapsed, so counts cover between (kBuckets-1)/kBuckets and 1 times
// `window`, and expire a bucket at a time. Pure; `now` is the caller's.
#pragma once

#include <array>
#include <cstdint>

#include "policies/duration.h"

namespace bulwark::policies {

class RollingCounts {
public:
  static constexpr int kBuckets = 10;

  explicit RollingCounts(Duration window);

  void add(TimePoint now, std::uint64_t first, std::uint64_t second);
  std::uint64_t first(TimePoint now) const;
  std::uint64_t second(TimePoint now) const;
  void clear() { buckets_.fill(Bucket{}); }

private:
  struct Bucket {
    std::int64_t index = INT64_MIN; // absolute bucket number; INT64_MIN: never used
    std::uint64_t first = 0;
    std::uint64_t second = 0;
  };
  std::int64_t bucketIndex(TimePoint now) const;
  template <typename Field> std::uint64_t sum(TimePoint now, Field field) const;

  Clock::duration bucket_width_;
  std::array<Bucket, kBuckets> buckets_{};
};

} // namespace bulwark::policies
