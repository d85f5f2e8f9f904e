#include "proxy/app/config_reloader.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/uv_util.h"

namespace bulwark {

std::vector<std::string_view> restartOnlyChanges(const config::Config& running,
                                                 const config::Config& next) {
  const config::UpstreamConfig& a = running.upstream;
  const config::UpstreamConfig& b = next.upstream;
  const auto same_backoff = [](const policies::BackoffParams& x, const policies::BackoffParams& y) {
    return x.base == y.base && x.multiplier == y.multiplier && x.max == y.max;
  };
  const std::pair<std::string_view, bool> settings[] = {
      {"listen", running.listen != next.listen},
      {"admin", running.admin != next.admin},
      {"upstream.url", a.url != b.url},
      {"upstream.connect_timeout", a.connect_timeout != b.connect_timeout},
      {"upstream.command", a.command != b.command},
      {"upstream.env", a.env != b.env},
      {"upstream.cwd", a.cwd != b.cwd},
      {"upstream.restart",
       !same_backoff(a.restart.backoff, b.restart.backoff) ||
           a.restart.max_restarts != b.restart.max_restarts ||
           a.restart.stable_after != b.restart.stable_after},
      {"upstream.stop_timeout", a.stop_timeout != b.stop_timeout},
      {"upstream.session_idle_timeout", a.session_idle_timeout != b.session_idle_timeout},
      {"upstream.max_sessions", a.max_sessions != b.max_sessions},
      {"shared_state", running.shared_state != next.shared_state},
  };
  std::vector<std::string_view> changed;
  for (const auto& [key, differs] : settings) {
    if (differs) {
      changed.push_back(key);
    }
  }
  return changed;
}

ConfigReloader::ConfigReloader(uv_loop_t* loop, std::string path, Metrics& metrics, Adjust adjust,
                               Apply apply)
    : loop_(loop), path_(std::move(path)), metrics_(metrics), adjust_(std::move(adjust)),
      apply_(std::move(apply)) {}

std::string ConfigReloader::start(std::chrono::milliseconds poll_interval) {
  int rc = uv_signal_init(loop_, &sighup_);
  if (rc != 0) {
    return uvError("uv_signal_init", rc);
  }
  rc = uv_fs_poll_init(loop_, &poll_);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
    return uvError("uv_fs_poll_init", rc);
  }
  started_ = true;
  sighup_.data = this;
  poll_.data = this;
  rc = uv_signal_start(&sighup_, &ConfigReloader::onSignal, SIGHUP);
  if (rc != 0) {
    return uvError("uv_signal_start", rc);
  }
  rc = uv_fs_poll_start(&poll_, &ConfigReloader::onPoll, path_.c_str(),
                        static_cast<unsigned>(poll_interval.count()));
  if (rc != 0) {
    return uvError("uv_fs_poll_start", rc);
  }
  // Neither keeps the process alive on its own once shutdown has closed everything else.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sighup_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  return {};
}

void ConfigReloader::stop() {
  if (!started_) {
    return;
  }
  started_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
}

void ConfigReloader::onSignal(uv_signal_t* handle, int) {
  static_cast<ConfigReloader*>(handle->data)->reload("SIGHUP");
}

void ConfigReloader::onPoll(uv_fs_poll_t* handle, int status, const uv_stat_t* previous,
                            const uv_stat_t* current) {
  auto* self = static_cast<ConfigReloader*>(handle->data);
  if (status != 0) {
    // The file vanished for a moment (an editor's rename, a symlink swap): the next stat that
    // succeeds differs from this failure and triggers the reload.
    return;
  }
  const FileIdentity now = identityOf(*current);
  if (now != identityOf(*previous) && self->last_read_ != now) {
    self->reload("file change");
  }
}

ConfigReloader::FileIdentity ConfigReloader::identityOf(const uv_stat_t& stat) {
  return FileIdentity{stat.st_ino, stat.st_size, static_cast<std::int64_t>(stat.st_mtim.tv_sec),
                      static_cast<std::int64_t>(stat.st_mtim.tv_nsec)};
}

void ConfigReloader::reload(std::string_view trigger) {
  uv_fs_t stat_request;
  if (uv_fs_stat(loop_, &stat_request, path_.c_str(), nullptr) == 0) {
    last_read_ = identityOf(stat_request.statbuf);
  } else {
    last_read_.reset();
  }
  uv_fs_req_cleanup(&stat_request);
  config::ConfigLoadResult result = config::loadConfigFile(path_);
  if (!result.ok()) {
    metrics_.recordConfigReload(ReloadResult::kFailure);
    for (const config::ConfigError& error : result.errors) {
      logLine(LogLevel::kError, "config reload rejected; keeping the previous configuration",
              {{"class", "config"},
               {"trigger", trigger},
               {"error", std::string_view(error.toString())}});
    }
    return;
  }
  adjust_(*result.config);
  apply_(std::make_shared<const RuntimeConfig>(std::move(*result.config)));
  metrics_.recordConfigReload(ReloadResult::kSuccess);
  logLine(LogLevel::kInfo, "config reloaded",
          {{"trigger", trigger}, {"file", std::string_view(path_)}});
}

}  // namespace bulwark
