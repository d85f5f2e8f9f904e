#include "policies/circuit_breaker.h"

#include <chrono>
#include <doctest/doctest.h>
#include <vector>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  TimePoint now = TimePoint{} + 1000s;
  void advance(Clock::duration d) { now += d; }
};

// ratio 0.5, 4 attempts minimum, 10s window (1s buckets), open 5s, `probes` probes.
CircuitBreakerParams small(int probes = 1) {
  CircuitBreakerParams p;
  p.failure_ratio = 0.5;
  p.min_requests = 4;
  p.window = 10s;
  p.open_for = 5s;
  p.half_open_probes = probes;
  return p;
}

// One attempt: asks for a permit (which must be granted) and reports its result.
std::optional<CircuitTransition> attempt(CircuitBreaker& b, TimePoint now, bool ok) {
  const CircuitPermit p = b.allow(now);
  REQUIRE(p.allowed);
  return ok ? b.onSuccess(now, p) : b.onFailure(now, p);
}

constexpr CircuitTransition kClosedToOpen{CircuitState::kClosed, CircuitState::kOpen};
constexpr CircuitTransition kOpenToHalfOpen{CircuitState::kOpen, CircuitState::kHalfOpen};
constexpr CircuitTransition kHalfOpenToClosed{CircuitState::kHalfOpen, CircuitState::kClosed};
constexpr CircuitTransition kHalfOpenToOpen{CircuitState::kHalfOpen, CircuitState::kOpen};

// Drives a breaker with small() params to open at clock.now.
void tripOpen(CircuitBreaker& b, FakeClock& clock) {
  for (int i = 0; i < 3; ++i) {
    REQUIRE_FALSE(attempt(b, clock.now, false).has_value());
  }
  REQUIRE(attempt(b, clock.now, false) == kClosedToOpen);
  REQUIRE(b.state(clock.now) == CircuitState::kOpen);
}

} // namespace

TEST_CASE("defaults: the design's sketch, counting upstream, timeout and overload") {
  const CircuitBreakerParams p;
  CHECK(p.enabled);
  CHECK(p.failure_ratio == doctest::Approx(0.5));
  CHECK(p.min_requests == 20);
  CHECK(p.window == 10s);
  CHECK(p.open_for == 5s);
  CHECK(p.half_open_probes == 1);
  CHECK(p.on ==
        FailureClassSet{FailureClass::kUpstream, FailureClass::kTimeout, FailureClass::kOverload});
  for (FailureClass never : {FailureClass::kInvalidInput, FailureClass::kPermission,
                             FailureClass::kToolError, FailureClass::kNone}) {
    CHECK_FALSE(p.on.contains(never));
    CHECK(kNeverBreakerFailures.contains(never));
  }
}

TEST_CASE("names and gauge values") {
  CHECK(circuitStateName(CircuitState::kClosed) == "closed");
  CHECK(circuitStateName(CircuitState::kOpen) == "open");
  CHECK(circuitStateName(CircuitState::kHalfOpen) == "half_open");
  CHECK(circuitStateGaugeValue(CircuitState::kClosed) == 0);
  CHECK(circuitStateGaugeValue(CircuitState::kHalfOpen) == 1);
  CHECK(circuitStateGaugeValue(CircuitState::kOpen) == 2);
  CHECK(circuitRejectionName(CircuitRejection::kOpen) == "open");
  CHECK(circuitRejectionName(CircuitRejection::kProbesBusy) == "probes_busy");
  CHECK(circuitRejectionName(CircuitRejection::kNone) == "none");
}

