// SharedSessions against a real redis-server: the heartbeat key, the record a session gets when
// it opens (and loses when its client ends it), its TTL refreshed for used sessions, the lookup's
// four answers, and the claim: of two sidecars racing for a dead owner's session exactly one
// wins. Redis down: lookups say "no record" at once.
#include "proxy/shared/shared_key.h"
#include "proxy/shared/shared_sessions.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/redis_server.h"
#include "tests/support/upstream_fixture.h"

#include <doctest/doctest.h>
#include <optional>
#include <string>

namespace bulwark {
namespace {

using namespace std::chrono_literals;
using testing::QuietLogs;
using testing::RedisServer;
using testing::UpstreamFixture;

constexpr std::string_view kInitialize =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})";

RedisClientOptions optionsFor(const RedisServer& redis) {
  RedisClientOptions options;
  options.address = {"127.0.0.1", redis.port()};
  options.timeout = 500ms; // a loaded CI machine: this test is about the answers, not speed
  options.reconnect = {10ms, 2.0, 50ms};
  return options;
}

SharedSessionsOptions sessionsOptions(std::string advertise, std::string key_secret = {}) {
  SharedSessionsOptions options;
  options.advertise = std::move(advertise);
  options.key_secret = std::move(key_secret);
  options.heartbeat_interval = 100ms;
  options.heartbeat_ttl = 1000ms;
  options.session_ttl = 60s;
  return options;
}

// A Redis command's reply text (or integer as text), recorded for checking after the loop ran.
struct Probe {
  std::optional<std::string> text;
  RedisCallback callback() {
    return [this](RedisStatus, RedisReply reply) {
      text = reply.isInteger() ? std::to_string(reply.integer()) : std::string(reply.text());
    };
  }
};

std::string ask(UpstreamFixture& f, RedisClient& redis,
                std::initializer_list<std::string_view> args) {
  Probe probe;
  if (!redis.command(SharedStateOp::kOther, args, probe.callback())) {
    return "<not sent>";
  }
  f.loop.runUntil([&] { return probe.text.has_value(); });
  return probe.text.value_or("<no answer>");
}

