// Deadline arithmetic: the overall deadline of one client request bounds all its attempts; each
// attempt also has its own per-try timeout. Pure; `now` comes from the caller's steady clock.
#pragma once

#include "policies/duration.h"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace bulwark::policies {

struct TimeoutPolicy {
  Duration timeout{std::chrono::seconds(30)};         // overall, all attempts included; > 0
  Duration per_try_timeout{std::chrono::seconds(10)}; // one attempt; > 0. May exceed timeout:
                                                      // the deadline then bounds the attempt.
};

// Which timer ends an attempt first (for bulwark_timeouts_total{kind} and the Outcome to report:
// kPerTry -> Outcome::perTryTimeout(), kDeadline -> Outcome::deadlineExceeded()).
enum class TimeoutKind : std::uint8_t { kPerTry, kDeadline };

std::string_view timeoutKindName(TimeoutKind kind); // "per_try", "deadline"

struct AttemptTimeout {
  Duration timeout{0}; // arm the attempt's timer with this (0: the deadline has already passed)
  TimeoutKind kind = TimeoutKind::kPerTry; // which limit it is
};

// The effective per-try timeout: min(per_try, remaining). A tie counts as the deadline, since
// no further attempt could follow it.
AttemptTimeout attemptTimeout(Duration per_try, Duration remaining);

// The instant by which a client request must be answered.
class Deadline {
public:
  Deadline(TimePoint start, Duration total) : at_(start + total) {}

  TimePoint at() const { return at_; }
  // Time left, rounded up to whole milliseconds so that a positive remainder is never reported as
  // zero; zero once the deadline has passed.
  Duration remaining(TimePoint now) const;
  bool expired(TimePoint now) const { return now >= at_; }
  AttemptTimeout nextAttempt(Duration per_try, TimePoint now) const {
    return attemptTimeout(per_try, remaining(now));
  }

private:
  TimePoint at_;
};

} // namespace bulwark::policies
