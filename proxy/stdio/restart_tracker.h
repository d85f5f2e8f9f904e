// When to restart a stdio child that exited, and when its exits amount to a crash loop. Pure:
// the time is passed in. One tracker covers every child of one command (they run the same
// program, so they fail for the same reasons).
//
// A child that ran at least `stable_after` resets the count. Otherwise each exit in a row waits
// longer (backoff.base * multiplier^(n-1), capped at backoff.max). After `max_restarts` quick
// exits in a row the command is in a crash loop: Bulwark reports it (not ready, gauges) and
// keeps trying only once per backoff.max, so a dependency that comes back is noticed without
// spinning the CPU.
#pragma once

#include <chrono>

#include "policies/backoff.h"

namespace bulwark::stdio {

struct RestartParams {
  policies::BackoffParams backoff{std::chrono::milliseconds(100), 2.0, std::chrono::seconds(5)};
  int max_restarts = 5;
  policies::Duration stable_after{std::chrono::seconds(10)};
};

struct RestartDecision {
  policies::Duration delay{0};
  bool crash_loop = false;
};

class RestartTracker {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit RestartTracker(RestartParams params) : params_(params) {}

  // A child that started at `started_at` exited (or failed to spawn) at `now`.
  RestartDecision childExited(TimePoint started_at, TimePoint now);
  // A child started at `started_at` is still running at `now`: once it has been up long enough
  // the quick-exit count (and a crash loop) is over.
  void childRunning(TimePoint started_at, TimePoint now);

  bool crashLoop() const { return quick_exits_ > params_.max_restarts; }
  int quickExits() const { return quick_exits_; }
  const RestartParams& params() const { return params_; }

private:
  RestartParams params_;
  int quick_exits_ = 0;
};

}  // namespace bulwark::stdio
