// The exchange's one source of time: every deadline, window, breaker and duration of a proxied
// request is read here. In production it is std::chrono::steady_clock; a test moves it forward
// to reach a deadline or a window without waiting (libuv's timers still run in real time, so a
// test that advances the clock tests the decisions, not the timers).
#pragma once

#include <chrono>

namespace bulwark {

class ExchangeClock {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  TimePoint now() const { return std::chrono::steady_clock::now() + offset_; }
  // The same instant as `real` (a steady_clock reading taken elsewhere, e.g. when a request's
  // head arrived) on this clock.
  TimePoint fromSteady(TimePoint real) const { return real + offset_; }
  void advance(std::chrono::steady_clock::duration by) { offset_ += by; }

private:
  std::chrono::steady_clock::duration offset_{};
};

}  // namespace bulwark
