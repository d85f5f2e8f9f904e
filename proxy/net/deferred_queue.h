// Work to run on the next loop turn, never inline: a connection that finishes a response
// inside an upstream callback resumes its next pipelined request from here, so no callback
// re-enters the object that is still on the stack.
#pragma once

#include <uv.h>

#include <vector>

namespace bulwark {

class Deferrable {
public:
  virtual void runDeferred() = 0;

protected:
  virtual ~Deferrable() = default;

private:
  friend class DeferredQueue;
  bool queued_ = false;
};

class DeferredQueue {
public:
  explicit DeferredQueue(uv_loop_t* loop);
  // Asserts that close() was called and its close callback has run (style rule 6): the idle
  // handle must be unlinked from the loop before its memory goes.
  ~DeferredQueue();
  DeferredQueue(const DeferredQueue&) = delete;
  DeferredQueue& operator=(const DeferredQueue&) = delete;

  void schedule(Deferrable& task);
  // Must be called before a scheduled task's memory is freed.
  void cancel(Deferrable& task);
  // Closes the idle handle; the queue must outlive the loop run that follows.
  void close();
  // True once the idle handle's close callback has run (or it never opened).
  bool closed() const { return !initialised_ || closed_; }

private:
  static void onIdle(uv_idle_t* idle);
  static void onClosed(uv_handle_t* handle);

  uv_idle_t idle_{};
  std::vector<Deferrable*> tasks_;
  std::vector<Deferrable*> running_;
  bool active_ = false;  // the idle handle is started (or must never be: closed, or no handle)
  bool initialised_ = false;
  bool closing_ = false;  // close() was called
  bool closed_ = false;   // ...and its close callback has run
};

}  // namespace bulwark
