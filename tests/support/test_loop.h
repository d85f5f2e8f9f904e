// A fresh libuv loop for one component test (never the default loop), the bounded way to run
// it, and the teardown that proves no handle was left behind.
//
//   TestLoop loop;                                   // uv_loop_init, or the test fails
//   ...start things on loop.get()...
//   CHECK(loop.runUntil([&] { return sink.done; }));  // false if it never happened
//   ...close what the test opened...
//   CHECK(loop.close() == 0);                         // uv_loop_close() of the loop as left
//
// runUntil() and runToEnd() never hang: a watchdog timer wakes the loop after `timeout`, and
// they return false (runToEnd() leaves it unreferenced, so it keeps nothing alive). They are
// not timed assertions: the timeout only turns a stall into a failure instead of a hung test.
//
// close() first lets pending close callbacks run (a few non-blocking turns), then returns what
// uv_loop_close() says. When that is not 0 it names the handles still open (doctest MESSAGE),
// closes them itself and closes the loop, so one leaking case does not break the next. The
// destructor does the same for a test that ended early (a failed REQUIRE): there it only cleans
// up, since the test has already failed.
//
// Doctest assertions belong outside libuv callbacks (an exception must not cross C frames):
// record in the callback, assert after runUntil().
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <string>

namespace bulwark::testing {

class TestLoop {
public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{10000};

  TestLoop() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &watchdog_) == 0);
    watchdog_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog_));
  }
  ~TestLoop() {
    if (open_) {
      static_cast<void>(closeLoop(false));
    }
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  operator uv_loop_t*() { return &loop_; }  // NOLINT: pass it where a uv_loop_t* is wanted

  // Runs loop turns until `done()` holds. Returns false when `timeout` passed first. The
  // watchdog is referenced meanwhile, so unreferenced handles (a poll, a signal) still get
  // their turns.
  template <typename Done>
  bool runUntil(Done done, std::chrono::milliseconds timeout = kDefaultTimeout) {
    if (done()) {
      return true;
    }
    fired_ = false;
    uv_timer_start(&watchdog_, &TestLoop::onWatchdog, static_cast<std::uint64_t>(timeout.count()),
                   0);
    uv_ref(reinterpret_cast<uv_handle_t*>(&watchdog_));
    bool held = false;
    while (!(held = done()) && !fired_) {
      uv_run(&loop_, UV_RUN_ONCE);
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog_));
    uv_timer_stop(&watchdog_);
    return held;
  }

  // Runs until nothing referenced is active (every handle closed or unreferenced, no request
  // pending). False if that did not happen within `timeout`.
  bool runToEnd(std::chrono::milliseconds timeout = kDefaultTimeout) {
    fired_ = false;
    uv_timer_start(&watchdog_, &TestLoop::onWatchdog, static_cast<std::uint64_t>(timeout.count()),
                   0);
    while (!fired_ && uv_run(&loop_, UV_RUN_ONCE) != 0) {
    }
    const bool ended = !fired_;
    uv_timer_stop(&watchdog_);
    return ended;
  }

  // Lets pending close callbacks run, then closes the loop. Returns uv_loop_close()'s first
  // answer: 0, or UV_EBUSY when the test left a handle open (named in a MESSAGE; the harness
  // then closes it so the loop's memory is released all the same).
  int close() { return closeLoop(true); }

private:
  static void onWatchdog(uv_timer_t* timer) { static_cast<TestLoop*>(timer->data)->fired_ = true; }

  int closeLoop(bool report) {
    open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    settle();
    const int rc = uv_loop_close(&loop_);
    if (rc == 0) {
      return 0;
    }
    std::string open_handles;
    uv_walk(
        &loop_,
        [](uv_handle_t* handle, void* names) {
          auto& list = *static_cast<std::string*>(names);
          list += list.empty() ? "" : ", ";
          list += uv_handle_type_name(uv_handle_get_type(handle));
          if (!uv_is_closing(handle)) {
            uv_close(handle, nullptr);  // memory stays with its owner; only the loop is freed
          }
        },
        &open_handles);
    if (report) {
      MESSAGE("uv_loop_close: " << uv_err_name(rc) << "; still open: " << open_handles);
    }
    settle();
    uv_loop_close(&loop_);
    return rc;
  }

  // Close callbacks run at the end of a loop turn; a callback may close another handle.
  void settle() {
    for (int turn = 0; turn < 16; ++turn) {
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
  }

  uv_loop_t loop_{};
  uv_timer_t watchdog_{};
  bool fired_ = false;
  bool open_ = true;
};

}  // namespace bulwark::testing
