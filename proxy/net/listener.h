// A listening socket and the client connections it accepted (tracked for shutdown, the
// connection limit and the timeout sweep).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_set>

#include "proxy/http/client_connection.h"
#include "proxy/net/address.h"

namespace bulwark {

class Metrics;

class Listener final : private ConnectionObserver {
public:
  // `metrics` (may be null) counts limit hits; `count_connections` also sets
  // bulwark_client_connections (the data port's listener).
  Listener(uv_loop_t* loop, std::string name, RequestHandler& handler, DeferredQueue& deferred,
           const ServerLimits& limits, Metrics* metrics = nullptr,
           bool count_connections = false);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. Returns an empty string, or one line saying what failed (naming the
  // libuv call and its error). After a failure stopAccepting() still closes what was opened.
  std::string listen(const HostPort& where);
  // The address actually bound (port 0 resolved), e.g. "127.0.0.1:41234".
  const std::string& boundAddress() const { return bound_; }

  // Stops accepting; existing connections carry on.
  void stopAccepting();
  // Closes every connection now, cancelling whatever they were doing.
  void closeConnections();
  // Asks every connection to close once its current response is done (idle ones close now).
  void drainConnections();
  std::size_t connectionCount() const { return connections_.size(); }
  // Connections being served, without those refused over max_connections (still lingering).
  std::size_t servedCount() const { return connections_.size() - refused_; }

private:
  static void onConnection(uv_stream_t* server, int status);
  static void onSweep(uv_timer_t* timer);
  void limitReached(ClientConnection& connection, std::string_view limit, int status,
                    std::string_view detail) override;
  void connectionClosed(ClientConnection& connection) override;
  void publishConnectionCount();

  uv_loop_t* loop_;
  std::string name_;
  RequestHandler& handler_;
  DeferredQueue& deferred_;
  const ServerLimits& limits_;
  Metrics* metrics_;
  bool count_connections_;
  std::size_t refused_ = 0;  // connections in connections_ refused over max_connections
  // What the process's file-descriptor limit allows (a client connection may need a second
  // descriptor upstream): the cap in force when max_connections is higher.
  std::size_t fd_connection_budget_ = SIZE_MAX;
  uv_tcp_t server_{};
  uv_timer_t sweep_{};
  bool sweeping_ = false;
  bool initialised_ = false;
  std::string bound_;
  std::unordered_set<ClientConnection*> connections_;
};

}  // namespace bulwark
