// The session directory on a fresh loop against the scripted loopback upstream: what it keeps is
// bounded (per handshake, in total, in idle time), one loss is replayed once however many
// requests found it, and an upstream session nobody can reach any more is DELETEd.
#include "proxy/mcp/session_directory.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/upstream/upstream_pool.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

using namespace bulwark;

namespace {

using bulwark::testing::RecordedRequest;
using bulwark::testing::Reply;
using bulwark::testing::ScriptedUpstream;
using bulwark::testing::TestLoop;

constexpr std::string_view kInitialize =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})";

// The fake clock of last use (uv_now's domain, milliseconds).
std::uint64_t fake_now_ms = 0;
std::uint64_t fakeNow(const uv_loop_t*) { return fake_now_ms; }

struct RecordingWaiter final : SessionRecoveryWaiter {
  std::vector<bool> heard;
  void onSessionRecovered(bool recovered) override { heard.push_back(recovered); }
};

// A directory in front of a scripted upstream, and everything it needs.
struct Fixture {
  explicit Fixture(TestLoop& loop, SessionLimits limits = {})
      : upstream(loop), pool(loop, addressOf(upstream), UpstreamPoolOptions{}),
        directory(loop, pool, metrics, "/mcp", limits) {
    fake_now_ms = 1000;
    directory.setClockForTesting(&fakeNow);
  }
  static ResolvedAddress addressOf(const ScriptedUpstream& server) {
    ResolvedAddress address;
    std::memcpy(&address.storage, &server.sockaddr(), sizeof server.sockaddr());
    address.length = sizeof server.sockaddr();
    return address;
  }
  bool metricSays(std::string_view sample) { return metrics.serialize().find(sample) != std::string::npos; }
  // Ends everything the fixture opened; the test then checks the loop closes clean.
  void close(TestLoop& loop) {
    directory.close();
    pool.close();
    upstream.close();
    CHECK(loop.runToEnd());
  }
  std::vector<const RecordedRequest*> requestsOf(std::string_view method) const {
    std::vector<const RecordedRequest*> out;
    for (const RecordedRequest& request : upstream.requests()) {
      if (request.method == method) {
        out.push_back(&request);
      }
    }
    return out;
  }

  Metrics metrics;
  ScriptedUpstream upstream;
  UpstreamPool pool;
  SessionDirectory directory;
};

// Ids of one length, so that every session counts the same bytes.
std::string sessionId(int n) {
  char id[32];
  std::snprintf(id, sizeof id, "session-%04d", n);
  return id;
}

}  // namespace

