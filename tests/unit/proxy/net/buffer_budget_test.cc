// The process-wide buffer account (limits.max_buffered_bytes): shares charge what they hold and
// give it back, the account says when it is full, and what was released is the trim's cue.
#include "proxy/net/buffer_budget.h"

#include <doctest/doctest.h>

using namespace bulwark;

TEST_CASE("shares charge what they hold, move with it, and give it back when destroyed") {
  BufferBudget budget(1000);
  {
    BufferShare body(budget);
    BufferShare answer(budget);
    body.set(300);
    answer.set(500);
    CHECK(budget.used() == 800);
    answer.set(200);  // shrank
    CHECK(budget.used() == 500);
    CHECK(answer.held() == 200);
    body.set(300);  // unchanged: nothing moves
    CHECK(budget.used() == 500);
  }
  CHECK(budget.used() == 0);
  CHECK(budget.releasedSinceTrim() == 800);  // 300 shrunk away, then 200 + 300 at the end
}

TEST_CASE("the account is exhausted at its limit and has room again once it drains") {
  BufferBudget budget(1000);
  BufferShare share(budget);
  share.set(999);
  CHECK_FALSE(budget.exhausted());
  share.set(1000);
  CHECK(budget.exhausted());
  share.set(5000);
  CHECK(budget.exhausted());
  share.set(10);
  CHECK_FALSE(budget.exhausted());
  budget.setLimit(10);  // a reload to a smaller limit applies at once
  CHECK(budget.exhausted());
}

TEST_CASE("an answer may always be held up to one window; beyond it only while there is room") {
  BufferBudget budget(BufferBudget::kHeldUnderPressure * 4);
  CHECK(budget.allowsHolding(BufferBudget::kHeldUnderPressure * 10));
  BufferShare others(budget);
  others.set(budget.limit());
  CHECK(budget.allowsHolding(BufferBudget::kHeldUnderPressure));
  CHECK_FALSE(budget.allowsHolding(BufferBudget::kHeldUnderPressure + 1));
  others.set(0);
  CHECK(budget.allowsHolding(BufferBudget::kHeldUnderPressure + 1));
}

TEST_CASE("released bytes are counted until taken, and never drive the level below zero") {
  BufferBudget budget(100);
  budget.charge(40);
  budget.release(100);  // more than was charged: the level stops at zero
  CHECK(budget.used() == 0);
  CHECK(budget.takeReleased() == 100);
  CHECK(budget.releasedSinceTrim() == 0);
}

TEST_CASE("the peak is the highest level since it was last reset") {
  BufferBudget budget(1000);
  BufferShare share(budget);
  share.set(700);
  share.set(100);
  CHECK(budget.peak() == 700);
  budget.resetPeak();
  CHECK(budget.peak() == 100);
  share.set(300);
  CHECK(budget.peak() == 300);
}

TEST_CASE("the process's account starts at the 64 MiB default") {
  CHECK(BufferBudget{}.limit() == 64 * 1024 * 1024);
  CHECK(&BufferBudget::process() == &BufferBudget::process());
}
