// Client GET streams waiting to (re)open while the upstream is down. Their backoff grows to 2 s
// (policies::streamReopenDelay); the health probe checks a down upstream every 200 ms, so when it
// sees the upstream reachable again every waiting stream is woken at once and the client's
// notifications resume within a probe interval of the server's return, not a backoff later.
#pragma once

#include <unordered_map>
#include <utility>
#include <vector>

namespace bulwark {

class StreamWakeList {
public:
  // Called from wakeAll() with the waiter's pointer; must not add or remove waiters inline (it
  // starts a timer). A plain function, not a virtual base: every request would pay for the vptr.
  using Wake = void (*)(void* waiter);

  void add(void* waiter, Wake wake) { waiters_.emplace(waiter, wake); }
  void remove(void* waiter) { waiters_.erase(waiter); }
  std::size_t size() const { return waiters_.size(); }

  void wakeAll() {
    const std::vector<std::pair<void*, Wake>> waking(waiters_.begin(), waiters_.end());
    for (const auto& [waiter, wake] : waking) {
      wake(waiter);
    }
  }

private:
  std::unordered_map<void*, Wake> waiters_;
};

} // namespace bulwark
