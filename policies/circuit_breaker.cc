#include "policies/circuit_breaker.h"

#include <algorithm>

namespace bulwark::policies {

std::string_view circuitStateName(CircuitState state) {
  switch (state) {
  case CircuitState::kClosed:
    return "closed";
  case CircuitState::kOpen:
    return "open";
  case CircuitState::kHalfOpen:
    return "half_open";
  }
  return "closed";
}

int circuitStateGaugeValue(CircuitState state) {
  switch (state) {
  case CircuitState::kClosed:
    return 0;
  case CircuitState::kHalfOpen:
    return 1;
  case CircuitState::kOpen:
    return 2;
  }
  return 0;
}

std::string_view circuitRejectionName(CircuitRejection reason) {
  switch (reason) {
  case CircuitRejection::kNone:
    return "none";
  case CircuitRejection::kOpen:
    return "open";
  case CircuitRejection::kProbesBusy:
    return "probes_busy";
  }
  return "none";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerParams params)
    : params_(params), bucket_width_(std::max<Clock::duration>(
                           std::chrono::duration_cast<Clock::duration>(params.window) / kBuckets,
                           Clock::duration{1})) {
  params_.min_requests = std::max(params_.min_requests, 1);
  params_.half_open_probes = std::max(params_.half_open_probes, 1);
}

std::int64_t CircuitBreaker::bucketIndex(TimePoint now) const {
  // Floor division, so instants before the clock's epoch (fake clocks) still bucket correctly.
  const auto ticks = now.time_since_epoch().count();
  const auto width = bucket_width_.count();
  auto q = ticks / width;
  if (ticks % width != 0 && ticks < 0) {
    --q;
  }
  return static_cast<std::int64_t>(q);
}

CircuitBreaker::Bucket& CircuitBreaker::current(TimePoint now) {
  const std::int64_t index = bucketIndex(now);
  const auto slot = static_cast<std::size_t>(((index % kBuckets) + kBuckets) % kBuckets);
  Bucket& b = buckets_[slot];
  if (b.index != index) {
    b = Bucket{index, 0, 0};
  }
  return b;
}

std::uint64_t CircuitBreaker::attemptsInWindow(TimePoint now) const {
  const std::int64_t index = bucketIndex(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.index != INT64_MIN && b.index <= index && b.index > index - kBuckets) {
      total += b.attempts;
    }
  }
  return total;
}

std::uint64_t CircuitBreaker::failuresInWindow(TimePoint now) const {
  const std::int64_t index = bucketIndex(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.index != INT64_MIN && b.index <= index && b.index > index - kBuckets) {
      total += b.failures;
    }
  }
  return total;
}

CircuitTransition CircuitBreaker::moveTo(CircuitState to, TimePoint now) {
  const CircuitTransition t{state_, to};
  state_ = to;
  ++epoch_;
  ++transition_count_;
  buckets_.fill(Bucket{});
  probes_in_flight_ = 0;
  probe_successes_ = 0;
  if (to == CircuitState::kOpen) {
    open_until_ = now + params_.open_for;
  }
  return t;
}

std::optional<CircuitTransition> CircuitBreaker::refresh(TimePoint now) {
  if (params_.enabled && state_ == CircuitState::kOpen && now >= open_until_) {
    return moveTo(CircuitState::kHalfOpen, now);
  }
  return std::nullopt;
}

CircuitState CircuitBreaker::state(TimePoint now) const {
  if (state_ == CircuitState::kOpen && now >= open_until_) {
    return CircuitState::kHalfOpen;
  }
  return state_;
}

Duration CircuitBreaker::openRemaining(TimePoint now) const {
  if (state(now) != CircuitState::kOpen) {
    return Duration{0};
  }
  return std::max(Duration{1}, std::chrono::ceil<Duration>(open_until_ - now));
}

CircuitPermit CircuitBreaker::allow(TimePoint now) {
  CircuitPermit permit;
  if (!params_.enabled) {
    permit.epoch = 0; // reports under it are ignored
    return permit;
  }
  permit.transition = refresh(now);
  permit.epoch = epoch_;
  switch (state_) {
  case CircuitState::kClosed:
    return permit;
  case CircuitState::kOpen:
    permit.allowed = false;
    permit.rejection = CircuitRejection::kOpen;
    permit.retry_after = openRemaining(now);
    return permit;
  case CircuitState::kHalfOpen:
    if (probes_in_flight_ < params_.half_open_probes) {
      ++probes_in_flight_;
      permit.probe = true;
      return permit;
    }
    permit.allowed = false;
    permit.rejection = CircuitRejection::kProbesBusy;
    permit.retry_after = std::max(Duration{1}, params_.open_for);
    return permit;
  }
  return permit;
}

std::optional<CircuitTransition> CircuitBreaker::tripIfFailing(TimePoint now) {
  const std::uint64_t attempts = attemptsInWindow(now);
  const std::uint64_t failures = failuresInWindow(now);
  if (failures > 0 && attempts >= static_cast<std::uint64_t>(params_.min_requests) &&
      static_cast<double>(failures) >=
          params_.failure_ratio * static_cast<double>(attempts) - 1e-9) {
    return moveTo(CircuitState::kOpen, now);
  }
  return std::nullopt;
}

bool CircuitBreaker::releaseProbe(const CircuitPermit& permit) {
  if (!permit.probe || permit.epoch != epoch_ || state_ != CircuitState::kHalfOpen) {
    return false;
  }
  probes_in_flight_ = std::max(0, probes_in_flight_ - 1);
  return true;
}

std::optional<CircuitTransition> CircuitBreaker::onSuccess(TimePoint now,
                                                           const CircuitPermit& permit) {
  if (!params_.enabled || !permit.allowed || permit.epoch != epoch_) {
    return std::nullopt; // disabled, or a result from an earlier state period
  }
  if (state_ == CircuitState::kHalfOpen) {
    if (!releaseProbe(permit)) {
      return std::nullopt;
    }
    if (++probe_successes_ >= params_.half_open_probes) {
      return moveTo(CircuitState::kClosed, now);
    }
    return std::nullopt;
  }
  if (state_ != CircuitState::kClosed) {
    return std::nullopt;
  }
  ++current(now).attempts;
  // A success cannot raise the ratio, but it can complete the minimum volume of a window that is
  // already mostly failures: evaluate after every attempt.
  return tripIfFailing(now);
}

std::optional<CircuitTransition> CircuitBreaker::onFailure(TimePoint now,
                                                           const CircuitPermit& permit) {
  if (!params_.enabled || !permit.allowed || permit.epoch != epoch_) {
    return std::nullopt;
  }
  if (state_ == CircuitState::kHalfOpen) {
    if (!releaseProbe(permit)) {
      return std::nullopt;
    }
    return moveTo(CircuitState::kOpen, now);
  }
  if (state_ != CircuitState::kClosed) {
    return std::nullopt;
  }
  Bucket& b = current(now);
  ++b.attempts;
  ++b.failures;
  return tripIfFailing(now);
}

std::optional<CircuitTransition>
CircuitBreaker::onResult(TimePoint now, const CircuitPermit& permit, FailureClass result) {
  if (params_.on.contains(result) && !kNeverBreakerFailures.contains(result)) {
    return onFailure(now, permit);
  }
  return onSuccess(now, permit);
}

void CircuitBreaker::onAbandoned(const CircuitPermit& permit) {
  if (params_.enabled && permit.allowed) {
    releaseProbe(permit);
  }
}

} // namespace bulwark::policies
