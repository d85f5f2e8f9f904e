#include "proxy/shared/shared_state.h"

#include "proxy/admin/log.h"

#include <cstdlib>

namespace bulwark {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

RedisClientOptions redisOptions(const config::SharedStateConfig& config) {
  RedisClientOptions options;
  options.address = config.redis;
  options.db = config.redis_db;
  options.timeout = duration_cast<milliseconds>(config.timeout);
  if (!config.password_env.empty()) {
    const char* password = std::getenv(config.password_env.c_str());
    if (password == nullptr || password[0] == '\0') {
      logLine(LogLevel::kWarn,
              "shared_state: the password variable is not set; connecting "
              "to Redis without AUTH",
              {{"password_env", config.password_env}});
    } else {
      options.password = password;
    }
  }
  return options;
}

SharedSessionsOptions sessionsOptions(const config::SharedStateConfig& config) {
  SharedSessionsOptions options;
  options.key_prefix = config.key_prefix;
  // Without a secret, session ids are named by an unkeyed SHA-256 (shared_key.h); the cache
  // part says once that its sharing is off.
  options.key_secret = sharedSecretFromEnvironment(config.key_secret_env).value_or("");
  options.session_ttl = duration_cast<milliseconds>(config.session_ttl);
  options.heartbeat_interval = duration_cast<milliseconds>(config.heartbeat_interval);
  options.heartbeat_ttl = duration_cast<milliseconds>(config.heartbeat_ttl);
  return options;
}

} // namespace

SharedState::SharedState(uv_loop_t* loop, const config::SharedStateConfig& config,
                         SessionDirectory& sessions, RequestHandler& data_handler, Metrics& metrics,
                         UpstreamPoolOptions peer_pool)
    : config_(config), redis_(loop, redisOptions(config), &metrics),
      sessions_(loop, redis_, sessions, sessionsOptions(config)),
      router_(loop, data_handler, sessions, sessions_, metrics, peer_pool) {}

void SharedState::shareCacheAndCatalog(policies::ResponseCache& local_cache, ToolCatalog& catalog,
                                       std::function<policies::TimePoint()> now) {
  std::string why_not;
  if (std::optional<SharedKeys> keys =
          SharedKeys::fromEnvironment(config_.key_secret_env, config_.key_prefix, &why_not)) {
    cache_ = std::make_unique<SharedCache>(redis_, std::move(*keys), local_cache, std::move(now));
  } else {
    // Once: without the secret, cache entries would be named by the caller's credential.
    logLine(LogLevel::kWarn, "shared_state: cache sharing is off", {{"reason", why_not}});
  }
  catalog_ = std::make_unique<SharedCatalog>(redis_, catalog, config_.key_prefix);
}

void SharedState::start(const std::string& bound) {
  sessions_.setAdvertise(config_.advertise ? config_.advertise->text() : bound);
  logLine(LogLevel::kInfo, "shared_state: on",
          {{"redis", config_.redis.text()}, {"advertise", sessions_.advertise()}});
  redis_.start();
  sessions_.start();
  if (catalog_) {
    catalog_->start();
  }
}

void SharedState::stop() {
  redis_.stop(); // first: no Redis callback runs after this, so the router may free its waiters
  if (catalog_) {
    catalog_->stop();
  }
  router_.close();
  sessions_.stop();
}

} // namespace bulwark
