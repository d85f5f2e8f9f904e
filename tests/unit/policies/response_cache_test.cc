#include "policies/response_cache.h"

#include <chrono>
#include <doctest/doctest.h>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  TimePoint now = TimePoint{} + 1000s;
  void advance(Clock::duration d) { now += d; }
};

CachedResponse response(std::string json, std::uint32_t flags = 0) {
  return CachedResponse{std::move(json), "application/json", flags};
}

// A key and body that together make an entry of exactly `bytes` budget bytes.
std::size_t sized(std::string_view key, std::size_t bytes, std::string& body) {
  const std::size_t fixed =
      key.size() + std::string_view("application/json").size() + ResponseCache::kEntryOverhead;
  REQUIRE(bytes >= fixed);
  body.assign(bytes - fixed, 'x');
  return bytes;
}

// The parts of a key, decoded from the documented format; nullopt when it does not parse. Used
// to prove the encoding injective: decode(encode(x)) == x for every x means no two inputs share
// a key.
using Parts = std::tuple<std::string, std::string, std::string, std::string, std::string>;
std::optional<Parts> decodeKey(std::string_view key) {
  if (key.substr(0, 3) != "bk1") {
    return std::nullopt;
  }
  key.remove_prefix(3);
  std::vector<std::string> fields;
  while (!key.empty()) {
    const std::size_t colon = key.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return std::nullopt;
    }
    std::size_t len = 0;
    for (char c : key.substr(0, colon)) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    key.remove_prefix(colon + 1);
    if (key.size() < len) {
      return std::nullopt;
    }
    fields.emplace_back(key.substr(0, len));
    key.remove_prefix(len);
  }
  if (fields.size() != 5) {
    return std::nullopt;
  }
  return Parts{fields[0], fields[1], fields[2], fields[3], fields[4]};
}

} // namespace

TEST_CASE("cacheKey: the documented encoding, field by field") {
  CHECK(cacheKey("tools/call", "get_weather", R"({"city":"Oslo"})", "2025-06-18",
                 CacheKeyScope::callerOf("abc")) ==
        "bk110:tools/call11:get_weather15:{\"city\":\"Oslo\"}10:2025-06-184:cabc");
  CHECK(cacheKey("tools/list", "", "{}", "2025-11-25", CacheKeyScope::shared()) ==
        "bk110:tools/list0:2:{}10:2025-11-251:s");
  CHECK(cacheKey("", "", "", "", CacheKeyScope::callerOf("")) == "bk10:0:0:0:1:c");
}

TEST_CASE("cacheKey: scopes never collide") {
  const std::string a = cacheKey("resources/read", "", "{}", "v", CacheKeyScope::callerOf("A"));
  const std::string b = cacheKey("resources/read", "", "{}", "v", CacheKeyScope::callerOf("B"));
  const std::string shared = cacheKey("resources/read", "", "{}", "v", CacheKeyScope::shared());
  // A caller whose identity happens to read "s", or is empty, is still not the shared scope.
  const std::string s_caller =
      cacheKey("resources/read", "", "{}", "v", CacheKeyScope::callerOf("s"));
  const std::string anonymous =
      cacheKey("resources/read", "", "{}", "v", CacheKeyScope::callerOf(""));
  const std::set<std::string> all = {a, b, shared, s_caller, anonymous};
  CHECK(all.size() == 5);
}

TEST_CASE("cacheKey is injective: every key decodes back to its inputs, no two inputs collide") {
  // Field values chosen to break naive encodings: separators, digits that look like lengths,
  // prefixes of each other, and the scope markers.
  const std::vector<std::string> values = {"", "a", "1", ":", "1:", "1:a", "s", "c", "ab", "0:"};
  std::set<std::string> keys;
  std::size_t inputs = 0;
  for (const std::string& method : values) {
    for (const std::string& tool : values) {
      for (const std::string& params : values) {
        for (const std::string& version : values) {
          std::vector<CacheKeyScope> scopes = {CacheKeyScope::shared()};
          for (const std::string& id : values) {
            scopes.push_back(CacheKeyScope::callerOf(id));
          }
          for (const CacheKeyScope& scope : scopes) {
            const std::string key = cacheKey(method, tool, params, version, scope);
            ++inputs;
            keys.insert(key);
            const std::string scope_field =
                scope.kind == CacheScope::kShared ? "s" : "c" + std::string(scope.caller);
            const auto decoded = decodeKey(key);
            REQUIRE(decoded.has_value());
            CHECK(*decoded == Parts{method, tool, params, version, scope_field});
          }
        }
      }
    }
  }
  CHECK(inputs == 10u * 10 * 10 * 10 * 11);
  CHECK(keys.size() == inputs);
}

