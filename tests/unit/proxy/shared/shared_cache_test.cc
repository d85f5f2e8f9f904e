#include "proxy/shared/shared_cache.h"
#include "proxy/shared/shared_catalog.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

using namespace std::chrono_literals;
using policies::Duration;

SharedCacheEntry sampleEntry() {
  return SharedCacheEntry{policies::CachedResponse{R"({"content":[{"type":"text","text":"a\nb"}]})",
                                                   "application/json", 3},
                          1'700'000'000'000, 1'700'000'060'000, 1'700'003'600'000};
}

TEST_CASE("a shared cache entry reads back as written, and anything else is refused") {
  const SharedCacheEntry entry = sampleEntry();
  const std::string text = encodeSharedCacheEntry(entry);
  CHECK(text.starts_with("bk1 1700000000000 1700000060000 1700003600000 3 16\napplication/json{"));
  REQUIRE(decodeSharedCacheEntry(text).has_value());
  CHECK(*decodeSharedCacheEntry(text) == entry);

  CHECK_FALSE(decodeSharedCacheEntry("").has_value());
  CHECK_FALSE(decodeSharedCacheEntry("bk2" + text.substr(3)).has_value());
  CHECK_FALSE(decodeSharedCacheEntry(text.substr(0, text.find('\n') + 5)).has_value());
  CHECK_FALSE(decodeSharedCacheEntry("bk1 1 2 3 0 99\napplication/json{}").has_value());
  CHECK_FALSE(decodeSharedCacheEntry("bk1 5 2 3 0 0\n{}").has_value()); // fresh before stored
  CHECK_FALSE(decodeSharedCacheEntry("bk1 1 2 3 0 0\n").has_value());   // no result
  CHECK_FALSE(decodeSharedCacheEntry("bk1 x 2 3 0 0\n{}").has_value());
}

TEST_CASE("an entry from Redis joins the local cache with the windows it has left") {
  policies::ResponseCache local;
  const policies::TimePoint now{std::chrono::hours(100)};
  const SharedCacheEntry entry = sampleEntry();
  const auto wall = [](std::int64_t ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  };

  SUBCASE("still fresh: fresh for what is left, then stale until its end") {
    REQUIRE(adoptSharedCacheEntry(local, "k", entry, now, wall(entry.stored_at_ms + 20'000)));
    CHECK(local.peek("k", now + 39s).fresh());
    CHECK(local.peek("k", now + 41s).stale());
    CHECK(local.peek("k", now + 3579s).stale());
    CHECK(local.peek("k", now + 3581s).miss());
    CHECK(local.peek("k", now).entry->response == entry.response);
  }
  SUBCASE("stale already: stale at once (stale_if_error for a replica whose server failed)") {
    REQUIRE(adoptSharedCacheEntry(local, "k", entry, now, wall(entry.fresh_until_ms + 1'000)));
    CHECK(local.peek("k", now).stale());
    CHECK(local.peek("k", now + 3538s).stale());
    CHECK(local.peek("k", now + 3540s).miss());
  }
  SUBCASE("past its stale window: not taken") {
    CHECK_FALSE(adoptSharedCacheEntry(local, "k", entry, now, wall(entry.stale_until_ms)));
    CHECK(local.size() == 0);
  }
  SUBCASE("the local cache has one already: it stays") {
    local.insert("k", policies::CachedResponse{"{\"mine\":1}", "application/json", 0}, Duration(5),
                 Duration(5), now);
    CHECK_FALSE(adoptSharedCacheEntry(local, "k", entry, now, wall(entry.stored_at_ms)));
    CHECK(local.peek("k", now).entry->response.result_json == "{\"mine\":1}");
  }
}

TEST_CASE("a shared catalog tool reads back as written, and anything else is refused") {
  KnownTool tool;
  tool.hints = {true, std::nullopt};
  tool.source = policies::HintSource::kDiscovered;
  tool.learned_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1234567));
  const std::string text = encodeSharedTool(tool);
  CHECK(text == "t - discovered 1234567");
  const std::optional<KnownTool> back = decodeSharedTool(text);
  REQUIRE(back.has_value());
  CHECK(back->hints.read_only_hint == std::optional<bool>(true));
  CHECK_FALSE(back->hints.idempotent_hint.has_value());
  CHECK(back->source == policies::HintSource::kDiscovered);
  CHECK(back->learned_at == tool.learned_at);
  CHECK(decodeSharedTool("f t caller_listing 0")->source == policies::HintSource::kCallerListing);

  CHECK_FALSE(decodeSharedTool("").has_value());
  CHECK_FALSE(decodeSharedTool("x - listed 1").has_value());
  CHECK_FALSE(decodeSharedTool("t - guessed 1").has_value());
  CHECK_FALSE(decodeSharedTool("t - listed").has_value());
  CHECK_FALSE(decodeSharedTool("t - listed 1x").has_value());
}

} // namespace
} // namespace bulwark
