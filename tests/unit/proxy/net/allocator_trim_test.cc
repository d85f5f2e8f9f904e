// The allocator is asked to give memory back only after a large amount was released, and its
// timer leaves nothing behind on the loop.
#include "proxy/net/allocator_trim.h"

#include <doctest/doctest.h>

#include "tests/support/test_loop.h"

using namespace bulwark;
using bulwark::testing::TestLoop;

TEST_CASE("a trim follows a large release, not a small one, and resets the count") {
  TestLoop loop;
  BufferBudget budget(64 * 1024 * 1024);
  AllocatorTrim trim(loop.get(), budget);
  BufferShare busy(budget);  // the level stays up: no burst is over, only releases count
  busy.set(2 * AllocatorTrim::kBurstBytes);
  budget.charge(AllocatorTrim::kTrimAfterBytes);
  budget.release(AllocatorTrim::kTrimAfterBytes - 1);
  CHECK_FALSE(trim.trimIfWorthIt());
  budget.release(1);
  CHECK(trim.trimIfWorthIt());
  CHECK(trim.trims() == 1);
  CHECK(budget.releasedSinceTrim() == 0);
  CHECK_FALSE(trim.trimIfWorthIt());  // nothing released since
  CHECK(loop.close() == 0);
}

TEST_CASE("a trim follows the end of a burst, even when it released less than the threshold") {
  TestLoop loop;
  BufferBudget budget(64 * 1024 * 1024);
  AllocatorTrim trim(loop.get(), budget);
  BufferShare windows(budget);  // slow readers' windows, say
  windows.set(AllocatorTrim::kBurstBytes);
  CHECK_FALSE(trim.trimIfWorthIt());  // still held: nothing to give back
  windows.set(AllocatorTrim::kQuietBytes);
  CHECK(trim.trimIfWorthIt());  // they left
  CHECK_FALSE(trim.trimIfWorthIt());  // once per burst
  windows.set(AllocatorTrim::kBurstBytes - 1);  // a smaller rise is no burst
  windows.set(0);
  CHECK_FALSE(trim.trimIfWorthIt());
  windows.set(AllocatorTrim::kBurstBytes);  // a burst between two ticks counts all the same
  windows.set(0);
  CHECK(trim.trimIfWorthIt());
  CHECK(trim.trims() == 2);
  CHECK(loop.close() == 0);
}

TEST_CASE("the trim timer runs on the loop, keeps it from nothing, and closes cleanly") {
  TestLoop loop;
  BufferBudget budget;
  AllocatorTrim trim(loop.get(), budget);
  REQUIRE(trim.start(std::chrono::milliseconds(1)).empty());
  budget.charge(AllocatorTrim::kTrimAfterBytes);
  budget.release(AllocatorTrim::kTrimAfterBytes);
  CHECK(loop.runUntil([&] { return trim.trims() == 1; }));
  trim.close();
  CHECK(loop.close() == 0);
}