TEST_CASE("closed -> open: needs the minimum volume, then opens at exactly the ratio") {
  FakeClock clock;
  SUBCASE("failures below the minimum volume never open it") {
    CircuitBreaker b(small());
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(attempt(b, clock.now, false).has_value());
    }
    CHECK(b.state(clock.now) == CircuitState::kClosed);
    CHECK(b.failuresInWindow(clock.now) == 3);
    CHECK(b.attemptsInWindow(clock.now) == 3);
    // The fourth attempt completes the volume: 4/4 failed.
    CHECK(attempt(b, clock.now, false) == kClosedToOpen);
    CHECK(b.transitionCount() == 1);
  }
  SUBCASE("ratio exactly 0.5 opens") {
    CircuitBreaker b(small());
    CHECK_FALSE(attempt(b, clock.now, true).has_value());
    CHECK_FALSE(attempt(b, clock.now, true).has_value());
    CHECK_FALSE(attempt(b, clock.now, false).has_value()); // 1/3, volume 3
    CHECK(attempt(b, clock.now, false) == kClosedToOpen);  // 2/4 = 0.5
  }
  SUBCASE("ratio just below stays closed") {
    CircuitBreaker b(small());
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(attempt(b, clock.now, true).has_value());
    }
    CHECK_FALSE(attempt(b, clock.now, false).has_value()); // 1/4
    CHECK_FALSE(attempt(b, clock.now, true).has_value());  // 1/5
    CHECK_FALSE(attempt(b, clock.now, false).has_value()); // 2/6 = 0.33
    CHECK_FALSE(attempt(b, clock.now, false).has_value()); // 3/7 = 0.43
    CHECK(b.state(clock.now) == CircuitState::kClosed);
    CHECK(attempt(b, clock.now, false) == kClosedToOpen); // 4/8 = 0.5
  }
  SUBCASE("a success that completes the volume of a failing window opens it") {
    CircuitBreaker b(small());
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(attempt(b, clock.now, false).has_value());
    }
    CHECK(attempt(b, clock.now, true) == kClosedToOpen); // 3/4 = 0.75
  }
  SUBCASE("all successes never open it") {
    CircuitBreaker b(small());
    for (int i = 0; i < 100; ++i) {
      CHECK_FALSE(attempt(b, clock.now, true).has_value());
    }
    CHECK(b.state(clock.now) == CircuitState::kClosed);
  }
}

TEST_CASE("open rejects with the time left until half-open") {
  FakeClock clock;
  CircuitBreaker b(small());
  tripOpen(b, clock);
  CircuitPermit p = b.allow(clock.now);
  CHECK_FALSE(p.allowed);
  CHECK(p.rejection == CircuitRejection::kOpen);
  CHECK(p.retry_after == 5s);
  CHECK_FALSE(p.transition.has_value());

  clock.advance(1500ms);
  p = b.allow(clock.now);
  CHECK_FALSE(p.allowed);
  CHECK(p.retry_after == 3500ms);
  CHECK(b.openRemaining(clock.now) == 3500ms);

  clock.advance(3499ms + 500us); // 0.5ms left: rounded up, never 0
  p = b.allow(clock.now);
  CHECK_FALSE(p.allowed);
  CHECK(p.retry_after == 1ms);
  CHECK(b.state(clock.now) == CircuitState::kOpen);

  clock.advance(500us); // exactly open_for after opening
  CHECK(b.state(clock.now) == CircuitState::kHalfOpen);
  p = b.allow(clock.now);
  CHECK(p.allowed);
  CHECK(p.probe);
  CHECK(p.transition == kOpenToHalfOpen);
  CHECK(b.probesInFlight() == 1);
}

TEST_CASE("half-open admits at most half_open_probes at once") {
  FakeClock clock;
  CircuitBreaker b(small(2));
  tripOpen(b, clock);
  clock.advance(5s);
  const CircuitPermit p1 = b.allow(clock.now);
  const CircuitPermit p2 = b.allow(clock.now);
  const CircuitPermit p3 = b.allow(clock.now);
  CHECK(p1.allowed);
  CHECK(p1.probe);
  CHECK(p1.transition == kOpenToHalfOpen);
  CHECK(p2.allowed);
  CHECK(p2.probe);
  CHECK_FALSE(p2.transition.has_value());
  CHECK_FALSE(p3.allowed);
  CHECK(p3.rejection == CircuitRejection::kProbesBusy);
  CHECK(p3.retry_after == 5s); // open_for: how long it would stay open if a probe fails
  CHECK(b.probesInFlight() == 2);

  SUBCASE("every probe must succeed to close; a freed slot admits another probe") {
    CHECK_FALSE(b.onSuccess(clock.now, p1).has_value()); // 1 of 2 successes
    CHECK(b.state(clock.now) == CircuitState::kHalfOpen);
    CHECK(b.probesInFlight() == 1);
    CHECK(b.probeSuccesses() == 1);
    const CircuitPermit p4 = b.allow(clock.now);
    CHECK(p4.allowed);
    CHECK(p4.probe);
    CHECK_FALSE(b.allow(clock.now).allowed);
    CHECK(b.onSuccess(clock.now, p2) == kHalfOpenToClosed);
    CHECK(b.state(clock.now) == CircuitState::kClosed);
    // p4 was a probe of the half-open period that is over: its result no longer counts.
    CHECK_FALSE(b.onFailure(clock.now, p4).has_value());
    CHECK(b.attemptsInWindow(clock.now) == 0);
    CHECK(b.state(clock.now) == CircuitState::kClosed);
  }
  SUBCASE("one probe failure reopens for open_for from the failure") {
    clock.advance(2s);
    CHECK(b.onFailure(clock.now, p2) == kHalfOpenToOpen);
    CHECK(b.state(clock.now) == CircuitState::kOpen);
    const CircuitPermit r = b.allow(clock.now);
    CHECK_FALSE(r.allowed);
    CHECK(r.retry_after == 5s);
    // The other probe's late success belongs to the finished half-open period.
    CHECK_FALSE(b.onSuccess(clock.now, p1).has_value());
    CHECK(b.state(clock.now) == CircuitState::kOpen);
  }
}

