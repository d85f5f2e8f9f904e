// One process-wide account of the bytes Bulwark buffers on behalf of clients and answers (held
// answers, request bodies, response bytes queued for a client), against
// limits.max_buffered_bytes. While the account is at or over its limit, answers stream instead of
// being held and new requests are refused with 503 (exchange/), so that a few clients cannot
// push the process past a pod's memory limit.
//
// Cheap by design: the loop runs on one thread, so the account is plain integers changed with
// adds on that thread; no atomics, no allocation. Holders own a BufferShare, which charges what
// they hold and gives it back when it shrinks or is destroyed, so the account cannot leak.
#pragma once

#include <cstddef>

namespace bulwark {

class BufferBudget {
public:
  static constexpr std::size_t kDefaultLimit = 64 * 1024 * 1024;

  constexpr BufferBudget() = default;
  constexpr explicit BufferBudget(std::size_t limit) : limit_(limit) {}

  // The process's account. Bulwark runs one loop on one thread, and so do the component tests,
  // which is what makes plain integers enough.
  static BufferBudget& process();

  void setLimit(std::size_t limit) { limit_ = limit; }
  std::size_t limit() const { return limit_; }
  // Bytes buffered now.
  std::size_t used() const { return used_; }
  // At or over the limit: hold nothing more, admit no new request.
  bool exhausted() const { return used_ >= limit_; }

  // Whether an answer may go on being held at `held_bytes`: always up to one stream window
  // (small answers stay judged whole, and retryable), beyond it only while the budget has room.
  static constexpr std::size_t kHeldUnderPressure = 64 * 1024;
  bool allowsHolding(std::size_t held_bytes) const {
    return held_bytes <= kHeldUnderPressure || !exhausted();
  }

  void charge(std::size_t bytes) {
    used_ += bytes;
    peak_ = used_ > peak_ ? used_ : peak_;
  }
  void release(std::size_t bytes) {
    used_ -= bytes <= used_ ? bytes : used_;
    released_since_trim_ += bytes;
  }

  // The highest level since the last resetPeak() (the allocator trim's other cue: a burst).
  std::size_t peak() const { return peak_; }
  void resetPeak() { peak_ = used_; }

  // Bytes released since the last takeReleased() (the allocator trim's cue); resets the count.
  std::size_t releasedSinceTrim() const { return released_since_trim_; }
  std::size_t takeReleased() {
    const std::size_t released = released_since_trim_;
    released_since_trim_ = 0;
    return released;
  }

private:
  std::size_t limit_ = kDefaultLimit;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  std::size_t released_since_trim_ = 0;
};

// What one holder (a connection's request body, an attempt's held answer) has charged to a
// budget. set() moves the charge to the holder's current size; the destructor releases it.
class BufferShare {
public:
  explicit BufferShare(BufferBudget& budget = BufferBudget::process()) : budget_(&budget) {}
  ~BufferShare() { set(0); }
  BufferShare(const BufferShare&) = delete;
  BufferShare& operator=(const BufferShare&) = delete;

  void set(std::size_t bytes) {
    if (bytes > held_) {
      budget_->charge(bytes - held_);
    } else if (bytes < held_) {
      budget_->release(held_ - bytes);
    }
    held_ = bytes;
  }
  std::size_t held() const { return held_; }

private:
  BufferBudget* budget_;
  std::size_t held_ = 0;
};

namespace buffer_budget_detail {
extern constinit BufferBudget g_process_budget;
}  // namespace buffer_budget_detail

inline BufferBudget& BufferBudget::process() { return buffer_budget_detail::g_process_budget; }

}  // namespace bulwark
