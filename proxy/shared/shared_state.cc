#include "proxy/shared/shared_state.h"

#include "proxy/admin/log.h"

#include <cstdlib>

namespace bulwark {

RedisClientOptions redisOptionsOf(const config::SharedStateConfig& config) {
  RedisClientOptions options;
  options.address = config.redis;
  options.db = config.redis_db;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout);
  if (!config.password_env.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at start, before any thread exists
    if (const char* password = std::getenv(config.password_env.c_str()); password != nullptr) {
      options.password = password;
    } else {
      logLine(LogLevel::kWarn, "shared_state: the password variable is unset; connecting without",
              {{"password_env", std::string_view(config.password_env)}});
    }
  }
  return options;
}

SharedState::SharedState(uv_loop_t* loop, Metrics& metrics,
                         const config::SharedStateConfig& config,
                         policies::ResponseCache& local_cache, ToolCatalog& catalog,
                         std::function<policies::TimePoint()> now)
    : redis_(loop, redisOptionsOf(config), &metrics), catalog_(redis_, catalog, config.key_prefix) {
  if (std::optional<SharedKeys> keys =
          SharedKeys::fromEnvironment(config.key_secret_env, config.key_prefix, &cache_off_reason_)) {
    cache_ = std::make_unique<SharedCache>(redis_, std::move(*keys), local_cache, std::move(now));
  }
}

void SharedState::start() {
  if (cache_ == nullptr) {
    // Once: without the secret, cache entries would be named by the caller's credential.
    logLine(LogLevel::kWarn, "shared_state: cache sharing is off",
            {{"reason", std::string_view(cache_off_reason_)}});
  } else {
    logLine(LogLevel::kInfo, "shared_state: cache sharing is on");
  }
  // What this sidecar learned while Redis was away goes up; what others learned comes down.
  redis_.setOnUp([this] {
    catalog_.publish();
    catalog_.load();
  });
  redis_.start();
}

void SharedState::stop() { redis_.stop(); }

} // namespace bulwark
