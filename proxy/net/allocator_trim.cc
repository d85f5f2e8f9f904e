#include "proxy/net/allocator_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"

namespace bulwark {

std::string AllocatorTrim::start(std::chrono::milliseconds interval) {
  if (const int rc = uv_timer_init(loop_, &timer_); rc != 0) {
    return uvError("uv_timer_init", rc);
  }
  started_ = true;
  timer_.data = this;
  const auto every = static_cast<std::uint64_t>(interval.count());
  if (const int rc = uv_timer_start(&timer_, &AllocatorTrim::onTick, every, every); rc != 0) {
    return uvError("uv_timer_start", rc);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  return {};
}

void AllocatorTrim::close() {
  if (!started_) {
    return;
  }
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

bool AllocatorTrim::trimIfWorthIt() {
  const std::size_t level = budget_.used();
  const bool burst_over = budget_.peak() >= kBurstBytes && level <= kQuietBytes;
  if (budget_.releasedSinceTrim() < kTrimAfterBytes && !burst_over) {
    return false;
  }
  if (level <= kQuietBytes) {
    budget_.resetPeak();  // else the burst goes on, and its end trims again
  }
  const std::size_t released = budget_.takeReleased();
  ++trims_;
  int returned = 0;
#if defined(__GLIBC__)
  returned = malloc_trim(0);
#endif
  logLine(LogLevel::kDebug, "allocator trimmed",
          {{"released_bytes", static_cast<std::int64_t>(released)},
           {"buffered_bytes", static_cast<std::int64_t>(level)},
           {"burst_over", burst_over},
           {"returned", returned != 0}});
  return true;
}

void AllocatorTrim::onTick(uv_timer_t* timer) {
  static_cast<AllocatorTrim*>(timer->data)->trimIfWorthIt();
}

}  // namespace bulwark
