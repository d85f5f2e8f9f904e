// The top-level `cache` block (the one response cache's byte budget, the caller identity's extra
// headers) and the per-policy `cache` block (ttl, stale_if_error, scope, enabled) under
// defaults, methods and tools.
#include "config/sections/sections.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace bulwark::config {
namespace {

// Per-policy cache keys written in the top-level (global) cache block.
constexpr std::array<Hint, 4> kCacheStoreHints = {
    {{"ttl", "defaults.cache.ttl, methods.<name>.cache.ttl or tools[].cache.ttl"},
     {"stale_if_error", "defaults.cache.stale_if_error (or per method or tool)"},
     {"scope", "defaults.cache.scope (or per method or tool)"},
     {"enabled", "defaults.cache.enabled (or per method or tool)"}}};

// Header names the caller identity reads anyway (policies/cache_identity.h).
constexpr std::array<std::string_view, 4> kBuiltInIdentityHeaders = {
    "mcp-session-id", "authorization", "cookie", "x-api-key"};

// An RFC 9110 token: what a field name may be.
bool isFieldName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::string lowerCase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

void readIdentityHeaders(Reader& reader, const Field& f, Config& config) {
  if (f.empty() || !f.value.IsSequence()) {
    reader.error(f.valueLoc(), f.path, "expected a list of header names such as [X-Tenant-Id]");
    return;
  }
  std::vector<std::string> names;
  for (const Field& e : reader.elements(f, "header names")) {
    auto text = reader.nonEmptyString(e);
    if (!text) {
      continue;
    }
    std::string name = lowerCase(*text);
    if (!isFieldName(name)) {
      reader.error(e.valueLoc(), e.path, "not a header name: " + quoted(*text));
    } else if (std::find(kBuiltInIdentityHeaders.begin(), kBuiltInIdentityHeaders.end(), name) !=
               kBuiltInIdentityHeaders.end()) {
      reader.error(e.valueLoc(), e.path,
                   quoted(*text) + " is always part of the caller identity; list only others");
    } else if (std::find(names.begin(), names.end(), name) != names.end()) {
      reader.error(e.valueLoc(), e.path, "header " + quoted(*text) + " is listed twice");
    } else {
      names.push_back(std::move(name));
    }
  }
  config.cache_identity_headers = std::move(names);
}

constexpr auto kCacheStoreKeys = std::to_array<Key<Config>>({
    {"max_bytes", ValueKind::kSize, Range{},
     [](Config& c, const Value& v) { c.cache_max_bytes = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return showSize(Config{}.cache_max_bytes); }},
    {"identity_headers", ValueKind::kCustom, Range{}, nullptr, &readIdentityHeaders},
});

// Global cache keys written in a per-policy cache block.
constexpr std::array<Hint, 2> kCachePolicyHints = {
    {{"identity_headers", "cache.identity_headers (top level: one identity for every policy)"},
     {"max_bytes", "cache.max_bytes (top level: one budget for the one cache)"}}};

void readScope(Reader& reader, const Field& f, policies::CacheOverride& out) {
  auto text = reader.scalar(f, "caller or shared");
  if (!text) {
    return;
  }
  if (auto scope = policies::parseCacheScope(*text)) {
    out.scope = *scope;
  } else {
    reader.error(f.valueLoc(), f.path,
                 "expected caller (one entry per caller: session, credentials, query) or shared "
                 "(one entry for every caller), got " +
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
  readKeys<policies::CacheOverride>(reader, f, kCacheKeys, layer.value.cache, kCachePolicyHints);
}

void appendCacheKeys(std::vector<KeyInfo>& out, std::string_view prefix, bool store) {
  if (store) {
    appendKeyInfo<Config>(out, prefix, kCacheStoreKeys);
  } else {
    appendKeyInfo<policies::CacheOverride>(out, prefix, kCacheKeys);
  }
}

} // namespace bulwark::config
