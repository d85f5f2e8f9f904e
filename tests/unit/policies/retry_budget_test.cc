#include "policies/retry_budget.h"

#include <chrono>
#include <doctest/doctest.h>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

// A fake clock the test advances by hand.
struct FakeClock {
  TimePoint now = TimePoint{} + 1000s;
  void advance(Clock::duration d) { now += d; }
};

} // namespace

TEST_CASE("the default ratio is 0.5, sized for 20-30% upstream failures") {
  const RetryBudgetParams params;
  CHECK(params.ratio == doctest::Approx(0.5));
  CHECK(params.min_per_second == doctest::Approx(10));
  CHECK(params.window == 10s);
}

TEST_CASE("ratio without floor: retries at most ratio * requests") {
  FakeClock clock;
  RetryBudget budget({0.2, 0, 10s});
  CHECK_FALSE(budget.canRetry(clock.now)); // no traffic, no floor: nothing
  for (int i = 0; i < 10; ++i) {
    budget.recordRequest(clock.now);
  }
  CHECK(budget.allowance(clock.now) == doctest::Approx(2.0));
  CHECK(budget.tryAcquireRetry(clock.now));
  CHECK(budget.tryAcquireRetry(clock.now));
  CHECK_FALSE(budget.tryAcquireRetry(clock.now)); // exhausted
  CHECK(budget.retriesInWindow(clock.now) == 2);
  budget.recordRequest(clock.now); // 11 requests -> 2.2 allowed: still no third retry
  CHECK_FALSE(budget.canRetry(clock.now));
  for (int i = 0; i < 4; ++i) {
    budget.recordRequest(clock.now); // 15 requests -> 3.0 allowed
  }
  CHECK(budget.canRetry(clock.now));
}

TEST_CASE("canRetry observes without consuming") {
  FakeClock clock;
  RetryBudget budget({1.0, 0, 10s});
  budget.recordRequest(clock.now);
  CHECK(budget.canRetry(clock.now));
  CHECK(budget.canRetry(clock.now));
  CHECK(budget.retriesInWindow(clock.now) == 0);
  budget.recordRetry(clock.now);
  CHECK_FALSE(budget.canRetry(clock.now));
}

TEST_CASE("the floor lets low traffic retry: min_per_second * window") {
  FakeClock clock;
  RetryBudget budget({0.5, 1, 10s}); // floor: 10 retries per 10s window
  int granted = 0;
  while (budget.tryAcquireRetry(clock.now)) {
    ++granted;
    REQUIRE(granted < 1000);
  }
  CHECK(granted == 10);
}

TEST_CASE("exhaustion under a fully failing upstream, then recovery as the window rolls") {
  FakeClock clock;
  RetryBudget budget({0.5, 0, 10s});
  // 100 requests/s, each wanting up to 2 retries, for 10 seconds.
  int granted = 0;
  int denied = 0;
  for (int second = 0; second < 10; ++second) {
    for (int r = 0; r < 100; ++r) {
      budget.recordRequest(clock.now);
      for (int retry = 0; retry < 2; ++retry) {
        budget.tryAcquireRetry(clock.now) ? ++granted : ++denied;
      }
    }
    clock.advance(1s);
  }
  // Retries never exceed half of the requests: load capped at 1.5x.
  CHECK(granted == 500);
  CHECK(denied == 1500);
  // Traffic stops; the window rolls past everything: no requests, no retries, no allowance.
  clock.advance(10s);
  CHECK(budget.requestsInWindow(clock.now) == 0);
  CHECK(budget.retriesInWindow(clock.now) == 0);
  // Recovery: new requests earn retries again.
  budget.recordRequest(clock.now);
  budget.recordRequest(clock.now);
  CHECK(budget.tryAcquireRetry(clock.now));
  CHECK_FALSE(budget.tryAcquireRetry(clock.now));
}

TEST_CASE("old buckets expire one at a time") {
  FakeClock clock;
  RetryBudget budget({1.0, 0, 10s}); // 1s buckets
  budget.recordRequest(clock.now);
  budget.recordRetry(clock.now);
  clock.advance(5s);
  budget.recordRequest(clock.now);
  CHECK(budget.requestsInWindow(clock.now) == 2);
  CHECK(budget.retriesInWindow(clock.now) == 1);
  CHECK(budget.canRetry(clock.now));
  clock.advance(5s); // the first bucket (10s old) drops out
  CHECK(budget.requestsInWindow(clock.now) == 1);
  CHECK(budget.retriesInWindow(clock.now) == 0);
  clock.advance(4999ms); // second bucket is 9.999s old: still in
  CHECK(budget.requestsInWindow(clock.now) == 1);
  clock.advance(1ms);
  CHECK(budget.requestsInWindow(clock.now) == 0);
}

TEST_CASE("the issue's example ratio 0.2 with floor 10/s") {
  FakeClock clock;
  RetryBudget budget({0.2, 10, 10s});
  for (int i = 0; i < 1000; ++i) {
    budget.recordRequest(clock.now);
  }
  CHECK(budget.allowance(clock.now) == doctest::Approx(300.0)); // 0.2*1000 + 10*10
}
