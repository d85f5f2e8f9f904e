// The session directory against the scripted upstream on a fresh loop: sessions it saw opened,
// their recovery (initialize and notifications/initialized replayed with the current request's
// headers, the client's id mapped onto the new upstream id), waiters joining a recovery under
// way, a failed replay, and closing a session while a waiter waits. Then its bounds: what it
// keeps per handshake, in total and in idle time, one replay per loss, and the upstream sessions
// nobody can reach any more DELETEd.
#include "proxy/mcp/session_directory.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/upstream_fixture.h"

#include <cstdio>
#include <doctest/doctest.h>
#include <optional>
#include <string>
#include <vector>

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

} // namespace

TEST_CASE("sessions: opened sessions are known by the client's id until closed") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  sessions.opened("", kInitialize); // no id: nothing to track
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
  sessions.close(); // its idle sweep timer
  CHECK(f.close() == 0);
}

TEST_CASE("sessions: a lost session is re-opened upstream and the client's id maps onto it") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  SessionDirectory sessions(f.loop, f.pool, f.metrics, "/mcp");
  sessions.opened("c1", kInitialize);
  f.upstream.push(
      Reply::json(200, R"({"jsonrpc":"2.0","id":0,"result":{}})", {{"Mcp-Session-Id", "u2"}}));
  f.upstream.push(Reply::empty(202));

  Waiter first;
  Waiter joined;
  CHECK(sessions.recover("c1", "c1", kHeaders, first) == SessionDirectory::RecoveryStart::kWaiting);
  CHECK(sessions.recover("c1", "c1", kHeaders, joined) ==
        SessionDirectory::RecoveryStart::kWaiting);
  CHECK_FALSE(first.recovered.has_value()); // never inline
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
  CHECK(sessions.recover("c1", "c1", kHeaders, late) == SessionDirectory::RecoveryStart::kRetryNow);
  sessions.close(); // its idle sweep timer
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
  sessions.close(); // its idle sweep timer
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
  sessions.close(); // its idle sweep timer
  CHECK(f.close() == 0);
}

namespace {

// The fake clock of last use (uv_now's domain, milliseconds).
std::uint64_t fake_now_ms = 0;
std::uint64_t fakeNow(const uv_loop_t*) { return fake_now_ms; }

struct RecordingWaiter final : SessionRecoveryWaiter {
  std::vector<bool> heard;
  void onSessionRecovered(bool recovered) override { heard.push_back(recovered); }
};

// A directory with its limits and a fake clock in front of the scripted upstream.
struct BoundedFixture : UpstreamFixture {
  explicit BoundedFixture(SessionLimits limits = {})
      : directory(loop, pool, metrics, "/mcp", limits) {
    fake_now_ms = 1000;
    directory.setClockForTesting(&fakeNow);
  }
  bool metricSays(std::string_view sample) {
    return metrics.serialize().find(sample) != std::string::npos;
  }
  int close() {
    directory.close();
    return UpstreamFixture::close();
  }
  std::vector<const testing::RecordedRequest*> requestsOf(std::string_view method) const {
    std::vector<const testing::RecordedRequest*> out;
    for (const testing::RecordedRequest& request : upstream.requests()) {
      if (request.method == method) {
        out.push_back(&request);
      }
    }
    return out;
  }

  SessionDirectory directory;
};

// Ids of one length, so that every session counts the same bytes.
std::string sessionId(int n) {
  char id[32];
  std::snprintf(id, sizeof id, "session-%04d", n);
  return id;
}

} // namespace

TEST_CASE("sessions: an initialize over max_handshake_bytes is not kept, and is counted") {
  const testing::QuietLogs quiet;
  {
    SessionLimits limits;
    limits.max_handshake_bytes = 1024;
    BoundedFixture f(limits);
    f.directory.opened("small", std::string(1024, 'x'));
    f.directory.opened("padded", std::string(1025, 'x'));
    f.directory.opened("padded-too", std::string(4 * 1024 * 1024, 'x'));
    CHECK(f.directory.knows("small"));
    CHECK_FALSE(f.directory.knows("padded"));
    CHECK_FALSE(f.directory.knows("padded-too"));
    CHECK(f.directory.active() == 1);
    CHECK(f.directory.bytes() < 2048);
    CHECK(f.metricSays(R"(bulwark_sessions_forgotten_total{reason="handshake_too_large"} 2)"));
    // A session not kept is proxied as it is: its id maps to itself.
    CHECK(f.directory.upstreamIdOf("padded") == "padded");
    CHECK(f.close() == 0);
  }
}