TEST_CASE("SharedSessions: heartbeat, records on open and close, lookup and a claim race") {
  QuietLogs quiet;
  RedisServer server;
  REQUIRE(server.start());
  UpstreamFixture f;
  SessionDirectory directory_a(f.loop, f.pool, f.metrics, "/mcp");
  SessionDirectory directory_b(f.loop, f.pool, f.metrics, "/mcp");
  RedisClient redis_a(f.loop, optionsFor(server), &f.metrics);
  RedisClient redis_b(f.loop, optionsFor(server), nullptr);
  SharedSessions a(f.loop, redis_a, directory_a, sessionsOptions("10.0.0.1:8080", "k3y"));
  SharedSessions b(f.loop, redis_b, directory_b, sessionsOptions("10.0.0.2:8080", "k3y"));
  redis_a.start();
  redis_b.start();
  a.start();
  b.start();
  REQUIRE(f.loop.runUntil([&] { return redis_a.up() && redis_b.up(); }));
  CHECK(a.nodeKey("10.0.0.1:8080") == "bulwark:node:10.0.0.1:8080");
  REQUIRE(f.loop.runUntil([&] {
    return ask(f, redis_a, {"EXISTS", a.nodeKey("10.0.0.1:8080")}) == "1";
  }));
  const std::string ttl = ask(f, redis_a, {"PTTL", a.nodeKey("10.0.0.1:8080")});
  CHECK(std::stoll(ttl) > 0);
  CHECK(std::stoll(ttl) <= 1000);

  // A session opened through a: its record, with a TTL, named by the id's HMAC (bearer-like:
  // never in clear in Redis, neither in the name nor as the upstream id).
  CHECK(a.sessionKey("s1") == "bulwark:session:" + hmacSha256Hex("k3y", "s1"));
  directory_a.opened("s1", kInitialize);
  CHECK(ask(f, redis_a, {"HGET", a.sessionKey("s1"), "owner"}) == "10.0.0.1:8080");
  CHECK(ask(f, redis_a, {"HGET", a.sessionKey("s1"), "init"}) == kInitialize);
  CHECK(ask(f, redis_a, {"HGET", a.sessionKey("s1"), "proto"}) == "2025-06-18");
  CHECK(ask(f, redis_a, {"HGET", a.sessionKey("s1"), "upstream"}) == hmacSha256Hex("k3y", "s1"));
  CHECK(std::stoll(ask(f, redis_a, {"PTTL", a.sessionKey("s1")})) > 50000);

  std::optional<SessionRecord> seen;
  const auto lookup = [&](SharedSessions& who, std::string_view id) {
    seen.reset();
    who.lookup(id, [&](SessionRecord record) { seen = std::move(record); });
    f.loop.runUntil([&] { return seen.has_value(); });
    REQUIRE(seen.has_value());
    return *seen;
  };
  CHECK(lookup(b, "s1").owner_state == SessionRecord::Owner::kAlive);
  CHECK(seen->owner == "10.0.0.1:8080");
  CHECK(seen->initialize_body == kInitialize);
  CHECK(lookup(a, "s1").owner_state == SessionRecord::Owner::kHere);
  CHECK(lookup(b, "nothing").owner_state == SessionRecord::Owner::kNone);

  // An owner whose heartbeat is gone; two sidecars claim its session at once: one wins.
  ask(f, redis_a, {"HSET", a.sessionKey("s2"), "owner", "10.0.0.9:8080", "init", kInitialize});
  CHECK(lookup(b, "s2").owner_state == SessionRecord::Owner::kGone);
  std::optional<std::pair<bool, std::string>> claim_a, claim_b;
  a.claim("s2", "10.0.0.9:8080", [&](bool won, std::string owner) { claim_a.emplace(won, owner); });
  b.claim("s2", "10.0.0.9:8080", [&](bool won, std::string owner) { claim_b.emplace(won, owner); });
  REQUIRE(f.loop.runUntil([&] { return claim_a && claim_b; }));
  CHECK(claim_a->first != claim_b->first);
  CHECK(claim_a->second == claim_b->second); // both name the winner
  const std::string winner = claim_a->first ? "10.0.0.1:8080" : "10.0.0.2:8080";
  CHECK(claim_a->second == winner);
  CHECK(ask(f, redis_a, {"HGET", a.sessionKey("s2"), "owner"}) == winner);

  // The client ends s1: its record goes.
  directory_a.closed("s1");
  CHECK(ask(f, redis_a, {"EXISTS", a.sessionKey("s1")}) == "0");

  // Redis gone: a lookup answers "no record" at once, without waiting.
  server.kill();
  REQUIRE(f.loop.runUntil([&] { return !redis_b.up(); }));
  seen.reset();
  b.lookup("s2", [&](SessionRecord record) { seen = std::move(record); });
  CHECK(seen.has_value());
  CHECK(seen->owner_state == SessionRecord::Owner::kNone);

  a.stop();
  b.stop();
  redis_a.stop();
  redis_b.stop();
  directory_a.close();
  directory_b.close();
  CHECK(f.close() == 0);
}

// One sidecar's shared sessions on `server`, with the sweep's timing under test.
struct SweepRig {
  SweepRig(RedisServer& server, std::chrono::milliseconds session_ttl,
           std::chrono::milliseconds touch_interval)
      : redis(f.loop, optionsFor(server), nullptr),
        shared(f.loop, redis, directory, optionsWith(session_ttl, touch_interval)) {}

  static SharedSessionsOptions optionsWith(std::chrono::milliseconds session_ttl,
                                           std::chrono::milliseconds touch_interval) {
    SharedSessionsOptions options = sessionsOptions("10.0.0.1:8080");
    options.session_ttl = session_ttl;
    options.touch_interval = touch_interval;
    return options;
  }

  // Stops everything; the loop's close result (0: no handle left).
  int close() {
    shared.stop();
    redis.stop();
    directory.close();
    return f.close();
  }

  UpstreamFixture f;
  SessionDirectory directory{f.loop, f.pool, f.metrics, "/mcp"};
  RedisClient redis;
  SharedSessions shared;
};

