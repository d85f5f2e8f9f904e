#include "policies/cache_policy.h"

#include <algorithm>
#include <array>

namespace bulwark::policies {

std::string_view cacheScopeName(CacheScope scope) {
  return scope == CacheScope::kShared ? "shared" : "caller";
}

std::optional<CacheScope> parseCacheScope(std::string_view name) {
  if (name == "caller") {
    return CacheScope::kCaller;
  }
  if (name == "shared") {
    return CacheScope::kShared;
  }
  return std::nullopt;
}

namespace {

constexpr std::array<std::string_view, 6> kListAndReadMethods = {
    "tools/list",     "resources/list", "resources/templates/list",
    "resources/read", "prompts/list",   "prompts/get"};

bool isListOrRead(std::string_view method) {
  return std::find(kListAndReadMethods.begin(), kListAndReadMethods.end(), method) !=
         kListAndReadMethods.end();
}

} // namespace

bool isCacheableMethod(std::string_view method) {
  return method == "tools/call" || isListOrRead(method);
}

bool mayAnswerFromCache(std::string_view method, bool continues_round_trip) {
  return !continues_round_trip && isCacheableMethod(method);
}

std::optional<CacheStoreDecision> cacheStoreDecision(const CachePolicy& policy,
                                                     const CacheStoreFacts& facts) {
  if (!facts.success || !isFinalResult(facts.result_kind) || !isCacheableMethod(facts.method)) {
    return std::nullopt;
  }
  const std::optional<Duration> server_ttl =
      facts.server_ttl ? std::optional<Duration>(std::max(Duration{0}, *facts.server_ttl))
                       : std::nullopt;
  CacheStoreDecision d;
  if (policy.enabled) {
    d.ttl = server_ttl ? std::min(policy.ttl, *server_ttl) : policy.ttl;
    d.stale_if_error = policy.stale_if_error;
  } else if (isListOrRead(facts.method) && server_ttl && server_ttl->count() > 0) {
    d.ttl = *server_ttl;
    d.stale_if_error = policy.stale_if_error;
  } else {
    return std::nullopt;
  }
  const bool shared =
      facts.server_scope == ServerCacheScope::kPublic ||
      (policy.scope == CacheScope::kShared && facts.server_scope != ServerCacheScope::kPrivate);
  d.scope = shared ? CacheScope::kShared : CacheScope::kCaller;
  if (d.ttl.count() <= 0 && d.stale_if_error.count() <= 0) {
    return std::nullopt;
  }
  return d;
}

} // namespace bulwark::policies
