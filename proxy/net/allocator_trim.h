// Gives memory back to the system after large buffers were freed. glibc keeps freed heap memory
// for reuse, so after a burst of large answers a process stays at its peak resident size even
// though nothing holds the bytes any more; in a pod with a memory limit that is memory no other
// burst can use. Once a second (a timer, never per request) this looks at the buffer budget and
// calls glibc's malloc_trim(0), which returns free pages anywhere in the heap, not only at its
// top, when either
// - more than kTrimAfterBytes of buffers were released since the last trim (large answers
//   passed), or
// - a burst is over: the level had risen past kBurstBytes and is back under kQuietBytes. Slow
//   readers leaving free only their windows, which may add up to less than kTrimAfterBytes, yet
//   they leave the heap full of holes between what stays.
//
// Ownership: the timer is a member; close() closes it and the owner outlives the loop run that
// follows (its close callback touches nothing). The timer does not keep the loop alive.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/net/buffer_budget.h"

namespace bulwark {

class AllocatorTrim {
public:
  static constexpr std::size_t kTrimAfterBytes = 8 * 1024 * 1024;
  static constexpr std::size_t kBurstBytes = 1024 * 1024;
  static constexpr std::size_t kQuietBytes = 128 * 1024;
  static constexpr std::chrono::milliseconds kInterval{1000};

  explicit AllocatorTrim(uv_loop_t* loop, BufferBudget& budget = BufferBudget::process())
      : loop_(loop), budget_(budget) {}
  AllocatorTrim(const AllocatorTrim&) = delete;
  AllocatorTrim& operator=(const AllocatorTrim&) = delete;

  // Starts the timer. Returns an empty string, or what failed.
  std::string start(std::chrono::milliseconds interval = kInterval);
  void close();

  // Trims when enough was released since the last trim; returns whether it did. The timer's
  // work, public for tests.
  bool trimIfWorthIt();
  std::uint64_t trims() const { return trims_; }

private:
  static void onTick(uv_timer_t* timer);

  uv_loop_t* loop_;
  BufferBudget& budget_;
  uv_timer_t timer_{};
  bool started_ = false;
  std::uint64_t trims_ = 0;
};

}  // namespace bulwark
