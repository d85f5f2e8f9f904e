#include "proxy/server.h"

#include "proxy/log.h"
#include "proxy/uv_util.h"

namespace bulwark {

Server::Server(uv_loop_t* loop) : loop_(loop), deferred_(loop) {}

Server::~Server() = default;

std::string Server::start(const ServerSettings& settings) {
  settings_ = settings;
  std::string error;
  const auto upstream_address = resolveHostPort(settings_.upstream.origin, error);
  if (!upstream_address) {
    return "upstream: " + error;
  }
  pool_ = std::make_unique<UpstreamPool>(loop_, *upstream_address, settings_.pool);
  probe_ = std::make_unique<UpstreamProbe>(loop_, *upstream_address);
  readiness_ = std::make_unique<Readiness>(Readiness{*probe_, false});
  context_ = std::make_unique<ProxyContext>(
      ProxyContext{*pool_, metrics_, envelope_parser_, settings_.upstream.path,
                   settings_.limits.max_body_bytes});
  data_handler_ = std::make_unique<DataPlaneHandler>(*context_);
  admin_handler_ = std::make_unique<AdminHandler>(metrics_, *readiness_);
  data_listener_ = std::make_unique<Listener>(loop_, "data", *data_handler_, deferred_,
                                              settings_.limits);
  admin_listener_ = std::make_unique<Listener>(loop_, "admin", *admin_handler_, deferred_,
                                               settings_.limits);
  if (error = data_listener_->listen(settings_.listen); !error.empty()) {
    shutdown();
    return error;
  }
  if (error = admin_listener_->listen(settings_.admin); !error.empty()) {
    shutdown();
    return error;
  }
  probe_->start();

  int rc = uv_signal_init(loop_, &sigterm_);
  rc = rc != 0 ? rc : uv_signal_init(loop_, &sigint_);
  if (rc != 0) {
    shutdown();
    return uvError("uv_signal_init", rc);
  }
  signals_installed_ = true;
  sigterm_.data = this;
  sigint_.data = this;
  rc = uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  rc = rc != 0 ? rc : uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  if (rc != 0) {
    shutdown();
    return uvError("uv_signal_start", rc);
  }
  // Signal handlers alone must not keep the loop alive once everything else has closed.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sigterm_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&sigint_));
  return {};
}

void Server::onSignal(uv_signal_t* handle, int signal_number) {
  auto* self = static_cast<Server*>(handle->data);
  logLine(LogLevel::kInfo, "shutting down", {{"signal", signal_number}});
  self->shutdown();
}

void Server::shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  if (readiness_) {
    readiness_->draining = true;
  }
  for (Listener* listener : {data_listener_.get(), admin_listener_.get()}) {
    if (listener != nullptr) {
      listener->stopAccepting();
      listener->closeConnections();
    }
  }
  if (probe_) {
    probe_->stop();
  }
  if (pool_) {
    pool_->close();
  }
  if (signals_installed_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  }
  deferred_.close();
}

}  // namespace bulwark
