#include "proxy/net/allocator_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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
  if (budget_.releasedSinceTrim() < kTrimAfterBytes) {
    return false;
  }
  budget_.takeReleased();
  ++trims_;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  return true;
}

void AllocatorTrim::onTick(uv_timer_t* timer) {
  static_cast<AllocatorTrim*>(timer->data)->trimIfWorthIt();
}

}  // namespace bulwark
