#include "proxy/http/send_progress.h"

#include <doctest/doctest.h>

namespace bulwark {
namespace {

using std::chrono::milliseconds;
using Clock = SendProgressWatch::Clock;

constexpr milliseconds kTimeout{1000};

TEST_CASE("a connection's first answer still in one pending write is not stalled at once") {
  // The first sweep that sees bytes queued starts the clock; it does not measure from the epoch
  // (found in CI: a fresh reader was closed for send_timeout 0.2 s after it connected).
  SendProgressWatch watch;
  const Clock::time_point start = Clock::now();
  CHECK_FALSE(watch.stalled(8 << 20, 0, start, kTimeout));
  CHECK_FALSE(watch.stalled(8 << 20, 0, start + milliseconds(999), kTimeout));
  CHECK(watch.stalled(8 << 20, 0, start + milliseconds(1000), kTimeout));
}

TEST_CASE("bytes taken restart the clock; an empty queue is never stalled") {
  SendProgressWatch watch;
  const Clock::time_point start = Clock::now();
  CHECK_FALSE(watch.stalled(100, 0, start, kTimeout));
  CHECK_FALSE(watch.stalled(100, 50, start + milliseconds(900), kTimeout));
  CHECK_FALSE(watch.stalled(100, 50, start + milliseconds(1800), kTimeout));
  CHECK(watch.stalled(100, 50, start + milliseconds(1900), kTimeout));
  CHECK_FALSE(watch.stalled(0, 50, start + milliseconds(5000), kTimeout));
  // Queued again after an idle time: the clock starts now, not at the last progress.
  CHECK_FALSE(watch.stalled(10, 50, start + milliseconds(9000), kTimeout));
  CHECK_FALSE(watch.stalled(10, 50, start + milliseconds(9500), kTimeout));
  CHECK(watch.stalled(10, 50, start + milliseconds(10000), kTimeout));
}

}  // namespace
}  // namespace bulwark
