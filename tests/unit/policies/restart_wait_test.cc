// decideUnreachable: "wait out a restart, or answer now?", one row per rule.
#include "policies/restart_wait.h"

#include <chrono>
#include <doctest/doctest.h>
#include <optional>
#include <string>
#include <vector>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

struct Row {
  std::string name;
  UnreachableFacts facts;
  UnreachableDecision expected;
};

UnreachableFacts refusedAfterUp(Duration since_up, Duration waited) {
  UnreachableFacts f;
  f.never_sent = true;
  f.since_seen_up = since_up;
  f.waited = waited;
  return f;
}

}  // namespace

TEST_CASE("decideUnreachable: recovery answers come at once, restarts are waited for up to max") {
  const RestartWaitParams params{3s, 60s};
  using A = UnreachableAction;
  std::vector<Row> rows;
  rows.push_back({"a failure from a reachable upstream follows the retry policy",
                  UnreachableFacts{.since_seen_up = 0ms, .recovery_available = true},
                  {A::kFollowRetryPolicy, 0ms}});
  {
    UnreachableFacts f = refusedAfterUp(0ms, 0ms);
    f.recovery_available = true;
    rows.push_back({"refused with a recovery answer: recover now", f, {A::kRecoverNow, 0ms}});
  }
  rows.push_back({"reset before any answer, with a recovery answer: recover now",
                  UnreachableFacts{.connection_lost = true, .recovery_available = true},
                  {A::kRecoverNow, 0ms}});
  rows.push_back({"probe failing, with a recovery answer: recover now",
                  UnreachableFacts{.probe_failing = true, .recovery_available = true},
                  {A::kRecoverNow, 0ms}});
  rows.push_back({"held back by a breaker, with a recovery answer: recover now",
                  UnreachableFacts{.held_back = true, .since_seen_up = 0ms,
                                   .recovery_available = true},
                  {A::kRecoverNow, 0ms}});
  rows.push_back({"held back by a breaker in front of a live upstream: wait for the circuit",
                  UnreachableFacts{.held_back = true, .since_seen_up = 0ms},
                  {A::kWaitForCircuit, 0ms}});
  rows.push_back({"held back while the probe fails: a restart, bounded",
                  UnreachableFacts{.held_back = true, .probe_failing = true,
                                   .since_seen_up = 1s, .waited = 1s},
                  {A::kWaitForRestart, 2s}});
  rows.push_back({"reset without a recovery answer follows the retry policy",
                  UnreachableFacts{.connection_lost = true, .since_seen_up = 0ms},
                  {A::kFollowRetryPolicy, 0ms}});
  rows.push_back({"refused, seen up 1s ago, first failure: wait up to max",
                  refusedAfterUp(1s, 0ms), {A::kWaitForRestart, 3s}});
  rows.push_back({"refused, seen up at the edge of the window: still a restart",
                  refusedAfterUp(60s, 2s), {A::kWaitForRestart, 1s}});
  rows.push_back({"refused, seen up before the window: not a restart",
                  refusedAfterUp(60001ms, 0ms), {A::kFollowRetryPolicy, 0ms}});
  rows.push_back({"refused, never seen up: not a restart",
                  UnreachableFacts{.never_sent = true}, {A::kFollowRetryPolicy, 0ms}});
  rows.push_back({"refused, waited max: stop waiting", refusedAfterUp(5s, 3s),
                  {A::kStopWaiting, 0ms}});
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const UnreachableDecision got = decideUnreachable(params, row.facts);
    CHECK(static_cast<int>(got.action) == static_cast<int>(row.expected.action));
    CHECK(got.wait_left == row.expected.wait_left);
  }
}

TEST_CASE("restart wait defaults: 5s at most, within 60s of the upstream last seen up") {
  const RestartWaitParams defaults;
  CHECK(defaults.max == 5s);
  CHECK(defaults.max <= 5s);  // the production recovery-time threshold
  CHECK(defaults.window == 60s);
  // max 0s: a refused connection is never waited for.
  CHECK(decideUnreachable({0ms, 60s}, refusedAfterUp(0ms, 0ms)).action ==
        UnreachableAction::kStopWaiting);
}