TEST_CASE("SharedSessions: the sweep refreshes the TTL of sessions used since the last one") {
  QuietLogs quiet;
  RedisServer server;
  REQUIRE(server.start());
  SweepRig rig(server, 30s, 100ms);
  rig.redis.start();
  rig.shared.start();
  REQUIRE(rig.f.loop.runUntil([&] { return rig.redis.up(); }));
  rig.directory.opened("used", kInitialize);
  rig.directory.opened("idle", kInitialize);
  REQUIRE(ask(rig.f, rig.redis, {"EXISTS", rig.shared.sessionKey("idle")}) == "1");
  // Both records get a short TTL by hand; only the used session's is renewed by the sweep.
  ask(rig.f, rig.redis, {"PEXPIRE", rig.shared.sessionKey("used"), "20000"});
  ask(rig.f, rig.redis, {"PEXPIRE", rig.shared.sessionKey("idle"), "20000"});
  rig.f.loop.runUntil([] { return false; }, 150ms); // a sweep passes: both were used at open
  ask(rig.f, rig.redis, {"PEXPIRE", rig.shared.sessionKey("used"), "20000"});
  ask(rig.f, rig.redis, {"PEXPIRE", rig.shared.sessionKey("idle"), "20000"});
  rig.f.loop.runUntil([] { return false; }, 150ms);
  static_cast<void>(rig.directory.upstreamIdOf("used")); // a request in the session
  REQUIRE(rig.f.loop.runUntil([&] {
    return std::stoll(ask(rig.f, rig.redis, {"PTTL", rig.shared.sessionKey("used")})) > 25000;
  }));
  CHECK(std::stoll(ask(rig.f, rig.redis, {"PTTL", rig.shared.sessionKey("idle")})) <= 20000);
  CHECK(rig.close() == 0);
}

TEST_CASE("SharedSessions: sessions opened while Redis was away are recorded when it is back") {
  QuietLogs quiet;
  RedisServer server;
  UpstreamFixture f;
  SessionDirectory directory(f.loop, f.pool, f.metrics, "/mcp");
  RedisClient redis(f.loop, optionsFor(server), nullptr);
  SharedSessions shared(f.loop, redis, directory, sessionsOptions("10.0.0.1:8080"));
  shared.start();
  directory.opened("while-down", kInitialize); // not connected: no record written
  directory.opened("taken-over", kInitialize);
  REQUIRE(server.start());
  RedisClient other(f.loop, optionsFor(server), nullptr);
  other.start();
  REQUIRE(f.loop.runUntil([&] { return other.up(); }));
  // Meanwhile another sidecar took one of them over: that record must stay its.
  ask(f, other, {"HSET", shared.sessionKey("taken-over"), "owner", "10.0.0.2:8080"});
  redis.start();
  REQUIRE(f.loop.runUntil([&] { return redis.up(); }));
  REQUIRE(f.loop.runUntil([&] {
    return ask(f, other, {"HGET", shared.sessionKey("while-down"), "owner"}) == "10.0.0.1:8080";
  }));
  CHECK(ask(f, other, {"HGET", shared.sessionKey("while-down"), "init"}) == kInitialize);
  // No key secret: the ids are named by their SHA-256.
  CHECK(shared.sessionKey("while-down") == "bulwark:session:" + sha256Hex("while-down"));
  CHECK(ask(f, other, {"HGET", shared.sessionKey("while-down"), "upstream"}) ==
        sha256Hex("while-down"));
  CHECK(std::stoll(ask(f, other, {"PTTL", shared.sessionKey("while-down")})) > 0);
  CHECK(ask(f, other, {"HGET", shared.sessionKey("taken-over"), "owner"}) == "10.0.0.2:8080");
  shared.stop();
  redis.stop();
  other.stop();
  directory.close();
  CHECK(f.close() == 0);
}

TEST_CASE("SharedSessions: every third of the TTL, every session kept here is refreshed") {
  QuietLogs quiet;
  RedisServer server;
  REQUIRE(server.start());
  SweepRig rig(server, 600ms, 50ms); // a full pass every 200 ms
  rig.redis.start();
  REQUIRE(rig.f.loop.runUntil([&] { return rig.redis.up(); }));
  rig.directory.opened("held", kInitialize); // say, a GET stream holds it: no request uses it
  rig.directory.hold("held");
  rig.shared.start();
  REQUIRE(ask(rig.f, rig.redis, {"EXISTS", rig.shared.sessionKey("held")}) ==
          "0"); // opened before start
  // Not used since the sweep started, yet refreshed by the full pass.
  REQUIRE(rig.f.loop.runUntil([&] {
    ask(rig.f, rig.redis, {"HSET", rig.shared.sessionKey("held"), "owner", "10.0.0.1:8080"});
    ask(rig.f, rig.redis, {"PEXPIRE", rig.shared.sessionKey("held"), "150"});
    rig.f.loop.runUntil([] { return false; }, 60ms);
    return std::stoll(ask(rig.f, rig.redis, {"PTTL", rig.shared.sessionKey("held")})) > 300;
  }));
  rig.directory.release("held");
  CHECK(rig.close() == 0);
}

} // namespace
} // namespace bulwark
