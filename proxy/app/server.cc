#include "proxy/app/server.h"

#include "proxy/admin/log.h"
#include "proxy/app/tools_view.h"
#include "proxy/net/uv_util.h"

namespace bulwark {
namespace {

SessionLimits sessionLimitsOf(const config::Config& config) {
  SessionLimits limits;
  limits.max_handshake_bytes = config.sessions.max_handshake_bytes;
  limits.max_total_bytes = config.sessions.max_total_bytes;
  limits.idle_timeout = config.sessions.idle_timeout;
  return limits;
}

}  // namespace

Server::Server(uv_loop_t* loop) : loop_(loop), deferred_(loop) {}

Server::~Server() = default;

std::string Server::start(const ServerSettings& settings) {
  std::string error = openEverything(settings);
  if (!error.empty()) {
    // Whatever opened before the failure (the deferred queue's idle handle at least) is closed
    // here, on every failure path, so that the loop runs out and closes with nothing left.
    shutdown();
  }
  return error;
}

std::string Server::openEverything(const ServerSettings& settings) {
  settings_ = settings;
  static_cast<config::LimitsConfig&>(limits_) = settings_.runtime->settings.limits;
  BufferBudget::process().setLimit(limits_.max_buffered_bytes);
  std::string error;
  if (settings_.stdio) {
    stdio_bridge_ = std::make_unique<stdio::StdioBridge>(loop_, deferred_, metrics_,
                                                         *settings_.stdio);
    if (error = stdio_bridge_->start(); !error.empty()) {
      return error;
    }
    const auto bridge = config::parseUpstreamUrl(
        "http://" + stdio_bridge_->address() + std::string(stdio::StdioBridge::kPath), error);
    if (!bridge) {
      return "stdio bridge: " + error;
    }
    settings_.upstream = *bridge;
  }
  const auto upstream_address = resolveHostPort(settings_.upstream.origin, error);
  if (!upstream_address) {
    return "upstream: " + error;
  }
  pool_ = std::make_unique<UpstreamPool>(loop_, *upstream_address, settings_.pool);
  const std::string mcp_path = settings_.upstream.path.substr(0, settings_.upstream.path.find('?'));
  sessions_ = std::make_unique<SessionDirectory>(loop_, *pool_, metrics_, mcp_path,
                                                 sessionLimitsOf(settings_.runtime->settings));
  probe_ = std::make_unique<UpstreamProbe>(loop_, *upstream_address, metrics_);
  probe_->setOnReachableAgain([this] {
    breakers_.upstreamReachableAgain(std::chrono::steady_clock::now());
    if (context_) {
      context_->stream_wake.wakeAll(); // client GET streams waiting out the outage
    }
    if (discovery_) {
      tools_.newGeneration();
      discovery_->listSoon("upstream reachable again");
    }
  });
  readiness_ = std::make_unique<Readiness>(Readiness{*probe_, false, {}});
  if (stdio_bridge_) {
    readiness_->upstream_problem = [this] { return stdio_bridge_->problem(); };
  }
  budget_.emplace(settings_.runtime->settings.retry_budget);
  cache_.setMaxBytes(settings_.runtime->settings.cache_max_bytes);
  breakers_.configure(*settings_.runtime);
  metrics_.setMaxToolLabels(settings_.runtime->settings.monitoring.max_tool_labels);
  metrics_.setAlertThresholds(settings_.runtime->settings.monitoring.alert_error_rate,
                              settings_.runtime->settings.monitoring.alert_recovery_time);
  metrics_.setBeforeScrape([this] {
    breakers_.refresh(std::chrono::steady_clock::now());
    metrics_.setBufferedBytes(BufferBudget::process().used());
  });
  context_ = std::make_unique<ProxyContext>(
      ProxyContext{loop_, *pool_, metrics_, envelope_parser_, tools_, *budget_, random_, cache_,
                   cache_json_, breakers_, *sessions_, *probe_, nullptr, settings_.runtime,
                   mcp_path, limits_.max_held_answer_bytes, ExchangeClock{}});
  data_handler_ = std::make_unique<DataPlaneHandler>(*context_);
  RequestHandler* data_handler = data_handler_.get();
  if (const auto& shared = settings_.runtime->settings.shared_state) {
    if (stdio_bridge_) {
      return "shared_state needs an HTTP upstream: a stdio server's sessions are children of "
             "this process, which no other replica can reach or take over";
    }
    shared_state_ = std::make_unique<SharedState>(loop_, *shared, *sessions_, *data_handler_,
                                                  metrics_, settings_.pool);
    data_handler = &shared_state_->handler();
    shared_state_->shareCacheAndCatalog(cache_, tools_,
                                        [this] { return context_->clock.now(); });
    context_->shared_cache = shared_state_->cache();
    context_->shared_catalog = shared_state_->catalog();
  }
  gate_ = std::make_unique<RequestGate>(*data_handler, metrics_, limits_,
                                        isLoopbackHost(settings_.listen.host));
  gate_->configure(settings_.runtime->settings.security);
  admin_handler_ = std::make_unique<AdminHandler>(metrics_, *readiness_);
  data_listener_ = std::make_unique<Listener>(loop_, "data", *gate_, deferred_, limits_,
                                              &metrics_, true);
  admin_listener_ = std::make_unique<Listener>(loop_, "admin", *admin_handler_, deferred_,
                                               limits_, &metrics_);
  if (error = data_listener_->listen(settings_.listen); !error.empty()) {
    return error;
  }
  if (error = admin_listener_->listen(settings_.admin); !error.empty()) {
    return error;
  }
  if (error = allocator_trim_.start(); !error.empty()) {
    return "allocator trim: " + error;
  }
  if (shared_state_) {
    shared_state_->start(data_listener_->boundAddress());
  }
  if (!stdio_bridge_) {
    probe_->start();  // a stdio bridge reports its children's state itself
  }
  if (error = startDiscovery(mcp_path); !error.empty()) {
    shutdown();
    return "tool discovery: " + error;
  }
  if (!settings_.config_path.empty()) {
    reloader_ = std::make_unique<ConfigReloader>(
        loop_, settings_.config_path, metrics_, settings_.adjust_reloaded,
        [this](RuntimeConfigPtr runtime) { applyConfig(std::move(runtime)); });
    if (error = reloader_->start(std::chrono::milliseconds(1000)); !error.empty()) {
      return "config reloading: " + error;
    }
  }

  int rc = uv_signal_init(loop_, &sigterm_);
  if (rc == 0 && (rc = uv_signal_init(loop_, &sigint_)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);  // the one that did open
  }
  if (rc != 0) {
    return uvError("uv_signal_init", rc);
  }
  signals_installed_ = true;
  sigterm_.data = this;
  sigint_.data = this;
  rc = uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  rc = rc != 0 ? rc : uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  if (rc != 0) {
    return uvError("uv_signal_start", rc);
  }
  // Signal handlers alone must not keep the loop alive once everything else has closed.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sigterm_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&sigint_));
  return {};
}

namespace {

DiscoverySettings discoverySettings(const config::DiscoveryConfig& config) {
  DiscoverySettings settings;
  settings.enabled = config.enabled;
  settings.at_start = config.at_start;
  settings.interval = std::chrono::duration_cast<std::chrono::milliseconds>(config.interval);
  settings.headers = config.headers;
  return settings;
}

}  // namespace

std::string Server::startDiscovery(const std::string& mcp_path) {
  discovery_ = std::make_unique<ToolDiscovery>(loop_, *pool_, metrics_, tools_, envelope_parser_,
                                               settings_.upstream.host_header, mcp_path);
  tools_.setOnLearned([this] {
    metrics_.setToolCatalogSize(tools_.size());
    if (shared_state_ && shared_state_->catalog() != nullptr) {
      shared_state_->catalog()->publish();
    }
    if (!discovery_->status().enabled) {
      warnUnmatchedRules(tools_, *context_->runtime, warned_rules_);
    }
  });
  tools_.setOnListChanged([this] { discovery_->listSoon("tools/list_changed"); });
  discovery_->setOnListed(
      [this] { warnUnmatchedRules(tools_, *context_->runtime, warned_rules_); });
  sessions_->setOnSessionLost([this] {
    tools_.newGeneration();
    discovery_->listSoon("upstream lost a session");
  });
  context_->discovery = discovery_.get();
  admin_handler_->setToolsView(
      [this] { return toolsViewJson(tools_, discovery_->status(), *context_->runtime); });
  return discovery_->start(discoverySettings(settings_.runtime->settings.upstream.discovery));
}

void Server::applyConfig(RuntimeConfigPtr runtime) {
  const config::Config& next = runtime->settings;
  const config::Config& current = context_->runtime->settings;
  for (const std::string_view setting : restartOnlyChanges(current, next)) {
    logLine(LogLevel::kWarn, "config reload: this setting takes effect only after a restart",
            {{"setting", setting}});
  }
  // The budget's window keeps counting; only its parameters change.
  if (next.retry_budget.ratio != current.retry_budget.ratio ||
      next.retry_budget.min_per_second != current.retry_budget.min_per_second ||
      next.retry_budget.window != current.retry_budget.window) {
    *budget_ = policies::RetryBudget(next.retry_budget);
  }
  cache_.setMaxBytes(next.cache_max_bytes);
  breakers_.configure(*runtime);
  metrics_.setMaxToolLabels(next.monitoring.max_tool_labels);
  metrics_.setAlertThresholds(next.monitoring.alert_error_rate,
                              next.monitoring.alert_recovery_time);
  static_cast<config::LimitsConfig&>(limits_) = next.limits;
  BufferBudget::process().setLimit(next.limits.max_buffered_bytes);
  sessions_->setLimits(sessionLimitsOf(next));
  gate_->configure(next.security);
  discovery_->configure(discoverySettings(next.upstream.discovery));
  context_->runtime = std::move(runtime);
  warned_rules_.clear();
  warnUnmatchedRules(tools_, *context_->runtime, warned_rules_);
}

void Server::onSignal(uv_signal_t* handle, int signal_number) {
  auto* self = static_cast<Server*>(handle->data);
  if (signal_number == SIGINT) {
    logLine(LogLevel::kInfo, "shutting down", {{"signal", signal_number}});
    self->shutdown();
    return;
  }
  self->drain();
}

void Server::drain() {
  if (shut_down_) {
    return;
  }
  if (draining_) {
    logLine(LogLevel::kInfo, "second SIGTERM: shutting down now");
    shutdown();
    return;
  }
  draining_ = true;
  readiness_->draining = true;
  data_listener_->stopAccepting();
  data_listener_->drainConnections();
  logLine(LogLevel::kInfo, "draining",
          {{"connections", static_cast<std::int64_t>(data_listener_->connectionCount())},
           {"grace_ms", static_cast<std::int64_t>(settings_.drain_timeout.count())}});
  drain_deadline_ = std::chrono::steady_clock::now() + settings_.drain_timeout;
  // Checked every 50 ms: done when the last data connection has closed, or at the deadline.
  int rc = uv_timer_init(loop_, &drain_timer_);
  if (rc == 0) {
    drain_timer_.data = this;
    rc = uv_timer_start(&drain_timer_, &Server::onDrainTick, 0, 50);
  }
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
    shutdown();
    return;
  }
  drain_timer_started_ = true;
}