TEST_CASE("fresh, stale and miss, exactly at ttl and ttl + stale_if_error") {
  FakeClock clock;
  ResponseCache cache;
  const TimePoint t0 = clock.now;
  REQUIRE(cache.insert("k", response(R"({"tools":[]})"), 60s, 1h, t0) ==
          CacheInsertResult::kStored);

  CacheLookup l = cache.lookup("k", t0);
  CHECK(l.fresh());
  REQUIRE(l.entry != nullptr);
  CHECK(l.entry->response.result_json == R"({"tools":[]})");
  CHECK(l.entry->response.content_type == "application/json");
  CHECK(l.age == 0ms);

  l = cache.lookup("k", t0 + 60s - 1ms);
  CHECK(l.fresh());
  CHECK(l.age == 59999ms);

  l = cache.lookup("k", t0 + 60s); // ttl reached: no longer fresh
  CHECK(l.stale());
  REQUIRE(l.entry != nullptr);
  CHECK(l.age == 60s);

  l = cache.lookupStale("k", t0 + 60s + 1h - 1ms);
  CHECK(l.stale());
  REQUIRE(l.entry != nullptr);

  l = cache.peek("k", t0 + 60s + 1h); // ttl + stale_if_error reached: gone
  CHECK(l.miss());
  CHECK(l.entry == nullptr);
  CHECK(cache.size() == 1); // peek does not remove

  l = cache.lookupStale("k", t0 + 60s + 1h);
  CHECK(l.miss());
  CHECK(cache.size() == 0); // removed once past stale_until
  CHECK(cache.bytes() == 0);

  const CacheStats s = cache.stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 1); // the lookup() that found it stale
  CHECK(s.stale == 1);
  CHECK(s.expirations == 1);
  CHECK(s.insertions == 1);
}

TEST_CASE("lookup of an entry past stale_until misses and removes it") {
  FakeClock clock;
  ResponseCache cache;
  cache.insert("k", response("{}"), 1s, 1s, clock.now);
  clock.advance(2s);
  CHECK(cache.lookup("k", clock.now).miss());
  CHECK(cache.size() == 0);
  CHECK(cache.stats().misses == 1);
  CHECK(cache.stats().expirations == 1);
}

TEST_CASE("ttl 0 with stale_if_error: never fresh, kept for recovery") {
  FakeClock clock;
  ResponseCache cache;
  CHECK(cache.insert("k", response("{}"), 0s, 10s, clock.now) == CacheInsertResult::kStored);
  CHECK(cache.lookup("k", clock.now).stale());
  CHECK(cache.lookupStale("k", clock.now + 9s).stale());
  CHECK(cache.lookupStale("k", clock.now + 10s).miss());
}

TEST_CASE("nothing to keep: ttl and stale_if_error both 0 (or negative)") {
  FakeClock clock;
  ResponseCache cache;
  cache.insert("k", response("old"), 10s, 0s, clock.now);
  CHECK(cache.insert("k", response("new"), 0s, 0s, clock.now) == CacheInsertResult::kNothingToKeep);
  CHECK(cache.size() == 0); // the older answer is outdated: removed
  CHECK(cache.insert("k", response("x"), -5s, -1s, clock.now) == CacheInsertResult::kNothingToKeep);
  CHECK(cache.size() == 0);
}

TEST_CASE("insert under an existing key replaces it") {
  FakeClock clock;
  ResponseCache cache;
  cache.insert("k", response("first"), 10s, 0s, clock.now);
  const std::size_t before = cache.bytes();
  clock.advance(5s);
  CHECK(cache.insert("k", response("second, longer", 7), 10s, 0s, clock.now) ==
        CacheInsertResult::kReplaced);
  CHECK(cache.size() == 1);
  CHECK(cache.bytes() == before + std::string_view("second, longer").size() - 5);
  const CacheLookup l = cache.lookup("k", clock.now + 9s); // fresh from the new insert
  REQUIRE(l.fresh());
  CHECK(l.entry->response.result_json == "second, longer");
  CHECK(l.entry->response.flags == 7);
  CHECK(cache.stats().insertions == 2);
  CHECK(cache.stats().evictions == 0);
}