TEST_CASE("sessions: all sessions together keep at most max_total_bytes; the least recently used "
          "go first") {
  const testing::QuietLogs quiet;
  {
    const std::string body(1000, 'x');
    const std::size_t per_session =
        SessionDirectory::kSessionOverheadBytes + body.size() + 2 * sessionId(0).size();
    SessionLimits limits;
    limits.max_total_bytes = 3 * per_session;
    BoundedFixture f(limits);
    for (int n = 0; n < 3; ++n) {
      f.directory.opened(sessionId(n), body);
    }
    CHECK(f.directory.active() == 3);
    CHECK(f.directory.bytes() == 3 * per_session);
    static_cast<void>(f.directory.upstreamIdOf(sessionId(0))); // used: now the most recent
    for (int n = 3; n < 100; ++n) {
      f.directory.opened(sessionId(n), body);
      REQUIRE(f.directory.bytes() <= limits.max_total_bytes);
    }
    CHECK(f.directory.active() == 3);
    CHECK_FALSE(f.directory.knows(sessionId(0))); // 97 newer ones pushed it out in the end
    CHECK(f.directory.knows(sessionId(99)));
    CHECK(f.metricSays(R"(bulwark_sessions_forgotten_total{reason="memory"} 97)"));

    // The recently used one outlives an older one that was not used.
    const std::string a = sessionId(1000), b = sessionId(1001), c = sessionId(1002),
                      d = sessionId(1003);
    f.directory.opened(a, body);
    f.directory.opened(b, body);
    f.directory.opened(c, body);
    static_cast<void>(f.directory.upstreamIdOf(a));
    f.directory.opened(d, body);
    CHECK(f.directory.knows(a));
    CHECK_FALSE(f.directory.knows(b));
    CHECK(f.directory.knows(c));
    CHECK(f.directory.knows(d));

    // A lower total at reload applies at once.
    limits.max_total_bytes = per_session;
    f.directory.setLimits(limits);
    CHECK(f.directory.active() == 1);
    CHECK(f.directory.knows(d));
    CHECK(f.metricSays("bulwark_session_bytes " + std::to_string(per_session)));
    CHECK(f.close() == 0);
  }
}

TEST_CASE("sessions: a session unused for idle_timeout is forgotten; a used or held one is not") {
  const testing::QuietLogs quiet;
  {
    SessionLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(1000);
    BoundedFixture f(limits);
    f.directory.opened("used", kInitialize);
    f.directory.opened("idle", kInitialize);
    f.directory.opened("streaming", kInitialize);
    f.directory.hold("streaming"); // its GET stream stays open

    fake_now_ms = 1999;
    f.directory.expireIdle(fake_now_ms);
    CHECK(f.directory.active() == 3);
    static_cast<void>(f.directory.upstreamIdOf("used"));

    fake_now_ms = 2000;
    f.directory.expireIdle(fake_now_ms);
    CHECK(f.directory.knows("used"));
    CHECK_FALSE(f.directory.knows("idle"));
    CHECK(f.directory.knows("streaming"));

    fake_now_ms = 10000;
    f.directory.expireIdle(fake_now_ms);
    CHECK_FALSE(f.directory.knows("used"));
    CHECK(f.directory.knows("streaming"));
    f.directory.release("streaming"); // the stream ended: idle from now on
    f.directory.expireIdle(fake_now_ms + 999);
    CHECK(f.directory.knows("streaming"));
    f.directory.expireIdle(fake_now_ms + 1000);
    CHECK_FALSE(f.directory.knows("streaming"));
    CHECK(f.directory.active() == 0);
    CHECK(f.directory.bytes() == 0);
    CHECK(f.metricSays(R"(bulwark_sessions_forgotten_total{reason="idle"} 3)"));
    CHECK(f.metricSays("bulwark_sessions_active 0"));
    CHECK(f.requestsOf("DELETE").empty()); // never recovered: the client still has them
    CHECK(f.close() == 0);
  }
}

TEST_CASE("sessions: the idle sweep runs by itself on the loop") {
  const testing::QuietLogs quiet;
  {
    SessionLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(20);
    BoundedFixture f(limits);
    f.directory.setClockForTesting(&uv_now);
    f.directory.opened("short-lived", kInitialize);
    // The sweep timer is unreferenced, so the upstream's listener keeps the loop running.
    CHECK(f.loop.runUntil([&] { return !f.directory.knows("short-lived"); }));
    CHECK(f.close() == 0);
  }
}

