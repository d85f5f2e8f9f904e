#include "policies/deadline.h"

#include <chrono>
#include <doctest/doctest.h>

using namespace bulwark::policies;
using namespace std::chrono_literals;

TEST_CASE("effective per-try timeout is min(per_try, remaining)") {
  struct Row {
    Duration per_try;
    Duration remaining;
    Duration timeout;
    TimeoutKind kind;
  };
  const Row rows[] = {
      {10s, 30s, 10s, TimeoutKind::kPerTry},       {10s, 4s, 4s, TimeoutKind::kDeadline},
      {10s, 10s, 10s, TimeoutKind::kDeadline},     {40s, 30s, 30s, TimeoutKind::kDeadline},
      {10s, 0s, 0s, TimeoutKind::kDeadline},       {10s, -5s, 0s, TimeoutKind::kDeadline},
      {250ms, 251ms, 250ms, TimeoutKind::kPerTry},
  };
  for (const Row& r : rows) {
    CAPTURE(r.per_try.count());
    CAPTURE(r.remaining.count());
    const AttemptTimeout t = attemptTimeout(r.per_try, r.remaining);
    CHECK(t.timeout == r.timeout);
    CHECK(timeoutKindName(t.kind) == timeoutKindName(r.kind));
  }
}

TEST_CASE("a deadline counts down with the injected clock") {
  const TimePoint start = TimePoint{} + 1000s;
  const Deadline deadline(start, 30s);
  CHECK(deadline.at() == start + 30s);
  CHECK(deadline.remaining(start) == 30s);
  CHECK(deadline.remaining(start + 12s) == 18s);
  CHECK_FALSE(deadline.expired(start + 29s));
  CHECK(deadline.expired(start + 30s));
  CHECK(deadline.remaining(start + 30s) == 0s);
  CHECK(deadline.remaining(start + 45s) == 0s);
  // rounds up: a positive remainder is never reported as zero
  CHECK(deadline.remaining(start + 30s - 1us) == 1ms);
}

TEST_CASE("a sequence of attempts under one deadline") {
  // timeout 30s, per_try 10s: attempts at 0s, 11s (after 1s backoff), 23s (after 2s backoff).
  const TimePoint start = TimePoint{} + 5s;
  const Deadline deadline(start, 30s);
  AttemptTimeout a1 = deadline.nextAttempt(10s, start);
  CHECK(a1.timeout == 10s);
  CHECK(a1.kind == TimeoutKind::kPerTry);
  AttemptTimeout a2 = deadline.nextAttempt(10s, start + 11s);
  CHECK(a2.timeout == 10s);
  CHECK(a2.kind == TimeoutKind::kPerTry);
  AttemptTimeout a3 = deadline.nextAttempt(10s, start + 23s);
  CHECK(a3.timeout == 7s);
  CHECK(a3.kind == TimeoutKind::kDeadline);
}
