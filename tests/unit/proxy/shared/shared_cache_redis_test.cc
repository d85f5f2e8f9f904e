// SharedCache and SharedCatalog against a real redis-server started by the test: what one
// replica publishes another adopts (fresh and stale windows kept), nothing in Redis names the
// caller, Redis down means no lookup (the request goes on alone), and a clean close.
#include "proxy/admin/metrics.h"
#include "proxy/shared/redis_client.h"
#include "proxy/shared/shared_cache.h"
#include "proxy/shared/shared_catalog.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_loop.h"

#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

using namespace std::chrono_literals;
using testing::QuietLogs;
using testing::RedisServer;
using testing::TestLoop;

RedisClientOptions optionsFor(const RedisServer& redis) {
  RedisClientOptions options;
  options.address = {"127.0.0.1", redis.port()};
  options.reconnect = {10ms, 2.0, 50ms};
  return options;
}

struct Waiter final : SharedCacheWaiter {
  int calls = 0;
  void onSharedCacheRead() override { ++calls; }
};

// Runs the loop until every command sent so far has been answered (a PING queued behind them).
bool drain(TestLoop& loop, RedisClient& client) {
  bool done = false;
  if (!client.command(SharedStateOp::kOther, {"PING"},
                      [&](RedisStatus, RedisReply) { done = true; })) {
    return false;
  }
  return loop.runUntil([&] { return done; });
}

TEST_CASE("SharedCache: one replica's entry is adopted by another, named by HMAC only") {
  QuietLogs quiet;
  RedisServer redis;
  REQUIRE(redis.start());
  TestLoop loop;
  Metrics metrics;
  RedisClient client_a(loop, optionsFor(redis), &metrics);
  RedisClient client_b(loop, optionsFor(redis), &metrics);
  policies::ResponseCache local_a;
  policies::ResponseCache local_b;
  policies::TimePoint now{std::chrono::hours(1)};
  SharedCache cache_a(client_a, SharedKeys("secret", "t:"), local_a, [&] { return now; });
  SharedCache cache_b(client_b, SharedKeys("secret", "t:"), local_b, [&] { return now; });
  Waiter waiter;

  // Redis not up yet: no lookup, the waiter is never called.
  CHECK_FALSE(cache_b.available());
  CHECK_FALSE(cache_b.lookup("caller-key", "shared-key", waiter));
  client_a.start();
  client_b.start();
  REQUIRE(loop.runUntil([&] { return client_a.up() && client_b.up(); }));

  const std::string local_key =
      policies::cacheKey("tools/call", "weather", R"({"city":"Oslo"})", "2025-06-18",
                         policies::CacheKeyScope::callerOf("Bearer alice-token"));
  const policies::CachedResponse response{R"({"content":[]})", "application/json", 0};
  cache_a.publish(local_key, response, 60'000ms, 3'600'000ms);
  REQUIRE(drain(loop, client_a));

  // Everything in Redis: one key, named by the HMAC; neither name nor value holds the token.
  std::string keys;
  bool listed = false;
  REQUIRE(client_a.command(SharedStateOp::kOther, {"KEYS", "*"}, [&](RedisStatus, RedisReply r) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      keys += std::string(r.element(i).text()) + " ";
    }
    listed = true;
  }));
  REQUIRE(loop.runUntil([&] { return listed; }));
  CHECK(keys == SharedKeys("secret", "t:").cacheKey(local_key) + " ");
  CHECK(keys.find("alice") == std::string::npos);

  REQUIRE(cache_b.lookup(local_key, "no-shared-entry", waiter));
  REQUIRE(loop.runUntil([&] { return waiter.calls == 1; }));
  CHECK(local_b.peek(local_key, now).fresh());
  CHECK(local_b.peek(local_key, now).entry->response == response);
  CHECK(local_b.peek("no-shared-entry", now).miss());

  // A forgotten waiter is not called; what Redis had is adopted anyway.
  Waiter gone;
  local_b.clear();
  REQUIRE(cache_b.lookup(local_key, "no-shared-entry", gone));
  cache_b.forget(gone);
  REQUIRE(drain(loop, client_b));
  CHECK(gone.calls == 0);
  CHECK(local_b.peek(local_key, now).fresh());

  // Redis killed: the lookup ends (the waiter runs once, nothing adopted) or is refused.
  redis.kill();
  local_b.clear();
  Waiter after_kill;
  if (cache_b.lookup(local_key, "no-shared-entry", after_kill)) {
    REQUIRE(loop.runUntil([&] { return after_kill.calls == 1; }));
  }
  CHECK(local_b.size() == 0);

  client_a.stop();
  client_b.stop();
  CHECK(loop.close() == 0);
}