TEST_CASE(
    "sessions: one loss is replayed once for every request that found it; the replaced upstream "
    "session is DELETEd; a recovered session forgotten later is DELETEd too") {
  const testing::QuietLogs quiet;
  {
    BoundedFixture f;
    f.directory.opened("client-1", kInitialize);
    f.upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":0,"result":{}})",
                                {{"Mcp-Session-Id", "upstream-2"}}));
    f.upstream.push(Reply::empty(202)); // notifications/initialized
    f.upstream.push(Reply::empty(404)); // DELETE client-1: it was lost indeed

    const SessionReplayHeaders headers{"bulwark.test", "Bearer t0ken", "2025-06-18"};
    RecordingWaiter first;
    RecordingWaiter second;
    RecordingWaiter third;
    CHECK(f.directory.recover("client-1", "client-1", headers, first) ==
          SessionDirectory::RecoveryStart::kWaiting);
    CHECK(f.directory.recover("client-1", "client-1", headers, second) ==
          SessionDirectory::RecoveryStart::kWaiting);
    CHECK(f.directory.recover("client-1", "client-1", headers, third) ==
          SessionDirectory::RecoveryStart::kWaiting);
    f.directory.forget("client-1", third); // its client left
    REQUIRE(f.loop.runUntil([&] { return !first.heard.empty() && !second.heard.empty(); }));
    CHECK(first.heard == std::vector<bool>{true});
    CHECK(second.heard == std::vector<bool>{true});
    CHECK(third.heard.empty());
    CHECK(f.directory.upstreamIdOf("client-1") == "upstream-2");

    // A request sent before the recovery finds the old id lost too: no second replay.
    RecordingWaiter late;
    CHECK(f.directory.recover("client-1", "client-1", headers, late) ==
          SessionDirectory::RecoveryStart::kRetryNow);

    REQUIRE(f.loop.runUntil([&] { return f.upstream.requests().size() == 3; }));
    const auto& requests = f.upstream.requests();
    CHECK(requests[0].body == kInitialize);
    CHECK(requests[0].header("mcp-session-id").empty());
    CHECK(requests[0].header("authorization") == "Bearer t0ken");
    CHECK(requests[1].header("mcp-session-id") == "upstream-2");
    CHECK(requests[2].method == "DELETE");
    CHECK(requests[2].header("mcp-session-id") == "client-1");
    CHECK(requests[2].header("authorization") == "Bearer t0ken");
    CHECK(f.requestsOf("POST").size() == 2);
    CHECK(f.metricSays(R"(bulwark_session_recoveries_total{result="success"} 1)"));

    // Forgotten while mapped, the new upstream session would be an orphan: it is DELETEd.
    f.upstream.push(Reply::empty(200));
    fake_now_ms += 2 * 3600 * 1000;
    f.directory.expireIdle(fake_now_ms);
    CHECK_FALSE(f.directory.knows("client-1"));
    REQUIRE(f.loop.runUntil([&] { return f.upstream.requests().size() == 4; }));
    CHECK(f.upstream.requests()[3].method == "DELETE");
    CHECK(f.upstream.requests()[3].header("mcp-session-id") == "upstream-2");
    CHECK(f.close() == 0);
  }
}

TEST_CASE(
    "sessions: a failed replay tells every waiter, and the client's DELETE removes the mapping") {
  const testing::QuietLogs quiet;
  {
    BoundedFixture f;
    f.directory.opened("client-1", kInitialize);
    f.upstream.push(Reply::json(503, R"({"error":"starting"})"));
    RecordingWaiter waiter;
    const SessionReplayHeaders headers{"bulwark.test", "", "2025-06-18"};
    CHECK(f.directory.recover("client-1", "client-1", headers, waiter) ==
          SessionDirectory::RecoveryStart::kWaiting);
    REQUIRE(f.loop.runUntil([&] { return !waiter.heard.empty(); }));
    CHECK(waiter.heard == std::vector<bool>{false});
    CHECK(f.directory.upstreamIdOf("client-1") == "client-1");
    CHECK(f.metricSays(R"(bulwark_session_recoveries_total{result="failure"} 1)"));

    CHECK(f.directory.recover("unknown", "unknown", headers, waiter) ==
          SessionDirectory::RecoveryStart::kUnknown);
    f.directory.closed("client-1");
    CHECK_FALSE(f.directory.knows("client-1"));
    CHECK(f.directory.bytes() == 0);
    CHECK(f.requestsOf("DELETE").empty()); // the client's own DELETE went upstream itself
    CHECK(f.close() == 0);
  }
}

} // namespace bulwark
