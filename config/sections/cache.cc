// The top-level `cache` block (the one response cache's byte budget) and the per-policy `cache`
// block (ttl, stale_if_error, scope, enabled) under defaults, methods and tools.
#include "config/sections/sections.h"

#include <array>

namespace bulwark::config {
namespace {

// Per-policy cache keys written in the top-level (global) cache block.
constexpr std::array<Hint, 4> kCacheStoreHints = {
    {{"ttl", "defaults.cache.ttl, methods.<name>.cache.ttl or tools[].cache.ttl"},
     {"stale_if_error", "defaults.cache.stale_if_error (or per method or tool)"},
     {"scope", "defaults.cache.scope (or per method or tool)"},
     {"enabled", "defaults.cache.enabled (or per method or tool)"}}};

constexpr auto kCacheStoreKeys = std::to_array<Key<Config>>({
    {"max_bytes", ValueKind::kSize, Range{},
     [](Config& c, const Value& v) { c.cache_max_bytes = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return showSize(Config{}.cache_max_bytes); }},
});

void readScope(Reader& reader, const Field& f, policies::CacheOverride& out) {
  auto text = reader.scalar(f, "caller or shared");
  if (!text) {
    return;
  }
  if (auto scope = policies::parseCacheScope(*text)) {
    out.scope = *scope;
  } else {
    reader.error(f.valueLoc(), f.path,
                 "expected caller (one entry per Authorization header) or shared (one entry for "
                 "every caller), got " +
                     quoted(*text));
  }
}

constexpr auto kCacheKeys = std::to_array<Key<policies::CacheOverride>>({
    {"ttl", ValueKind::kDuration, Range{},
     [](policies::CacheOverride& c, const Value& v) { c.ttl = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::CachePolicy{}.ttl); }},
    {"stale_if_error", ValueKind::kDuration, Range{},
     [](policies::CacheOverride& c, const Value& v) { c.stale_if_error = v.duration; }, nullptr,
     [] { return policies::formatDuration(policies::CachePolicy{}.stale_if_error); }},
    {"scope", ValueKind::kCustom, Range{}, nullptr, &readScope,
     [] { return std::string("caller"); }},
    {"enabled", ValueKind::kBool, Range{},
     [](policies::CacheOverride& c, const Value& v) { c.enabled = v.flag; }},
});

} // namespace

void readCacheStore(Reader& reader, const Field& f, Config& config) {
  readKeys<Config>(reader, f, kCacheStoreKeys, config, kCacheStoreHints);
}

void readCache(Reader& reader, const Field& f, Layer& layer) {
  layer.cache_at = f;
  readKeys<policies::CacheOverride>(reader, f, kCacheKeys, layer.value.cache);
}

void appendCacheKeys(std::vector<KeyInfo>& out, std::string_view prefix, bool store) {
  if (store) {
    appendKeyInfo<Config>(out, prefix, kCacheStoreKeys);
  } else {
    appendKeyInfo<policies::CacheOverride>(out, prefix, kCacheKeys);
  }
}

} // namespace bulwark::config