TEST_CASE("a single probe: success closes with an empty window, failure reopens") {
  FakeClock clock;
  CircuitBreaker b(small());
  tripOpen(b, clock);
  clock.advance(5s);
  CircuitPermit probe = b.allow(clock.now);
  REQUIRE(probe.probe);
  CHECK(b.onFailure(clock.now, probe) == kHalfOpenToOpen);
  clock.advance(4999ms);
  CHECK_FALSE(b.allow(clock.now).allowed);
  clock.advance(1ms);
  probe = b.allow(clock.now);
  REQUIRE(probe.allowed);
  CHECK(probe.transition == kOpenToHalfOpen);
  CHECK(b.onSuccess(clock.now, probe) == kHalfOpenToClosed);
  CHECK(b.transitionCount() == 5); // closed>open>half>open>half>closed
  CHECK(b.attemptsInWindow(clock.now) == 0);
  // The old failures are forgotten: it takes a fresh minimum volume to open again.
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(attempt(b, clock.now, false).has_value());
  }
  CHECK(attempt(b, clock.now, false) == kClosedToOpen);
}

TEST_CASE("the window rolls: counts older than the window stop counting") {
  FakeClock clock; // 1000s: bucket boundaries every whole second
  CircuitBreaker b(small());
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(attempt(b, clock.now, false).has_value());
  }
  SUBCASE("just inside the window they still count") {
    clock.advance(9999ms); // still the 10th bucket
    CHECK(b.attemptsInWindow(clock.now) == 3);
    CHECK(attempt(b, clock.now, false) == kClosedToOpen);
  }
  SUBCASE("once their bucket is window old they are gone") {
    clock.advance(10s);
    CHECK(b.attemptsInWindow(clock.now) == 0);
    CHECK(b.failuresInWindow(clock.now) == 0);
    CHECK_FALSE(attempt(b, clock.now, false).has_value()); // 1/1, below the volume
    CHECK(b.state(clock.now) == CircuitState::kClosed);
  }
}

TEST_CASE("partly expired window: only the recent attempts count towards volume and ratio") {
  FakeClock clock;
  CircuitBreakerParams params = small();
  params.failure_ratio = 0.6;
  CircuitBreaker b(params);
  CHECK_FALSE(attempt(b, clock.now, false).has_value()); // t=0
  CHECK_FALSE(attempt(b, clock.now, false).has_value());
  clock.advance(5s);
  CHECK_FALSE(attempt(b, clock.now, true).has_value()); // t=5s: 2/3
  clock.advance(5s);
  // t=10s: the t=0 failures are gone. Over the whole history this would be 3/4 = 0.75 and open;
  // in the window it is 1/2, below the volume.
  CHECK_FALSE(attempt(b, clock.now, false).has_value());
  CHECK(b.attemptsInWindow(clock.now) == 2);
  CHECK(b.failuresInWindow(clock.now) == 1);
  CHECK(b.state(clock.now) == CircuitState::kClosed);
}

