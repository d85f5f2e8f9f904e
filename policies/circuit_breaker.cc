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
    : params_(params), counts_(params.window) {
  params_.min_requests = std::max(params_.min_requests, 1);
  params_.half_open_probes = std::max(params_.half_open_probes, 1);
}

std::uint64_t CircuitBreaker::attemptsInWindow(TimePoint now) const { return counts_.first(now); }

std::uint64_t CircuitBreaker::failuresInWindow(TimePoint now) const {
  return counts_.second(now);
}

CircuitTransition CircuitBreaker::moveTo(CircuitState to, TimePoint now) {
  const CircuitTransition t{state_, to};
  state_ = to;
  ++epoch_;
  ++transition_count_;
  counts_.clear();
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

std::optional<CircuitTransition> CircuitBreaker::probeNow(TimePoint now) {
  if (params_.enabled && state_ == CircuitState::kOpen) {
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
  counts_.add(now, 1, 0);
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
  counts_.add(now, 1, 1);
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
