// Time units shared by every policy: durations are std::chrono::milliseconds, instants come from
// an injected steady clock (policies never read a clock themselves).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark::policies {

// Millisecond resolution is enough for every timeout and backoff Bulwark arms.
using Duration = std::chrono::milliseconds;
// Monotonic time for deadlines, budgets and windows. Callers pass `now`; tests pass a fake value.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// Parses a duration written as a non-negative decimal number followed by a unit, without spaces:
// "250ms", "30s", "1.5s", "5m", "1h". Fractions are rounded to the nearest millisecond. Returns
// nullopt for anything else (no unit, unknown unit, negative, more than ~31 years).
std::optional<Duration> parseDuration(std::string_view text);

// Parses a plain non-negative number of seconds ("1", "0.25", "30"), the seed's style. nullopt
// otherwise.
std::optional<Duration> parseSeconds(std::string_view text);

// The shortest exact form accepted by parseDuration: 0s, 250ms, 1.5s, 30s, 5m, 1h.
std::string formatDuration(Duration d);

} // namespace bulwark::policies
