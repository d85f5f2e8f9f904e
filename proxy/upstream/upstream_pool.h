// Keep-alive connections to the one upstream origin. Idle connections are reused newest first
// (the one least likely to have been timed out by the server), expire before the server's own
// keep-alive timeout, and are dropped as soon as the server closes them.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <unordered_set>
#include <vector>

#include "proxy/net/address.h"

namespace bulwark {

class UpstreamConnection;

struct UpstreamPoolOptions {
  std::chrono::milliseconds connect_timeout{1000};
  // How long an idle connection is kept. Node's default server keep-alive timeout is 5 s; we
  // stay under it, and under any shorter `Keep-Alive: timeout=N` the server announces.
  std::chrono::milliseconds idle_timeout{4000};
  std::size_t max_idle = 256;
};

class UpstreamPool {
public:
  UpstreamPool(uv_loop_t* loop, const ResolvedAddress& address, const UpstreamPoolOptions& options);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection, or a new one that is connecting. With `fresh`, always a new one (used
  // to resend a request that died on a reused connection before any response byte).
  UpstreamConnection& acquire(bool fresh = false);

  // Closes every connection and the sweep timer (shutdown).
  void close();

  bool closed() const { return closed_; }
  std::size_t idleCount() const { return idle_.size(); }
  std::size_t openCount() const { return open_.size(); }
  const UpstreamPoolOptions& options() const { return options_; }

private:
  friend class UpstreamConnection;
  void returnIdle(UpstreamConnection& connection);
  void connected(UpstreamConnection& connection);
  void forget(UpstreamConnection& connection);
  static void onSweep(uv_timer_t* timer);

  uv_loop_t* loop_;
  ResolvedAddress address_;
  UpstreamPoolOptions options_;
  uv_timer_t sweep_{};
  std::vector<UpstreamConnection*> idle_;  // a stack: back() is the most recently used
  std::unordered_set<UpstreamConnection*> open_;
  // Only connecting and idle connections have a deadline, so the sweep visits those two sets
  // and never the busy ones (10,000 open GET streams would cost it 100,000 visits a second).
  std::unordered_set<UpstreamConnection*> connecting_;
  bool closed_ = false;
};

}  // namespace bulwark
