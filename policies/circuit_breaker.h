// A circuit breaker for one target (the upstream, or one tool): it watches the failure ratio of
// recent attempts and, when the target is clearly failing, stops sending to it for a while so it
// can recover and so clients get an answer at once (stale cache, fallback, or an overload error
// that says when to retry) instead of waiting for attempts that will fail.
//
//   closed --(failure ratio >= failure_ratio over the window, with >= min_requests)--> open
//   open --(open_for elapsed)--> half_open
//   half_open: up to half_open_probes attempts in flight at once;
//              half_open_probes successes in a row --> closed (with an empty window)
//              any failure --> open (for open_for again)
//
// The window is kBuckets buckets of window/kBuckets (like RetryBudget): a bucket leaves the window
// as a whole once it is `window` old, so the effective window is between 9/10 and 10/10 of
// `window`. Counts are of attempts (each upstream exchange), retries included.
//
// Driving it (the proxy, per attempt):
//   permit = breaker.allow(now)           // before sending; count permit.transition if set
//   if (!permit.allowed) -> recover at once (stale/fallback) or fail with permit.retry_after
//   ... the attempt runs ...
//   t = breaker.onResult(now, permit, classify(outcome))   // or onSuccess/onFailure
//   if (t) count t->from -> t->to and set the gauge to circuitStateGaugeValue(t->to)
//   (an attempt that ends without evidence, e.g. the client went away: breaker.onAbandoned(permit))
//
// A permit belongs to the state period it was granted in (its epoch). A result reported under a
// permit from an earlier period is ignored: an attempt started before the circuit opened says
// nothing about the upstream after it reopened, and it must not take or free a probe slot.
//
// Not thread-safe (one event loop). Pure: time comes from the caller. Never throws.
#pragma once

#include "policies/duration.h"
#include "policies/failure_class.h"
#include "policies/rolling_counts.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark::policies {

// What counts as a failure by default: the target is down, slow or shedding load. Never
// invalid_input, permission or tool_error: those are answers from a working upstream.
inline constexpr FailureClassSet kDefaultBreakerFailures = {
    FailureClass::kUpstream, FailureClass::kTimeout, FailureClass::kOverload};

// Classes that may never count as breaker failures (config rejects them in `on`).
inline constexpr FailureClassSet kNeverBreakerFailures = {
    FailureClass::kNone, FailureClass::kInvalidInput, FailureClass::kPermission,
    FailureClass::kToolError};

struct CircuitBreakerParams {
  bool enabled = true;
  double failure_ratio = 0.5;                 // (0, 1]: open when failures/attempts >= this
  int min_requests = 20;                      // >= 1: attempts in the window before it may open
  Duration window{std::chrono::seconds(10)};  // > 0
  Duration open_for{std::chrono::seconds(5)}; // > 0: how long it stays open before probing
  int half_open_probes = 1;                   // >= 1: concurrent probes; successes needed to close
  FailureClassSet on = kDefaultBreakerFailures; // classes that count as failures
  bool operator==(const CircuitBreakerParams&) const = default;
};

enum class CircuitState : std::uint8_t { kClosed, kOpen, kHalfOpen };

// "closed", "open", "half_open" (label values).
std::string_view circuitStateName(CircuitState state);
// The value of the gauge bulwark_circuit_state{target}: 0 closed, 1 half_open, 2 open (ordered by
// severity, so `max` across targets is meaningful).
int circuitStateGaugeValue(CircuitState state);

struct CircuitTransition {
  CircuitState from = CircuitState::kClosed;
  CircuitState to = CircuitState::kClosed;
  bool operator==(const CircuitTransition&) const = default;
};

enum class CircuitRejection : std::uint8_t {
  kNone,       // allowed
  kOpen,       // the circuit is open
  kProbesBusy, // half-open and every probe slot is taken
};

// "none", "open", "probes_busy".
std::string_view circuitRejectionName(CircuitRejection reason);

struct CircuitPermit {
  bool allowed = true;
  // When rejected: how long until a request may be let through. Open: the time left until
  // half-open (at least 1ms). Probes busy: open_for (how long the circuit would stay open if the
  // probe in flight failed), a conservative hint.
  Duration retry_after{0};
  CircuitRejection rejection = CircuitRejection::kNone;
  bool probe = false;      // allowed as a half-open probe (holds a probe slot until reported)
  std::uint64_t epoch = 0; // the state period it was granted in
  // Set when this call moved the breaker (open -> half_open when open_for has elapsed).
  std::optional<CircuitTransition> transition;
};

class CircuitBreaker {
public:
  static constexpr int kBuckets = RollingCounts::kBuckets;

  explicit CircuitBreaker(CircuitBreakerParams params = {});

  // Before an attempt. Disabled breakers allow everything (and never transition). A granted probe
  // takes a slot that onResult/onSuccess/onFailure/onAbandoned gives back.
  CircuitPermit allow(TimePoint now);

  // After an attempt let through by `permit`. Return the transition this caused, if any.
  std::optional<CircuitTransition> onSuccess(TimePoint now, const CircuitPermit& permit);
  std::optional<CircuitTransition> onFailure(TimePoint now, const CircuitPermit& permit);
  // onFailure when params.on contains `result`, else onSuccess (kNone, invalid_input, permission,
  // tool_error, ... all show a working target).
  std::optional<CircuitTransition> onResult(TimePoint now, const CircuitPermit& permit,
                                            FailureClass result);
  // The attempt ended without telling anything about the target (cancelled by the client before
  // an answer): frees its probe slot, counts nothing.
  void onAbandoned(const CircuitPermit& permit);

  // Evidence from outside that the target is back (a health check connected again after
  // failing): an open circuit goes half-open now instead of waiting out open_for, so its probe
  // can close it as soon as the target answers.
  std::optional<CircuitTransition> probeNow(TimePoint now);

  // Applies the time-driven transition (open -> half_open once open_for has elapsed) without
  // asking for a permit, so a timer or a scrape can keep the gauge exact.
  std::optional<CircuitTransition> refresh(TimePoint now);

  // The state as of `now` (reports half_open once open_for has elapsed, even before refresh).
  CircuitState state(TimePoint now) const;
  // Open: the time left until half-open; otherwise 0.
  Duration openRemaining(TimePoint now) const;

  // Window counts (closed state; the window is emptied on every transition).
  std::uint64_t attemptsInWindow(TimePoint now) const;
  std::uint64_t failuresInWindow(TimePoint now) const;
  int probesInFlight() const { return probes_in_flight_; }
  int probeSuccesses() const { return probe_successes_; }
  // Every transition since construction.
  std::uint64_t transitionCount() const { return transition_count_; }

  const CircuitBreakerParams& params() const { return params_; }

private:
  CircuitTransition moveTo(CircuitState to, TimePoint now);
  bool releaseProbe(const CircuitPermit& permit);
  std::optional<CircuitTransition> tripIfFailing(TimePoint now);

  CircuitBreakerParams params_;
  RollingCounts counts_; // first: attempts, second: failures (closed state only)
  CircuitState state_ = CircuitState::kClosed;
  std::uint64_t epoch_ = 1;
  TimePoint open_until_{};
  int probes_in_flight_ = 0;
  int probe_successes_ = 0;
  std::uint64_t transition_count_ = 0;
};

} // namespace bulwark::policies