TEST_CASE("the window rolls bucket by bucket") {
  FakeClock clock;
  CircuitBreakerParams params = small();
  params.min_requests = 6;
  CircuitBreaker b(params);
  // t=0: 3 failures; t=5s: 3 successes (3/6 would open at the 6th if all were in the window).
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(attempt(b, clock.now, false).has_value());
  }
  clock.advance(5s);
  for (int i = 0; i < 2; ++i) {
    CHECK_FALSE(attempt(b, clock.now, true).has_value());
  }
  clock.advance(5s); // t=10s: the t=0 bucket has left the window
  CHECK(b.attemptsInWindow(clock.now) == 2);
  CHECK(b.failuresInWindow(clock.now) == 0);
  CHECK_FALSE(attempt(b, clock.now, true).has_value());
  CHECK(b.state(clock.now) == CircuitState::kClosed);
}

TEST_CASE("a permit from before a transition does not count afterwards") {
  FakeClock clock;
  CircuitBreaker b(small());
  const CircuitPermit early = b.allow(clock.now); // granted while closed
  REQUIRE(early.allowed);
  tripOpen(b, clock);
  CHECK_FALSE(b.onFailure(clock.now, early).has_value());
  clock.advance(5s);
  const CircuitPermit probe = b.allow(clock.now);
  REQUIRE(probe.probe);
  // The early attempt's success proves nothing about the upstream now; it frees no slot.
  CHECK_FALSE(b.onSuccess(clock.now, early).has_value());
  CHECK(b.state(clock.now) == CircuitState::kHalfOpen);
  CHECK(b.probesInFlight() == 1);
  CHECK(b.onSuccess(clock.now, probe) == kHalfOpenToClosed);
}

TEST_CASE("a rejected permit reports nothing") {
  FakeClock clock;
  CircuitBreaker b(small());
  tripOpen(b, clock);
  const CircuitPermit rejected = b.allow(clock.now);
  REQUIRE_FALSE(rejected.allowed);
  CHECK_FALSE(b.onFailure(clock.now, rejected).has_value());
  CHECK_FALSE(b.onSuccess(clock.now, rejected).has_value());
  CHECK(b.state(clock.now) == CircuitState::kOpen);
  CHECK(b.openRemaining(clock.now) == 5s);
}

TEST_CASE("onResult: only the configured classes count as failures") {
  FakeClock clock;
  SUBCASE("answers from a working upstream are successes") {
    CircuitBreakerParams params = small();
    // Even if someone put them in `on`, these never count against the circuit.
    params.on = {FailureClass::kUpstream, FailureClass::kToolError, FailureClass::kInvalidInput,
                 FailureClass::kPermission};
    CircuitBreaker b(params);
    for (FailureClass c : {FailureClass::kToolError, FailureClass::kInvalidInput,
                           FailureClass::kPermission, FailureClass::kNone}) {
      const CircuitPermit p = b.allow(clock.now);
      CHECK_FALSE(b.onResult(clock.now, p, c).has_value());
    }
    CHECK(b.attemptsInWindow(clock.now) == 4);
    CHECK(b.failuresInWindow(clock.now) == 0);
  }
  SUBCASE("a class left out of `on` counts as a success") {
    CircuitBreakerParams params = small();
    params.on = {FailureClass::kUpstream};
    CircuitBreaker b(params);
    for (int i = 0; i < 4; ++i) {
      const CircuitPermit p = b.allow(clock.now);
      CHECK_FALSE(b.onResult(clock.now, p, FailureClass::kTimeout).has_value());
    }
    CHECK(b.failuresInWindow(clock.now) == 0);
    const CircuitPermit p = b.allow(clock.now);
    CHECK_FALSE(b.onResult(clock.now, p, FailureClass::kUpstream).has_value()); // 1/5
    CHECK(b.failuresInWindow(clock.now) == 1);
  }
  SUBCASE("the default classes open it") {
    CircuitBreaker b(small());
    std::vector<FailureClass> classes = {FailureClass::kUpstream, FailureClass::kTimeout,
                                         FailureClass::kOverload};
    for (FailureClass c : classes) {
      const CircuitPermit p = b.allow(clock.now);
      CHECK_FALSE(b.onResult(clock.now, p, c).has_value());
    }
    const CircuitPermit p = b.allow(clock.now);
    CHECK(b.onResult(clock.now, p, FailureClass::kUpstream) == kClosedToOpen);
  }
}

