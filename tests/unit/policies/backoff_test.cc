#include "policies/backoff.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>

using namespace bulwark::policies;
using namespace std::chrono_literals;

TEST_CASE("backoff ceiling grows exponentially and is capped") {
  const BackoffParams p{1s, 2.0, 10s};
  struct Row {
    int retry;
    Duration ceiling;
  };
  const Row rows[] = {{0, 1s}, {1, 1s}, {2, 2s}, {3, 4s}, {4, 8s}, {5, 10s}, {6, 10s}, {1000, 10s}};
  for (const Row& r : rows) {
    CAPTURE(r.retry);
    CHECK(backoffCeiling(p, r.retry) == r.ceiling);
  }
}

TEST_CASE("backoff with a fractional multiplier and millisecond base") {
  const BackoffParams p{50ms, 1.5, 500ms};
  CHECK(backoffCeiling(p, 1) == 50ms);
  CHECK(backoffCeiling(p, 2) == 75ms);
  CHECK(backoffCeiling(p, 3) == 112ms); // 112.5 truncated
  CHECK(backoffCeiling(p, 7) == 500ms); // 569.5 capped
}

TEST_CASE("full jitter: exact delays for scripted draws") {
  const BackoffParams p{1s, 2.0, 10s};
  struct Row {
    int retry;
    double draw;
    Duration delay;
  };
  const Row rows[] = {
      {1, 0.0, 0ms},    {1, 0.5, 500ms},  {1, 0.25, 250ms}, {1, 0.9999999, 1000ms},
      {2, 0.5, 1000ms}, {3, 0.5, 2000ms}, {3, 0.1, 400ms},  {4, 0.75, 6000ms},
      {5, 0.5, 5000ms}, {9, 0.5, 5000ms}, {2, 1.0, 2000ms}, {2, 7.0, 2000ms}, // clamped
      {2, -0.5, 0ms},   {1, 0.001, 1ms},
  };
  for (const Row& r : rows) {
    CAPTURE(r.retry);
    CAPTURE(r.draw);
    CHECK(backoffDelay(p, r.retry, r.draw) == r.delay);
  }
}

TEST_CASE("a scripted random source drives a whole retry sequence") {
  const BackoffParams p{100ms, 2.0, 1s};
  const double draws[] = {0.5, 0.5, 0.5, 0.5, 0.5};
  const Duration expected[] = {50ms, 100ms, 200ms, 400ms, 500ms};
  for (int n = 1; n <= 5; ++n) {
    CHECK(backoffDelay(p, n, draws[n - 1]) == expected[n - 1]);
  }
}

TEST_CASE("zero base means immediate retries") {
  const BackoffParams p{0ms, 2.0, 0ms};
  CHECK(backoffDelay(p, 1, 0.99) == 0ms);
  CHECK(backoffDelay(p, 10, 0.99) == 0ms);
}

namespace {

std::chrono::system_clock::time_point at(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

} // namespace

TEST_CASE("Retry-After as delay-seconds") {
  const auto now = at(2025, 6, 1, 12, 0, 0);
  CHECK(parseRetryAfter("0", now) == Duration{0});
  CHECK(parseRetryAfter("3", now) == Duration{3000});
  CHECK(parseRetryAfter("  120 ", now) == Duration{120000});
  CHECK(parseRetryAfter("99999999999999999999", now) == Duration{1'000'000'000'000});
  CHECK_FALSE(parseRetryAfter("", now).has_value());
  CHECK_FALSE(parseRetryAfter("-1", now).has_value());
  CHECK_FALSE(parseRetryAfter("1.5", now).has_value());
  CHECK_FALSE(parseRetryAfter("5s", now).has_value());
}

TEST_CASE("Retry-After as HTTP-date in the three formats") {
  const auto now = at(1994, 11, 6, 8, 49, 30);
  CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now) == Duration{7000});
  CHECK(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now) == Duration{7000});
  CHECK(parseRetryAfter("Sun Nov  6 08:49:37 1994", now) == Duration{7000});
  CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:50:30 GMT", now) == Duration{60000});
  // in the past: retry now
  CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", now) == Duration{0});
  // a sub-second `now` never makes us wait less than asked
  CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now + std::chrono::milliseconds(250)) ==
        Duration{6750});
}

TEST_CASE("Retry-After dates centuries away neither overflow nor wait forever") {
  // Found by tests/fuzz: year 3994 overflowed the system clock's nanoseconds.
  const auto now = at(2025, 6, 1, 12, 0, 0);
  CHECK(parseRetryAfter("Sun, 06 Nov 3994 08:49:37 GMT", now) ==
        std::chrono::duration_cast<Duration>(std::chrono::seconds{1'000'000'000}));
  CHECK(parseRetryAfter("Sun, 06 Nov 9999 08:49:37 GMT", now) ==
        parseRetryAfter("99999999999999999999", now));
  CHECK(parseRetryAfter("Sun, 06 Nov 0001 08:49:37 GMT", now) == Duration{0});
}

TEST_CASE("Retry-After RFC 850 two-digit years use the 50-year rule") {
  const auto now = at(2025, 1, 1, 0, 0, 0);
  // 26 -> 2026 (one year ahead)
  auto d = parseRetryAfter("Thursday, 01-Jan-26 00:00:00 GMT", now);
  REQUIRE(d.has_value());
  CHECK(*d == std::chrono::duration_cast<Duration>(std::chrono::days{365}));
  // 94 -> 1994 (past), not 2094
  CHECK(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now) == Duration{0});
}

TEST_CASE("Retry-After rejects malformed dates") {
  const auto now = at(2025, 6, 1, 12, 0, 0);
  const char* bad[] = {
      "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT extra",
      "Sun, 06 Nov 1994 08:49 GMT",    "tomorrow",
      "Sun Nov  6 08:49:37 94",
  };
  for (const char* value : bad) {
    const std::string shown = value;
    CAPTURE(shown);
    CHECK_FALSE(parseRetryAfter(value, now).has_value());
  }
}
