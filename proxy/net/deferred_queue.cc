#include "proxy/net/deferred_queue.h"

#include <algorithm>
#include <cassert>

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"

namespace bulwark {

DeferredQueue::DeferredQueue(uv_loop_t* loop) {
  const int rc = uv_idle_init(loop, &idle_);
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_idle_init", rc));
    active_ = true;  // there is no handle to start
    return;
  }
  initialised_ = true;
  idle_.data = this;
}

DeferredQueue::~DeferredQueue() { assert(closed() && "DeferredQueue freed before close() ran"); }

void DeferredQueue::schedule(Deferrable& task) {
  if (task.queued_) {
    return;
  }
  task.queued_ = true;
  tasks_.push_back(&task);
  if (!active_) {
    // An active idle handle makes the loop poll without blocking, so the task runs next turn.
    const int rc = uv_idle_start(&idle_, &DeferredQueue::onIdle);
    if (rc != 0) {
      logLine(LogLevel::kError, uvError("uv_idle_start", rc));
      return;
    }
    active_ = true;
  }
}

void DeferredQueue::cancel(Deferrable& task) {
  if (!task.queued_) {
    return;
  }
  task.queued_ = false;
  std::erase(tasks_, &task);
  std::replace(running_.begin(), running_.end(), &task, static_cast<Deferrable*>(nullptr));
}

void DeferredQueue::close() {
  tasks_.clear();
  // A closing handle must never be started again (it would stay linked into the loop after
  // its memory is gone); marking it active costs schedule() no extra test on its hot path.
  active_ = true;
  closing_ = true;
  if (initialised_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), &DeferredQueue::onClosed);
  }
}

void DeferredQueue::onClosed(uv_handle_t* handle) {
  static_cast<DeferredQueue*>(handle->data)->closed_ = true;
}

void DeferredQueue::onIdle(uv_idle_t* idle) {
  auto* self = static_cast<DeferredQueue*>(idle->data);
  self->running_.swap(self->tasks_);
  for (std::size_t i = 0; i < self->running_.size(); ++i) {
    Deferrable* task = self->running_[i];
    if (task != nullptr) {
      task->queued_ = false;
      task->runDeferred();
    }
  }
  self->running_.clear();
  if (self->tasks_.empty()) {
    uv_idle_stop(idle);
    self->active_ = self->closing_;  // a task may have closed the queue: never start it again
  }
}

}  // namespace bulwark
