// DeferredQueue on a fresh loop: tasks run on a later turn, never inline; a cancelled task does
// not run; once closed (also from inside a task) the idle handle is never started again, so the
// loop closes with nothing left.
#include "proxy/net/deferred_queue.h"

#include <doctest/doctest.h>

#include <functional>

#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

struct Task final : Deferrable {
  int runs = 0;
  std::function<void()> also;
  void runDeferred() override {
    ++runs;
    if (also) {
      also();
    }
  }
};

}  // namespace

TEST_CASE("deferred queue: a task runs once on a later turn; a cancelled one never") {
  testing::TestLoop loop;
  DeferredQueue queue(loop);
  Task task;
  Task cancelled;
  queue.schedule(task);
  queue.schedule(task);  // already queued: still once
  queue.schedule(cancelled);
  queue.cancel(cancelled);
  CHECK(task.runs == 0);
  CHECK(loop.runUntil([&] { return task.runs == 1; }));
  CHECK(loop.runToEnd());  // the idle handle stopped: nothing keeps the loop alive
  CHECK(task.runs == 1);
  CHECK(cancelled.runs == 0);
  queue.close();
  CHECK_FALSE(queue.closed());  // until the close callback has run
  CHECK(loop.runToEnd());
  CHECK(queue.closed());
  CHECK(loop.close() == 0);
}

TEST_CASE("deferred queue: closed from inside a task, it is never started again") {
  testing::TestLoop loop;
  DeferredQueue queue(loop);
  Task closer;
  Task late;
  closer.also = [&] { queue.close(); };
  queue.schedule(closer);
  CHECK(loop.runToEnd());
  CHECK(closer.runs == 1);
  CHECK(queue.closed());
  // Starting the closed handle would link it into the loop's idle queue again, and the task
  // would run on the next turns (from freed memory, once the queue is gone). Give the loop a
  // few turns to show that it does not.
  queue.schedule(late);
  CHECK_FALSE(loop.runUntil([&] { return late.runs > 0; }, std::chrono::milliseconds(100)));
  CHECK(late.runs == 0);
  CHECK(loop.close() == 0);
}

}  // namespace bulwark