TEST_CASE("entry size: key, body, content type and the fixed overhead") {
  const CachedResponse r{"12345", "text/event-stream", 0};
  CHECK(ResponseCache::entryBytes("key", r) == 3 + 5 + 17 + ResponseCache::kEntryOverhead);
  FakeClock clock;
  ResponseCache cache;
  cache.insert("key", r, 1s, 0s, clock.now);
  CHECK(cache.bytes() == ResponseCache::entryBytes("key", r));
  CHECK(cache.stats().bytes == cache.bytes());
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("LRU eviction by bytes: least recently used first, fresh hits and stale serves count "
          "as use") {
  FakeClock clock;
  ResponseCache cache(3000);
  std::string body;
  for (const char* key : {"a", "b", "c"}) {
    sized(key, 1000, body);
    REQUIRE(cache.insert(key, response(body), 1h, 0s, clock.now) == CacheInsertResult::kStored);
    clock.advance(1s);
  }
  CHECK(cache.bytes() == 3000);
  CHECK(cache.lookup("a", clock.now).fresh()); // a is now the most recent; b the least

  sized("d", 1000, body);
  CHECK(cache.insert("d", response(body), 1h, 0s, clock.now) == CacheInsertResult::kStored);
  CHECK(cache.peek("b", clock.now).miss());
  CHECK(cache.peek("a", clock.now).fresh());
  CHECK(cache.peek("c", clock.now).fresh());
  CHECK(cache.stats().evictions == 1);

  // A 2000-byte entry needs two evictions: c, then a (d was inserted after a was used).
  CHECK(cache.lookupStale("d", clock.now).fresh()); // d used again
  sized("e", 2000, body);
  CHECK(cache.insert("e", response(body), 1h, 0s, clock.now) == CacheInsertResult::kStored);
  CHECK(cache.peek("c", clock.now).miss());
  CHECK(cache.peek("a", clock.now).miss());
  CHECK(cache.peek("d", clock.now).fresh());
  CHECK(cache.peek("e", clock.now).fresh());
  CHECK(cache.stats().evictions == 3);
  CHECK(cache.bytes() == 3000);
}

TEST_CASE("a stale lookup on the fresh path does not count as use; a stale serve does") {
  FakeClock clock;
  ResponseCache cache(2000);
  std::string body;
  sized("a", 1000, body);
  cache.insert("a", response(body), 1s, 1h, clock.now);
  sized("b", 1000, body);
  cache.insert("b", response(body), 1h, 0s, clock.now);
  clock.advance(2s);
  SUBCASE("lookup() finds a stale: a stays least recently used") {
    CHECK(cache.lookup("a", clock.now).stale());
    sized("c", 1000, body);
    cache.insert("c", response(body), 1h, 0s, clock.now);
    CHECK(cache.peek("a", clock.now).miss());
    CHECK(cache.peek("b", clock.now).fresh());
  }
  SUBCASE("lookupStale() serves a: b becomes least recently used") {
    CHECK(cache.lookupStale("a", clock.now).stale());
    sized("c", 1000, body);
    cache.insert("c", response(body), 1h, 0s, clock.now);
    CHECK(cache.peek("a", clock.now).stale());
    CHECK(cache.peek("b", clock.now).miss());
  }
}

TEST_CASE("entries past stale_until go before any LRU eviction") {
  FakeClock clock;
  ResponseCache cache(3000);
  std::string body;
  sized("short", 1000, body);
  cache.insert("short", response(body), 1s, 1s, clock.now);
  sized("old", 1000, body);
  cache.insert("old", response(body), 1h, 0s, clock.now);
  sized("new", 1000, body);
  cache.insert("new", response(body), 1h, 0s, clock.now);
  clock.advance(1500ms);
  CHECK(cache.lookupStale("short", clock.now).stale()); // short is the most recently used...
  clock.advance(500ms);                                 // ...but now past stale_until
  sized("next", 1000, body);
  cache.insert("next", response(body), 1h, 0s, clock.now);
  CHECK(cache.peek("old", clock.now).fresh()); // LRU, yet kept: the expired entry made room
  CHECK(cache.size() == 3);
  CHECK(cache.stats().expirations == 1);
  CHECK(cache.stats().evictions == 0);
}

TEST_CASE("an entry larger than the whole budget is not stored; one exactly the budget is") {
  FakeClock clock;
  ResponseCache cache(2000);
  std::string body;
  sized("small", 500, body);
  cache.insert("small", response(body), 1h, 0s, clock.now);
  sized("small", 2001, body);
  CHECK(cache.insert("small", response(body), 1h, 0s, clock.now) == CacheInsertResult::kTooLarge);
  CHECK(cache.size() == 0); // the outdated answer under that key is gone too
  CHECK(cache.bytes() == 0);
  CHECK(cache.stats().rejected_too_large == 1);

  sized("x", 500, body);
  cache.insert("x", response(body), 1h, 0s, clock.now);
  sized("huge", 2000, body);
  CHECK(cache.insert("huge", response(body), 1h, 0s, clock.now) == CacheInsertResult::kStored);
  CHECK(cache.size() == 1);
  CHECK(cache.bytes() == 2000);
  CHECK(cache.peek("x", clock.now).miss());
}

TEST_CASE("a zero budget stores nothing") {
  FakeClock clock;
  ResponseCache cache(0);
  CHECK(cache.insert("k", response("{}"), 1h, 1h, clock.now) == CacheInsertResult::kTooLarge);
  CHECK(cache.size() == 0);
}

TEST_CASE("the default budget is 64 MiB") {
  CHECK(ResponseCache::kDefaultMaxBytes == 64u * 1024 * 1024);
  const ResponseCache cache;
  CHECK(cache.maxBytes() == 64u * 1024 * 1024);
}

TEST_CASE("setMaxBytes shrinks by evicting least recently used entries") {
  FakeClock clock;
  ResponseCache cache(3000);
  std::string body;
  for (const char* key : {"a", "b", "c"}) {
    sized(key, 1000, body);
    cache.insert(key, response(body), 1h, 0s, clock.now);
  }
  cache.setMaxBytes(1500);
  CHECK(cache.size() == 1);
  CHECK(cache.peek("c", clock.now).fresh());
  CHECK(cache.stats().evictions == 2);
}

TEST_CASE("purgeExpired removes exactly the entries past stale_until") {
  FakeClock clock;
  ResponseCache cache;
  cache.insert("a", response("{}"), 1s, 0s, clock.now);
  cache.insert("b", response("{}"), 1s, 1s, clock.now);
  cache.insert("c", response("{}"), 1h, 0s, clock.now);
  CHECK(cache.purgeExpired(clock.now + 999ms) == 0);
  CHECK(cache.purgeExpired(clock.now + 1s) == 1); // a
  CHECK(cache.purgeExpired(clock.now + 2s) == 1); // b
  CHECK(cache.purgeExpired(clock.now + 59min) == 0);
  CHECK(cache.size() == 1);
  CHECK(cache.peek("c", clock.now).fresh());
}

TEST_CASE("erase and clear") {
  FakeClock clock;
  ResponseCache cache;
  cache.insert("a", response("{}"), 1h, 0s, clock.now);
  cache.insert("b", response("{}"), 1h, 0s, clock.now);
  CHECK(cache.erase("a"));
  CHECK_FALSE(cache.erase("a"));
  CHECK(cache.size() == 1);
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
  CHECK(cache.lookup("b", clock.now).miss());
  // Usable after clear.
  CHECK(cache.insert("b", response("{}"), 1h, 0s, clock.now) == CacheInsertResult::kStored);
}

TEST_CASE("one caller's entry never answers another caller") {
  FakeClock clock;
  ResponseCache cache;
  const std::string alice =
      cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::callerOf("hash-alice"));
  const std::string bob =
      cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::callerOf("hash-bob"));
  const std::string shared =
      cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::shared());
  cache.insert(alice, response(R"({"content":[{"type":"text","text":"alice"}]})"), 1h, 1h,
               clock.now);
  CHECK(cache.lookup(alice, clock.now).fresh());
  CHECK(cache.lookup(bob, clock.now).miss());
  CHECK(cache.lookupStale(bob, clock.now + 90min).miss());
  CHECK(cache.lookup(shared, clock.now).miss());
}

TEST_CASE("lookup result names are the metric labels") {
  CHECK(cacheLookupResultName(CacheLookupResult::kFresh) == "hit");
  CHECK(cacheLookupResultName(CacheLookupResult::kMiss) == "miss");
  CHECK(cacheLookupResultName(CacheLookupResult::kStale) == "stale");
}
