// The shared cache (issue 15 item 5) seen from one request: a cacheable request that misses
// the local cache entirely (no fresh and no stale entry) asks Redis once, bounded by
// shared_state.timeout, before its first attempt; what Redis had is then in the local cache,
// so a fresh entry answers and a stale one can serve stale_if_error. Everything else (a local
// hit, a request that is not cacheable, Redis down) goes on without waiting.
#include "proxy/admin/metrics.h"
#include "proxy/exchange/exchange.h"

namespace bulwark {

bool Exchange::sharedCacheMayHave() const {
  if (context_.shared_cache == nullptr || !cache_keys_.cacheable ||
      !context_.shared_cache->available()) {
    return false;
  }
  const auto now = this->now();
  return context_.cache.peek(cache_keys_.caller, now).miss() &&
         context_.cache.peek(cache_keys_.shared, now).miss();
}

bool Exchange::askSharedCache() {
  if (!sharedCacheMayHave()) {
    return false;
  }
  if (!context_.shared_cache->lookup(cache_keys_.caller, cache_keys_.shared, *this)) {
    context_.metrics.recordCacheRequest(CacheResult::kMiss);
    return false;
  }
  waiting_for_shared_cache_ = true;
  backing_off_ = true; // nothing in flight: the deadline or the client's leaving ends the wait
  return true;
}

void Exchange::onSharedCacheRead() {
  waiting_for_shared_cache_ = false;
  backing_off_ = false;
  const auto now = this->now();
  for (const std::string* key : {&cache_keys_.caller, &cache_keys_.shared}) {
    const policies::CacheLookup found = context_.cache.peek(*key, now);
    if (found.fresh() && client_ != nullptr) {
      context_.metrics.recordCacheRequest(CacheResult::kHit);
      const std::string result = found.entry->response.result_json;
      report_.outcome = RequestOutcome::success();
      report_.cache = cacheResultLabel(CacheResult::kHit);
      answerWithResult(result);
      return;
    }
  }
  context_.metrics.recordCacheRequest(CacheResult::kMiss);
  beginAttempt();
}

void Exchange::publishToSharedCache(const std::string& key,
                                    const policies::CachedResponse& response,
                                    policies::Duration ttl, policies::Duration stale_if_error) {
  if (context_.shared_cache != nullptr) {
    context_.shared_cache->publish(key, response, ttl, stale_if_error);
  }
}

} // namespace bulwark