// Two replicas' tool catalogs, each with its own connection to `redis` (started or not yet).
struct CatalogReplicas {
  explicit CatalogReplicas(RedisServer& redis)
      : client_a(loop, optionsFor(redis), &metrics), client_b(loop, optionsFor(redis), &metrics),
        shared_a(client_a, tools_a, "t:"), shared_b(client_b, tools_b, "t:") {}

  TestLoop loop;
  Metrics metrics;
  RedisClient client_a;
  RedisClient client_b;
  ToolCatalog tools_a;
  ToolCatalog tools_b;
  SharedCatalog shared_a;
  SharedCatalog shared_b;
};

TEST_CASE("SharedCatalog: tools one replica learned reach another; local knowledge wins") {
  QuietLogs quiet;
  RedisServer redis;
  REQUIRE(redis.start());
  CatalogReplicas r(redis);
  r.client_a.start();
  r.client_b.start();
  REQUIRE(r.loop.runUntil([&] { return r.client_a.up() && r.client_b.up(); }));

  r.tools_a.learn({{"search", true, std::nullopt}, {"delete", false, false}},
                  policies::HintSource::kDiscovered);
  r.tools_b.learn({{"delete", true, true}}, policies::HintSource::kListed);
  r.shared_a.publish();
  REQUIRE(drain(r.loop, r.client_a));

  r.shared_b.start(); // Redis is up: loads at once
  REQUIRE(r.loop.runUntil([&] { return r.tools_b.knows("search"); }));
  CHECK(r.tools_b.annotationsOf("search").read_only_hint == std::optional<bool>(true));
  CHECK_FALSE(r.tools_b.annotationsOf("search").idempotent_hint.has_value());
  const auto snapshot = r.tools_b.snapshot();
  CHECK(snapshot.front().first == "delete");
  CHECK(snapshot.front().second.source == policies::HintSource::kListed); // its own, kept
  CHECK(r.tools_b.annotationsOf("delete").read_only_hint == std::optional<bool>(true));
  CHECK(snapshot.back().second.source == policies::HintSource::kDiscovered);

  r.shared_b.stop();
  r.client_a.stop();
  r.client_b.stop();
  CHECK(r.loop.close() == 0);
}

TEST_CASE("SharedCatalog: started before Redis is up, it syncs when Redis comes up, and again") {
  QuietLogs quiet;
  RedisServer redis;
  CatalogReplicas r(redis);
  r.tools_a.learn({{"search", true, std::nullopt}}, policies::HintSource::kDiscovered);
  r.tools_b.learn({{"delete", false, false}}, policies::HintSource::kListed);
  int other_hook_ups = 0;
  r.client_b.addOnUp([&] { ++other_hook_ups; }); // another part's hook (as SharedSessions has)
  r.shared_a.start();
  r.shared_b.start();
  r.client_a.start();
  r.client_b.start();
  r.loop.runUntil([] { return false; }, 100ms); // Redis not running: nothing to do
  CHECK_FALSE(r.client_b.up());

  // Up: each publishes what it knows and loads what the other wrote (whichever comes first,
  // the later one's load sees both).
  REQUIRE(redis.start());
  REQUIRE(r.loop.runUntil([&] { return r.tools_a.knows("delete") || r.tools_b.knows("search"); }));
  CHECK(other_hook_ups == 1);

  // Redis restarts empty: the catalog is written again when the clients reconnect.
  redis.kill();
  REQUIRE(r.loop.runUntil([&] { return !r.client_a.up() && !r.client_b.up(); }));
  REQUIRE(redis.start());
  REQUIRE(r.loop.runUntil([&] { return r.client_a.up() && r.client_b.up(); }));
  REQUIRE(drain(r.loop, r.client_a));
  REQUIRE(drain(r.loop, r.client_b));
  bool listed = false;
  long long fields = 0;
  REQUIRE(r.client_a.command(SharedStateOp::kOther, {"HLEN", "t:catalog"},
                             [&](RedisStatus, RedisReply reply) {
                               listed = true;
                               fields = reply.integer();
                             }));
  REQUIRE(r.loop.runUntil([&] { return listed; }));
  CHECK(fields == 2);
  CHECK(other_hook_ups == 2);

  r.shared_a.stop();
  r.shared_b.stop();
  r.client_a.stop();
  r.client_b.stop();
  CHECK(r.loop.close() == 0);
}

} // namespace
} // namespace bulwark
