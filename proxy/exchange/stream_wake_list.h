// Client GET streams waiting to (re)open while the upstream is down. Their backoff grows to 2 s
// (policies::streamReopenDelay); the health probe checks a down upstream every 200 ms, so when it
// sees the upstream reachable again every waiting stream is woken at once and the client's
// notifications resume within a probe interval of the server's return, not a backoff later.
#pragma once

#include <unordered_set>
#include <vector>

namespace bulwark {

class StreamWakeList {
public:
  class Waiter {
  public:
    // Called from the list's wakeAll(); must not add or remove waiters inline (start a timer).
    virtual void wakeNow() = 0;

  protected:
    ~Waiter() = default;
  };

  void add(Waiter& waiter) { waiters_.insert(&waiter); }
  void remove(Waiter& waiter) { waiters_.erase(&waiter); }
  std::size_t size() const { return waiters_.size(); }

  void wakeAll() {
    const std::vector<Waiter*> waking(waiters_.begin(), waiters_.end());
    for (Waiter* waiter : waking) {
      waiter->wakeNow();
    }
  }

private:
  std::unordered_set<Waiter*> waiters_;
};

}  // namespace bulwark
