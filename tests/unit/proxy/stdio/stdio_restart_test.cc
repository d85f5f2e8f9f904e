// The stdio supervisor's restart decisions (pure; the time is passed in), and `--` on the
// command line.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "proxy/app/cli.h"
#include "proxy/stdio/restart_tracker.h"

namespace bulwark::stdio {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

RestartParams params() {
  RestartParams p;
  p.backoff = {milliseconds(100), 2.0, milliseconds(1000)};
  p.max_restarts = 3;
  p.stable_after = seconds(10);
  return p;
}

TEST_CASE("quick exits back off exponentially, capped, then count as a crash loop") {
  RestartTracker tracker(params());
  const Clock::time_point t0{};
  const std::vector<long> expected_delays = {100, 200, 400, 1000, 1000};
  const std::vector<bool> expected_loop = {false, false, false, true, true};
  Clock::time_point now = t0;
  for (std::size_t i = 0; i < expected_delays.size(); ++i) {
    const Clock::time_point started = now;
    now += milliseconds(50);  // each child lives 50 ms
    const RestartDecision decision = tracker.childExited(started, now);
    INFO("exit ", i + 1);
    CHECK(decision.delay == milliseconds(expected_delays[i]));
    CHECK(decision.crash_loop == expected_loop[i]);
    CHECK(tracker.crashLoop() == expected_loop[i]);
  }
}

TEST_CASE("a child that ran long enough resets the count, also out of a crash loop") {
  RestartTracker tracker(params());
  Clock::time_point now{};
  for (int i = 0; i < 4; ++i) {
    tracker.childExited(now, now + milliseconds(10));
    now += milliseconds(10);
  }
  REQUIRE(tracker.crashLoop());
  // A new child is still running 9 s later: not yet stable.
  const Clock::time_point started = now;
  tracker.childRunning(started, started + seconds(9));
  CHECK(tracker.crashLoop());
  tracker.childRunning(started, started + seconds(10));
  CHECK_FALSE(tracker.crashLoop());
  CHECK(tracker.quickExits() == 0);
  // Its eventual exit is a first exit again.
  const RestartDecision decision = tracker.childExited(started, started + seconds(60));
  CHECK(decision.delay == milliseconds(100));
  CHECK_FALSE(decision.crash_loop);
}

TEST_CASE("an exit after a long life is a first exit") {
  RestartTracker tracker(params());
  const Clock::time_point t0{};
  tracker.childExited(t0, t0 + milliseconds(1));
  tracker.childExited(t0, t0 + milliseconds(2));
  const RestartDecision decision = tracker.childExited(t0, t0 + seconds(11));
  CHECK(decision.delay == milliseconds(100));
  CHECK(tracker.quickExits() == 1);
}

TEST_CASE("cli: everything after -- is the stdio command, options before it still count") {
  const CliParse parsed = parseCommandLine(
      {"--listen", "127.0.0.1:1", "--", "npx", "-y", "@modelcontextprotocol/server-memory", "--x"});
  REQUIRE(parsed.error.empty());
  CHECK(parsed.options.listen == "127.0.0.1:1");
  CHECK(parsed.options.command ==
        std::vector<std::string>{"npx", "-y", "@modelcontextprotocol/server-memory", "--x"});
}

TEST_CASE("cli: -- without a command, or together with --upstream, is an error") {
  CHECK(parseCommandLine({"--"}).error ==
        "'--' must be followed by the command of a stdio MCP server");
  CHECK(parseCommandLine({"--upstream", "http://127.0.0.1:1/mcp", "--", "x"}).error ==
        "give either --upstream URL or -- COMMAND, not both");
}

}  // namespace
}  // namespace bulwark::stdio