void Server::onDrainTick(uv_timer_t* timer) {
  auto* self = static_cast<Server*>(timer->data);
  const bool idle = self->data_listener_->connectionCount() == 0;
  if (idle || std::chrono::steady_clock::now() >= self->drain_deadline_) {
    if (!idle) {
      logLine(LogLevel::kWarn, "drain deadline reached; closing the remaining connections",
              {{"connections",
                static_cast<std::int64_t>(self->data_listener_->connectionCount())}});
    }
    self->shutdown();
  }
}

void Server::shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  if (drain_timer_started_) {
    drain_timer_started_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  }
  if (readiness_) {
    readiness_->draining = true;
  }
  for (Listener* listener : {data_listener_.get(), admin_listener_.get()}) {
    if (listener != nullptr) {
      listener->stopAccepting();
      listener->closeConnections();
    }
  }
  allocator_trim_.close();
  if (probe_) {
    probe_->stop();
  }
  if (discovery_) {
    discovery_->close();
  }
  if (reloader_) {
    reloader_->stop();
  }
  if (shared_state_) {
    shared_state_->stop();
  }
  if (sessions_) {
    sessions_->close();
  }
  if (pool_) {
    pool_->close();
  }
  if (stdio_bridge_) {
    stdio_bridge_->close();  // children get stdin closed, then SIGTERM, then SIGKILL
  }
  if (signals_installed_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  }
  deferred_.close();
}

}  // namespace bulwark