TEST_CASE("an abandoned probe frees its slot without deciding anything") {
  FakeClock clock;
  CircuitBreaker b(small());
  tripOpen(b, clock);
  clock.advance(5s);
  const CircuitPermit probe = b.allow(clock.now);
  REQUIRE(probe.probe);
  CHECK_FALSE(b.allow(clock.now).allowed);
  b.onAbandoned(probe);
  CHECK(b.probesInFlight() == 0);
  CHECK(b.state(clock.now) == CircuitState::kHalfOpen);
  b.onAbandoned(probe); // twice is harmless: the count never goes negative
  CHECK(b.probesInFlight() == 0);
  const CircuitPermit next = b.allow(clock.now);
  CHECK(next.allowed);
  CHECK(next.probe);
  CHECK_FALSE(next.transition.has_value());
}

TEST_CASE("refresh applies open -> half_open once, without taking a probe slot") {
  FakeClock clock;
  CircuitBreaker b(small());
  tripOpen(b, clock);
  CHECK_FALSE(b.refresh(clock.now).has_value());
  clock.advance(5s);
  CHECK(b.refresh(clock.now) == kOpenToHalfOpen);
  CHECK_FALSE(b.refresh(clock.now).has_value());
  CHECK(b.probesInFlight() == 0);
  const CircuitPermit p = b.allow(clock.now);
  CHECK(p.probe);
  CHECK_FALSE(p.transition.has_value()); // already reported by refresh
  CHECK(b.transitionCount() == 2);
}

TEST_CASE("a disabled breaker lets everything through and never moves") {
  FakeClock clock;
  CircuitBreakerParams params = small();
  params.enabled = false;
  CircuitBreaker b(params);
  for (int i = 0; i < 50; ++i) {
    const CircuitPermit p = b.allow(clock.now);
    CHECK(p.allowed);
    CHECK_FALSE(b.onFailure(clock.now, p).has_value());
  }
  CHECK(b.state(clock.now) == CircuitState::kClosed);
  CHECK(b.transitionCount() == 0);
}

TEST_CASE("the full cycle: closed, open, half-open, closed, with the default parameters") {
  FakeClock clock;
  CircuitBreaker b; // 0.5 over >= 20 attempts in 10s, open 5s, one probe
  std::vector<CircuitTransition> seen;
  auto note = [&](std::optional<CircuitTransition> t) {
    if (t) {
      seen.push_back(*t);
    }
  };
  for (int i = 0; i < 19; ++i) {
    note(attempt(b, clock.now, false));
  }
  CHECK(seen.empty()); // 19 < min_requests
  note(attempt(b, clock.now, false));
  REQUIRE(seen.size() == 1);
  clock.advance(5s);
  CircuitPermit probe = b.allow(clock.now);
  note(probe.transition);
  note(b.onSuccess(clock.now, probe));
  const std::vector<CircuitTransition> expected = {kClosedToOpen, kOpenToHalfOpen,
                                                   kHalfOpenToClosed};
  CHECK(seen == expected);
}

TEST_CASE("a permit from an earlier closed period does not count in a later one") {
  FakeClock clock;
  CircuitBreaker b(small());
  const CircuitPermit ok_early = b.allow(clock.now);
  const CircuitPermit failed_early = b.allow(clock.now);
  tripOpen(b, clock);
  clock.advance(5s);
  const CircuitPermit probe = b.allow(clock.now);
  REQUIRE(b.onSuccess(clock.now, probe) == kHalfOpenToClosed);
  // Closed again, in a new period: the attempts granted before the circuit opened are ignored.
  CHECK_FALSE(b.onSuccess(clock.now, ok_early).has_value());
  CHECK_FALSE(b.onFailure(clock.now, failed_early).has_value());
  CHECK(b.attemptsInWindow(clock.now) == 0);
  CHECK(b.failuresInWindow(clock.now) == 0);
}

TEST_CASE("probeNow: a health check that sees the target back half-opens an open circuit early") {
  FakeClock clock;
  CircuitBreaker b(small());
  CHECK_FALSE(b.probeNow(clock.now).has_value());  // closed: nothing to do
  tripOpen(b, clock);
  clock.advance(1s);  // 4 s before open_for would end
  CHECK(b.probeNow(clock.now) == kOpenToHalfOpen);
  const CircuitPermit probe = b.allow(clock.now);
  CHECK(probe.allowed);
  CHECK(probe.probe);
  CHECK(b.onSuccess(clock.now, probe) == kHalfOpenToClosed);
  CHECK_FALSE(b.probeNow(clock.now).has_value());
}
