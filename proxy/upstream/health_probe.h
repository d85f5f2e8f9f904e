// The upstream's health as seen from Bulwark: a TCP connect probe every second (every 200 ms
// while it is down). /readyz and the wait for a restarting upstream read it.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "proxy/net/address.h"

namespace bulwark {

class Metrics;

// Whether the upstream accepts TCP connections, checked every second by a connect probe.
class UpstreamProbe {
public:
  UpstreamProbe(uv_loop_t* loop, const ResolvedAddress& address, Metrics& metrics);
  UpstreamProbe(const UpstreamProbe&) = delete;
  UpstreamProbe& operator=(const UpstreamProbe&) = delete;

  void start();
  void stop();
  bool reachable() const { return reachable_; }
  // The latest probe failed to connect (false before the first probe, and when never started).
  bool failing() const { return probed_ && !reachable_; }
  const std::string& lastError() const { return last_error_; }
  // Whether the upstream accepted a connection within `window` before `now`: it is restarting
  // rather than absent, so requests are worth holding until it is back.
  bool reachableWithin(std::chrono::steady_clock::duration window,
                       std::chrono::steady_clock::time_point now) const {
    return reachable_ || (last_reachable_at_ != std::chrono::steady_clock::time_point{} &&
                          now - last_reachable_at_ <= window);
  }
  // Time since a probe last connected: zero while reachable, nullopt if none ever has.
  std::optional<std::chrono::steady_clock::duration> sinceReachable(
      std::chrono::steady_clock::time_point now) const {
    if (reachable_) {
      return std::chrono::steady_clock::duration::zero();
    }
    if (last_reachable_at_ == std::chrono::steady_clock::time_point{}) {
      return std::nullopt;
    }
    return now - last_reachable_at_;
  }
  // Runs when a probe connects after one failed: the upstream (re)started.
  void setOnReachableAgain(std::function<void()> hook) { on_reachable_again_ = std::move(hook); }

private:
  class Attempt;
  static void onTick(uv_timer_t* timer);
  void probe();
  void report(int status);

  uv_loop_t* loop_;
  ResolvedAddress address_;
  Metrics& metrics_;
  uv_timer_t timer_{};
  Attempt* attempt_ = nullptr;
  bool reachable_ = false;
  bool probed_ = false;
  bool stopped_ = false;
  std::string last_error_ = "not probed yet";
  std::function<void()> on_reachable_again_;
  std::chrono::steady_clock::time_point last_reachable_at_{};
};

}  // namespace bulwark
