#include "policies/cache_policy.h"

#include <chrono>
#include <doctest/doctest.h>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

CachePolicy enabled(Duration ttl, Duration stale, CacheScope scope = CacheScope::kCaller) {
  return CachePolicy{true, ttl, stale, scope};
}

CacheStoreFacts ok(std::string_view method) {
  CacheStoreFacts f;
  f.method = method;
  f.success = true;
  return f;
}

} // namespace

TEST_CASE("cacheable methods: tools/call and the list/read methods only") {
  for (std::string_view m :
       {"tools/call", "tools/list", "resources/list", "resources/templates/list", "resources/read",
        "prompts/list", "prompts/get"}) {
    CHECK(isCacheableMethod(m));
  }
  for (std::string_view m :
       {"initialize", "ping", "notifications/initialized", "resources/subscribe",
        "completion/complete", "logging/setLevel", "server/discover", "", "tools/lis"}) {
    CHECK_FALSE(isCacheableMethod(m));
  }
}

TEST_CASE("scope names") {
  CHECK(cacheScopeName(CacheScope::kCaller) == "caller");
  CHECK(cacheScopeName(CacheScope::kShared) == "shared");
  CHECK(parseCacheScope("caller") == CacheScope::kCaller);
  CHECK(parseCacheScope("shared") == CacheScope::kShared);
  CHECK_FALSE(parseCacheScope("public").has_value());
  CHECK_FALSE(parseCacheScope("Shared").has_value());
}

TEST_CASE("the default cache policy is off, scope caller") {
  const CachePolicy p;
  CHECK_FALSE(p.enabled);
  CHECK(p.ttl == 0s);
  CHECK(p.stale_if_error == 0s);
  CHECK(p.scope == CacheScope::kCaller);
  CHECK_FALSE(cacheStoreDecision(p, ok("tools/list")).has_value());
  CHECK_FALSE(cacheStoreDecision(p, ok("tools/call")).has_value());
}

TEST_CASE("only successes of cacheable methods are stored") {
  const CachePolicy p = enabled(60s, 1h);
  CacheStoreFacts f = ok("tools/call");
  CHECK(cacheStoreDecision(p, f) == CacheStoreDecision{60s, 1h, CacheScope::kCaller});
  f.success = false; // a JSON-RPC error or isError: true
  CHECK_FALSE(cacheStoreDecision(p, f).has_value());
  CHECK_FALSE(cacheStoreDecision(p, ok("initialize")).has_value());
}

TEST_CASE("the server's ttlMs lowers the configured ttl, never raises it") {
  const CachePolicy p = enabled(60s, 1h);
  CacheStoreFacts f = ok("resources/read");
  f.server_ttl = 10s;
  CHECK(cacheStoreDecision(p, f)->ttl == 10s);
  f.server_ttl = 5min;
  CHECK(cacheStoreDecision(p, f)->ttl == 60s);
  f.server_ttl = 0s; // the server says: not fresh at all. Still kept for stale-if-error.
  CHECK(cacheStoreDecision(p, f) == CacheStoreDecision{0s, 1h, CacheScope::kCaller});
  f.server_ttl = -5s; // nonsense from the wire counts as 0
  CHECK(cacheStoreDecision(p, f)->ttl == 0s);
}

TEST_CASE("without configuration, a list/read result with ttlMs is cached for ttlMs") {
  CachePolicy p;          // off
  p.stale_if_error = 30s; // inherited values still apply
  CacheStoreFacts f = ok("tools/list");
  f.server_ttl = 20s;
  CHECK(cacheStoreDecision(p, f) == CacheStoreDecision{20s, 30s, CacheScope::kCaller});
  f.server_ttl = 0s;
  CHECK_FALSE(cacheStoreDecision(p, f).has_value());
  // Never tools/call: a tool result is only cached when configured.
  CacheStoreFacts call = ok("tools/call");
  call.server_ttl = 20s;
  CHECK_FALSE(cacheStoreDecision(p, call).has_value());
}

TEST_CASE("scope: shared only when configured or the server says public; private always wins "
          "over configured shared") {
  struct Row {
    CacheScope configured;
    ServerCacheScope server;
    CacheScope expected;
  };
  const Row rows[] = {
      {CacheScope::kCaller, ServerCacheScope::kUnspecified, CacheScope::kCaller},
      {CacheScope::kCaller, ServerCacheScope::kPrivate, CacheScope::kCaller},
      {CacheScope::kCaller, ServerCacheScope::kPublic, CacheScope::kShared},
      {CacheScope::kShared, ServerCacheScope::kUnspecified, CacheScope::kShared},
      {CacheScope::kShared, ServerCacheScope::kPrivate, CacheScope::kCaller},
      {CacheScope::kShared, ServerCacheScope::kPublic, CacheScope::kShared},
  };
  for (const Row& r : rows) {
    CacheStoreFacts f = ok("prompts/get");
    f.server_scope = r.server;
    const auto d = cacheStoreDecision(enabled(60s, 0s, r.configured), f);
    REQUIRE(d.has_value());
    CHECK(d->scope == r.expected);
  }
}

TEST_CASE("enabled with nothing to keep stores nothing") {
  CHECK_FALSE(cacheStoreDecision(enabled(0s, 0s), ok("tools/list")).has_value());
  CHECK(cacheStoreDecision(enabled(0s, 1s), ok("tools/list")).has_value());
}
