// Shared state of one sidecar (issue 15), owned by the Server when `shared_state` is
// configured: the Redis connection and what rides on it. Here the shared response cache (only
// with a key secret: proxy/shared/shared_key.h) and the shared tool catalog; the session
// records, heartbeats and takeover belong here too as they land.
//
// Single-threaded (the loop thread). stop() before the loop's last run: the RedisClient frees
// its handles in close callbacks.
#pragma once

#include "config/config.h"
#include "proxy/shared/redis_client.h"
#include "proxy/shared/shared_cache.h"
#include "proxy/shared/shared_catalog.h"

#include <functional>
#include <memory>

namespace bulwark {

class Metrics;
class ToolCatalog;

class SharedState {
public:
  // Reads the password and the key secret from the environment variables the config names
  // (never logged). `now` is the exchanges' clock (the local cache's time).
  SharedState(uv_loop_t* loop, Metrics& metrics, const config::SharedStateConfig& config,
              policies::ResponseCache& local_cache, ToolCatalog& catalog,
              std::function<policies::TimePoint()> now);
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  // Connects (in the background; Bulwark serves meanwhile) and logs once whether cache sharing
  // is on. Every time Redis becomes up, the shared catalog is read.
  void start();
  void stop();

  RedisClient& redis() { return redis_; }
  SharedCache* cache() { return cache_.get(); } // null: no key secret, no cache sharing
  SharedCatalog& catalog() { return catalog_; }

private:
  RedisClient redis_;
  std::unique_ptr<SharedCache> cache_;
  std::string cache_off_reason_;
  SharedCatalog catalog_;
};

// The client's options from the config (password from the environment).
RedisClientOptions redisOptionsOf(const config::SharedStateConfig& config);

} // namespace bulwark
