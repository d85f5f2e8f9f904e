// The session directory against the scripted upstream on a fresh loop: sessions it saw opened,
// their recovery (initialize and notifications/initialized replayed with the current request's
// headers, the client's id mapped onto the new upstream id), waiters joining a recovery under
// way, a failed replay, and closing a session while a waiter waits.
#include "proxy/mcp/session_directory.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "tests/support/upstream_fixture.h"

namespace bulwark {
namespace {

using testing::Reply;
using testing::UpstreamFixture;

constexpr std::string_view kInitialize =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})";

struct Waiter final : SessionRecoveryWaiter {
  std::optional<bool> recovered;
  int calls = 0;
  void onSessionRecovered(bool ok) override {
    recovered = ok;
    ++calls;
  }
};

const SessionReplayHeaders kHeaders{"up:1", "Bearer fresh", "2025-06-18"};

}  // namespace

TEST_CASE("sessions: opened sessions are known by the client's id until closed") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  sessions.opened("", kInitialize);  // no id: nothing to track
  CHECK(sessions.knows("c1"));
  CHECK_FALSE(sessions.knows(""));
  CHECK(sessions.active() == 1);
  CHECK(sessions.upstreamIdOf("c1") == "c1");
  CHECK(sessions.upstreamIdOf("unknown") == "unknown");
  Waiter waiter;
  CHECK(sessions.recover("unknown", "unknown", kHeaders, waiter) ==
        SessionDirectory::RecoveryStart::kUnknown);
  sessions.closed("c1");
  CHECK_FALSE(sessions.knows("c1"));
  CHECK(sessions.active() == 0);
  CHECK(f.close() == 0);
}

TEST_CASE("sessions: a lost session is re-opened upstream and the client's id maps onto it") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  f.upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":0,"result":{}})",
                              {{"Mcp-Session-Id", "u2"}}));
  f.upstream.push(Reply::empty(202));

  Waiter first;
  Waiter joined;
  CHECK(sessions.recover("c1", "c1", kHeaders, first) ==
        SessionDirectory::RecoveryStart::kWaiting);
  CHECK(sessions.recover("c1", "c1", kHeaders, joined) ==
        SessionDirectory::RecoveryStart::kWaiting);
  CHECK_FALSE(first.recovered.has_value());  // never inline
  CHECK(f.loop.runUntil([&] { return first.recovered.has_value(); }));
  CHECK(first.recovered == true);
  CHECK(joined.recovered == true);
  CHECK(first.calls == 1);
  CHECK(sessions.upstreamIdOf("c1") == "u2");

  REQUIRE(f.upstream.requests().size() == 2);
  const auto& initialize = f.upstream.requests()[0];
  CHECK(initialize.target == "/mcp");
  CHECK(initialize.body == kInitialize);
  CHECK(initialize.header("authorization") == "Bearer fresh");
  CHECK(initialize.header("mcp-session-id").empty());
  const auto& initialized = f.upstream.requests()[1];
  CHECK(initialized.body == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(initialized.header("mcp-session-id") == "u2");
  CHECK(initialized.header("mcp-protocol-version") == "2025-06-18");

  // A request that was sent under the old upstream id just goes again.
  Waiter late;
  CHECK(sessions.recover("c1", "c1", kHeaders, late) ==
        SessionDirectory::RecoveryStart::kRetryNow);
  CHECK(f.close() == 0);
}

TEST_CASE("sessions: a refused initialize replay fails the recovery and keeps the old id") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  f.upstream.push(Reply::json(500, "{}"));
  Waiter waiter;
  REQUIRE(sessions.recover("c1", "c1", kHeaders, waiter) ==
          SessionDirectory::RecoveryStart::kWaiting);
  CHECK(f.loop.runUntil([&] { return waiter.recovered.has_value(); }));
  CHECK(waiter.recovered == false);
  CHECK(sessions.upstreamIdOf("c1") == "c1");
  CHECK(f.upstream.requests().size() == 1);
  CHECK(f.close() == 0);
}

TEST_CASE("sessions: closing a recovering session tells its waiter, not a forgotten one") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  f.upstream.push(Reply::never());
  Waiter told;
  Waiter gone;
  REQUIRE(sessions.recover("c1", "c1", kHeaders, told) ==
          SessionDirectory::RecoveryStart::kWaiting);
  REQUIRE(sessions.recover("c1", "c1", kHeaders, gone) ==
          SessionDirectory::RecoveryStart::kWaiting);
  sessions.forget("c1", gone);
  CHECK(f.loop.runUntil([&] { return f.upstream.requests().size() == 1; }));
  sessions.closed("c1");
  CHECK(told.recovered == false);
  CHECK_FALSE(gone.recovered.has_value());
  // The replay still in flight ends with the pool; nobody is called again.
  f.pool.close();
  CHECK(f.loop.runUntil([&] { return f.pool.openCount() == 0; }));
  CHECK(told.calls == 1);
  CHECK(f.close() == 0);
}

}  // namespace bulwark
