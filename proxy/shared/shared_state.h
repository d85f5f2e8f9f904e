// Everything `shared_state` adds to a Server, wired once: the Redis client, session ownership
// (heartbeat, records, sweep) and the router in front of the data port's handler, and the
// shared response cache (only with a key secret: shared_key.h) and tool catalog. Without a
// `shared_state` block none of it exists and the data port's handler is used directly.
#pragma once

#include "config/config.h"
#include "proxy/shared/redis_client.h"
#include "proxy/shared/session_router.h"
#include "proxy/shared/shared_cache.h"
#include "proxy/shared/shared_catalog.h"
#include "proxy/shared/shared_sessions.h"

#include <functional>
#include <memory>
#include <string>
#include <uv.h>

namespace bulwark {

class SharedState {
public:
  // Reads the password from the environment (shared_state.password_env; never logged).
  SharedState(uv_loop_t* loop, const config::SharedStateConfig& config, SessionDirectory& sessions,
              RequestHandler& data_handler, Metrics& metrics, UpstreamPoolOptions peer_pool);
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  // What the data port's gate hands requests to.
  RequestHandler& handler() { return router_; }
  // Once the data port is bound: `bound` is its address ("127.0.0.1:41234"), the advertised
  // address unless shared_state.advertise says otherwise.
  void start(const std::string& bound);
  // Shutdown: the router's peer connections, the sweep and heartbeat, the Redis connection.
  void stop();

  // The shared cache in front of `local_cache` (when the key secret is set; otherwise one log
  // line says why not) and the shared catalog of `catalog`. Before start(). `now` is the
  // exchanges' clock (the local cache's time).
  void shareCacheAndCatalog(policies::ResponseCache& local_cache, ToolCatalog& catalog,
                            std::function<policies::TimePoint()> now);
  SharedCache* cache() { return cache_.get(); }       // null: no cache sharing
  SharedCatalog* catalog() { return catalog_.get(); } // null before shareCacheAndCatalog

  RedisClient& redis() { return redis_; }
  const std::string& advertise() const { return sessions_.advertise(); }

private:
  const config::SharedStateConfig config_;
  RedisClient redis_;
  SharedSessions sessions_;
  SessionRouter router_;
  std::unique_ptr<SharedCache> cache_;
  std::unique_ptr<SharedCatalog> catalog_;
};

} // namespace bulwark