TEST_CASE("an initialize over max_handshake_bytes is not kept, and is counted") {
  TestLoop loop;
  {
    SessionLimits limits;
    limits.max_handshake_bytes = 1024;
    Fixture f(loop, limits);
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
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("all sessions together keep at most max_total_bytes; the least recently used go first") {
  TestLoop loop;
  {
    const std::string body(1000, 'x');
    const std::size_t per_session = SessionDirectory::kSessionOverheadBytes + body.size() +
                                    2 * sessionId(0).size();
    SessionLimits limits;
    limits.max_total_bytes = 3 * per_session;
    Fixture f(loop, limits);
    for (int n = 0; n < 3; ++n) {
      f.directory.opened(sessionId(n), body);
    }
    CHECK(f.directory.active() == 3);
    CHECK(f.directory.bytes() == 3 * per_session);
    static_cast<void>(f.directory.upstreamIdOf(sessionId(0)));  // used: now the most recent
    for (int n = 3; n < 100; ++n) {
      f.directory.opened(sessionId(n), body);
      REQUIRE(f.directory.bytes() <= limits.max_total_bytes);
    }
    CHECK(f.directory.active() == 3);
    CHECK_FALSE(f.directory.knows(sessionId(0)));  // 97 newer ones pushed it out in the end
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
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("a session unused for idle_timeout is forgotten; a used or held one is not") {
  TestLoop loop;
  {
    SessionLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(1000);
    Fixture f(loop, limits);
    f.directory.opened("used", kInitialize);
    f.directory.opened("idle", kInitialize);
    f.directory.opened("streaming", kInitialize);
    f.directory.hold("streaming");  // its GET stream stays open

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
    f.directory.release("streaming");  // the stream ended: idle from now on
    f.directory.expireIdle(fake_now_ms + 999);
    CHECK(f.directory.knows("streaming"));
    f.directory.expireIdle(fake_now_ms + 1000);
    CHECK_FALSE(f.directory.knows("streaming"));
    CHECK(f.directory.active() == 0);
    CHECK(f.directory.bytes() == 0);
    CHECK(f.metricSays(R"(bulwark_sessions_forgotten_total{reason="idle"} 3)"));
    CHECK(f.metricSays("bulwark_sessions_active 0"));
    CHECK(f.requestsOf("DELETE").empty());  // never recovered: the client still has them
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("the idle sweep runs by itself on the loop") {
  TestLoop loop;
  {
    SessionLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(20);
    Fixture f(loop, limits);
    f.directory.setClockForTesting(&uv_now);
    f.directory.opened("short-lived", kInitialize);
    // The sweep timer is unreferenced, so the upstream's listener keeps the loop running.
    CHECK(loop.runUntil([&] { return !f.directory.knows("short-lived"); }));
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("one loss is replayed once for every request that found it; the replaced upstream "
          "session is DELETEd; a recovered session forgotten later is DELETEd too") {
  TestLoop loop;
  {
    Fixture f(loop);
    f.directory.opened("client-1", kInitialize);
    f.upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":0,"result":{}})",
                                {{"Mcp-Session-Id", "upstream-2"}}));
    f.upstream.push(Reply::empty(202));  // notifications/initialized
    f.upstream.push(Reply::empty(404));  // DELETE client-1: it was lost indeed

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
    f.directory.forget("client-1", third);  // its client left
    REQUIRE(loop.runUntil([&] { return !first.heard.empty() && !second.heard.empty(); }));
    CHECK(first.heard == std::vector<bool>{true});
    CHECK(second.heard == std::vector<bool>{true});
    CHECK(third.heard.empty());
    CHECK(f.directory.upstreamIdOf("client-1") == "upstream-2");

    // A request sent before the recovery finds the old id lost too: no second replay.
    RecordingWaiter late;
    CHECK(f.directory.recover("client-1", "client-1", headers, late) ==
          SessionDirectory::RecoveryStart::kRetryNow);

    REQUIRE(loop.runUntil([&] { return f.upstream.requests().size() == 3; }));
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
    REQUIRE(loop.runUntil([&] { return f.upstream.requests().size() == 4; }));
    CHECK(f.upstream.requests()[3].method == "DELETE");
    CHECK(f.upstream.requests()[3].header("mcp-session-id") == "upstream-2");
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("a failed replay tells every waiter, and the client's DELETE removes the mapping") {
  TestLoop loop;
  {
    Fixture f(loop);
    f.directory.opened("client-1", kInitialize);
    f.upstream.push(Reply::json(503, R"({"error":"starting"})"));
    RecordingWaiter waiter;
    const SessionReplayHeaders headers{"bulwark.test", "", "2025-06-18"};
    CHECK(f.directory.recover("client-1", "client-1", headers, waiter) ==
          SessionDirectory::RecoveryStart::kWaiting);
    REQUIRE(loop.runUntil([&] { return !waiter.heard.empty(); }));
    CHECK(waiter.heard == std::vector<bool>{false});
    CHECK(f.directory.upstreamIdOf("client-1") == "client-1");
    CHECK(f.metricSays(R"(bulwark_session_recoveries_total{result="failure"} 1)"));

    CHECK(f.directory.recover("unknown", "unknown", headers, waiter) ==
          SessionDirectory::RecoveryStart::kUnknown);
    f.directory.closed("client-1");
    CHECK_FALSE(f.directory.knows("client-1"));
    CHECK(f.directory.bytes() == 0);
    CHECK(f.requestsOf("DELETE").empty());  // the client's own DELETE went upstream itself
    f.close(loop);
  }
  CHECK(loop.close() == 0);
}
