// The retry budget: a guard against retry storms shared by all requests to one upstream.
//
// Retries are allowed while the retries started in the rolling window stay under
//     ratio * (requests started in the window) + min_per_second * (window in seconds)
// (the Finagle model; the floor keeps low-traffic clients retrying). A retry is allowed when one
// more would still fit: retries + 1 <= allowance. Only first attempts count as requests.
//
// The window is kBuckets buckets of window/kBuckets each; the current bucket is partly elapsed,
// so the effective window is between (kBuckets-1)/kBuckets and 1 times `window`. Counts expire
// with their bucket, so the budget recovers by itself once traffic calms down.
//
// Not thread-safe (one event loop). Time comes from the caller.
#pragma once

#include "policies/duration.h"
#include "policies/rolling_counts.h"

#include <array>
#include <chrono>
#include <cstdint>

namespace bulwark::policies {

struct RetryBudgetParams {
  // Default 0.5, not Envoy's/Finagle's 0.2 (design.md, "Policies"): an upstream failing 20-30% of
  // calls needs about 0.33-0.43 retries per request to hide those failures, so 0.2 would turn part
  // of them into client errors; 0.5 covers that band and still caps the load at 1.5x (plus the
  // floor) when the upstream is fully down. Configs may set 0.2 explicitly.
  double ratio = 0.5;
  double min_per_second = 10;                // the floor, in retries per second; >= 0
  Duration window{std::chrono::seconds(10)}; // > 0
};

class RetryBudget {
public:
  static constexpr int kBuckets = RollingCounts::kBuckets;

  explicit RetryBudget(RetryBudgetParams params);

  // A client request made its first attempt.
  void recordRequest(TimePoint now);
  // Whether one more retry fits now. Pure observation: does not record anything.
  bool canRetry(TimePoint now) const;
  // A retry was started (count it only when the proxy actually sends it).
  void recordRetry(TimePoint now);
  // canRetry() and, if so, recordRetry().
  bool tryAcquireRetry(TimePoint now);

  std::uint64_t requestsInWindow(TimePoint now) const;
  std::uint64_t retriesInWindow(TimePoint now) const;
  // ratio * requests + floor: how many retries the current window allows in total.
  double allowance(TimePoint now) const;

  const RetryBudgetParams& params() const { return params_; }

private:
  RetryBudgetParams params_;
  RollingCounts counts_; // first: requests, second: retries
};

} // namespace bulwark::policies
