// The per-method/per-tool cache policy (a parameter of EffectivePolicy) and the pure decisions
// around it: which methods may be cached at all, and whether and how one successful answer is
// stored, given the policy and the server's own hints (2026-07-28 `ttlMs` / `cacheScope`).
#pragma once

#include "policies/duration.h"
#include "policies/protocol_era.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark::policies {

enum class CacheScope : std::uint8_t {
  kCaller, // one entry per caller identity (session, credentials, query: cache_identity.h)
  kShared, // one entry for every caller
};

// "caller", "shared".
std::string_view cacheScopeName(CacheScope scope);
std::optional<CacheScope> parseCacheScope(std::string_view name);

struct CachePolicy {
  // Off unless configured. A config layer that sets ttl or stale_if_error turns it on; `enabled:
  // false` turns an inherited cache off.
  bool enabled = false;
  Duration ttl{0};            // fresh for this long: answered without contacting the upstream
  Duration stale_if_error{0}; // after ttl, kept this much longer for recovery (`stale`)
  CacheScope scope = CacheScope::kCaller;
  bool operator==(const CachePolicy&) const = default;
};

// The methods whose successful results may be cached: tools/call (only when configured for the
// method or tool), tools/list, resources/list, resources/templates/list, resources/read,
// prompts/list, prompts/get. Never initialize, ping, notifications, subscriptions, completion,
// logging/setLevel or anything unknown: they have effects or are per-session.
bool isCacheableMethod(std::string_view method);

// Whether a request may be answered from the cache at all. A follow-up of a multi round-trip
// request (2026-07-28: params carry `inputResponses` or `requestState`) never is: it continues
// an exchange the server holds the state of, so an earlier answer is not its answer.
bool mayAnswerFromCache(std::string_view method, bool continues_round_trip);

// The server's hints on a result (2026-07-28): `ttlMs` and `cacheScope`.
enum class ServerCacheScope : std::uint8_t { kUnspecified, kPrivate, kPublic };

struct CacheStoreFacts {
  std::string_view method;
  // A successful result: no JSON-RPC error and no `isError: true`. Nothing else is ever stored.
  bool success = false;
  std::optional<Duration> server_ttl; // result.ttlMs when present (>= 0)
  ServerCacheScope server_scope = ServerCacheScope::kUnspecified;
  // result.resultType: only a complete result is stored; an input_required result (interim) or
  // a task handle is never the request's answer to keep.
  ResultKind result_kind = ResultKind::kComplete;
};

struct CacheStoreDecision {
  Duration ttl{0};
  Duration stale_if_error{0};
  CacheScope scope = CacheScope::kCaller;
  bool operator==(const CacheStoreDecision&) const = default;
};

// Whether to store a result, for how long, and under which scope. nullopt: do not store.
//   - only complete successes of cacheable methods (never input_required, never a task handle);
//   - policy enabled: ttl = the configured ttl, lowered to the server's ttlMs when that is
//     shorter (the server knows when its answer goes out of date; the operator's ttl is a cap);
//     stale_if_error as configured;
//   - policy not enabled: a list/read method (not tools/call) whose result carries ttlMs > 0 is
//     stored for ttlMs, with the policy's stale_if_error (0 unless configured);
//   - scope: shared when the server says "public", or when the policy says shared and the server
//     does not say "private"; otherwise caller;
//   - nothing to keep (ttl and stale_if_error both 0): nullopt.
// The proxy looks a request up under its caller key first, then under the shared key.
std::optional<CacheStoreDecision> cacheStoreDecision(const CachePolicy& policy,
                                                     const CacheStoreFacts& facts);

} // namespace bulwark::policies
