// Everything that runs on the loop: the data and admin listeners, the upstream pool, the
// readiness probe and the signal handlers. One Server per process (and per component test).
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "proxy/address.h"
#include "proxy/admin.h"
#include "proxy/client_connection.h"
#include "proxy/deferred_queue.h"
#include "proxy/exchange.h"
#include "proxy/jsonrpc_envelope.h"
#include "proxy/listener.h"
#include "proxy/metrics.h"
#include "proxy/upstream_pool.h"

namespace bulwark {

struct ServerSettings {
  HostPort listen{"127.0.0.1", 8080};
  HostPort admin{"127.0.0.1", 9090};
  UpstreamUrl upstream;
  ServerLimits limits;
  UpstreamPoolOptions pool;
};

class Server {
public:
  explicit Server(uv_loop_t* loop);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Resolves the upstream, binds both ports and installs signal handlers. Returns an empty
  // string, or one line saying what failed (nothing is left listening then).
  std::string start(const ServerSettings& settings);

  // Stops accepting, closes every connection and handle; the loop then runs out.
  void shutdown();

  const std::string& dataAddress() const { return data_listener_->boundAddress(); }
  const std::string& adminAddress() const { return admin_listener_->boundAddress(); }

private:
  static void onSignal(uv_signal_t* handle, int signal_number);

  uv_loop_t* loop_;
  ServerSettings settings_;
  DeferredQueue deferred_;
  Metrics metrics_;
  EnvelopeParser envelope_parser_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<UpstreamProbe> probe_;
  std::unique_ptr<Readiness> readiness_;
  std::unique_ptr<ProxyContext> context_;
  std::unique_ptr<DataPlaneHandler> data_handler_;
  std::unique_ptr<AdminHandler> admin_handler_;
  std::unique_ptr<Listener> data_listener_;
  std::unique_ptr<Listener> admin_listener_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  bool signals_installed_ = false;
  bool shut_down_ = false;
};

}  // namespace bulwark
