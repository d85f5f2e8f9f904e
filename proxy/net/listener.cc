#include "proxy/net/listener.h"

#include <sys/resource.h>

#include <algorithm>
#include <vector>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/http/limit_report.h"
#include "proxy/net/uv_util.h"

namespace bulwark {
namespace {

constexpr int kBacklog = 511;
// Descriptors kept for everything but client connections (listeners, timers, the loop, logs).
constexpr std::size_t kReservedDescriptors = 64;

}  // namespace

Listener::Listener(uv_loop_t* loop, std::string name, RequestHandler& handler,
                   DeferredQueue& deferred, const ServerLimits& limits, Metrics* metrics,
                   bool count_connections)
    : loop_(loop), name_(std::move(name)), handler_(handler), deferred_(deferred),
      limits_(limits), metrics_(metrics), count_connections_(count_connections) {}

std::string Listener::listen(const HostPort& where) {
  const std::string label = where.host + ":" + std::to_string(where.port);
  std::string error;
  const auto address = resolveHostPort(where, error);
  if (!address) {
    return "cannot listen on " + label + ": " + error;
  }
  int rc = uv_tcp_init(loop_, &server_);
  if (rc != 0) {
    return "cannot listen on " + label + ": " + uvError("uv_tcp_init", rc);
  }
  initialised_ = true;
  server_.data = this;
  rc = uv_tcp_bind(&server_, address->get(), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), kBacklog, &Listener::onConnection);
    if (rc != 0) {
      return "cannot listen on " + label + ": " + uvError("uv_listen", rc);
    }
  } else {
    return "cannot listen on " + label + ": " + uvError("uv_tcp_bind", rc);
  }
  // Without the sweep no idle or slow client would ever time out: a failure is a failed listen.
  rc = uv_timer_init(loop_, &sweep_);
  if (rc != 0) {
    return "cannot listen on " + label + ": " + uvError("uv_timer_init", rc);
  }
  sweep_.data = this;
  sweeping_ = true;
  rc = uv_timer_start(&sweep_, &Listener::onSweep, 250, 250);
  if (rc != 0) {
    return "cannot listen on " + label + ": " + uvError("uv_timer_start", rc);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur > kReservedDescriptors) {
    fd_connection_budget_ = static_cast<std::size_t>(files.rlim_cur - kReservedDescriptors) / 2;
    // The default is capped quietly; a configured value that cannot be honoured is worth a word.
    if (limits_.max_connections > fd_connection_budget_ &&
        limits_.max_connections != config::LimitsConfig{}.max_connections) {
      logLine(LogLevel::kWarn,
              "limits.max_connections is above what the file-descriptor limit allows; the lower "
              "cap applies (raise ulimit -n to lift it)",
              {{"listener", std::string_view(name_)},
               {"max_connections", static_cast<std::int64_t>(limits_.max_connections)},
               {"nofile", static_cast<std::int64_t>(files.rlim_cur)},
               {"cap", static_cast<std::int64_t>(fd_connection_budget_)}});
    }
  }
  sockaddr_storage bound{};
  int length = sizeof bound;
  rc = uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &length);
  bound_ = rc == 0 ? formatAddress(reinterpret_cast<const sockaddr*>(&bound)) : label;
  return {};
}

void Listener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (status != 0) {
    logLine(LogLevel::kWarn, "accept failed",
            {{"listener", std::string_view(self->name_)},
             {"error", std::string_view(uvError("uv_listen", status))}});
    return;
  }
  auto* connection =
      new ClientConnection(self->loop_, self->handler_, self->deferred_, self->limits_, *self);
  const int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(connection->handle()));
  if (rc != 0) {
    logLine(LogLevel::kWarn, uvError("uv_accept", rc));
    self->connections_.insert(connection);
    connection->close();
    return;
  }
  if (const int nodelay = uv_tcp_nodelay(connection->handle(), 1); nodelay != 0) {
    // Only latency suffers (Nagle's algorithm stays on): serve the connection all the same.
    logLine(LogLevel::kWarn, uvError("uv_tcp_nodelay", nodelay),
            {{"listener", std::string_view(self->name_)}});
  }
  self->connections_.insert(connection);
  const std::size_t cap = std::min(self->limits_.max_connections, self->fd_connection_budget_);
  if (self->servedCount() > cap) {
    // Refused connections linger a moment so the 503 is read; beyond twice the limit even that
    // is too generous, and the connection just closes.
    ++self->refused_;
    if (self->refused_ > cap) {
      connection->refuseOverCapacity(false, cap);
    } else {
      connection->refuseOverCapacity(true, cap);
    }
    return;
  }
  self->publishConnectionCount();
  connection->start();
}

void Listener::limitReached(ClientConnection& connection, std::string_view limit, int status,
                            std::string_view detail) {
  const std::string peer = connection.peerAddress();
  reportLimitHit(metrics_, {name_, limit, status, detail, peer});
}

void Listener::publishConnectionCount() {
  if (count_connections_ && metrics_ != nullptr) {
    metrics_->setActiveClientConnections(static_cast<double>(servedCount()));
  }
}

void Listener::onSweep(uv_timer_t* timer) {
  auto* self = static_cast<Listener*>(timer->data);
  const auto now = std::chrono::steady_clock::now();
  // sweep() may close, and a close erases only later (from the close callback): safe to iterate.
  for (ClientConnection* connection : self->connections_) {
    connection->sweep(now);
  }
}

void Listener::connectionClosed(ClientConnection& connection) {
  if (connections_.erase(&connection) != 0 && connection.refusedOverCapacity()) {
    --refused_;
  }
  publishConnectionCount();
}

void Listener::stopAccepting() {
  if (initialised_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&server_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  }
  if (sweeping_) {
    sweeping_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  }
}

void Listener::drainConnections() {
  const std::vector<ClientConnection*> open(connections_.begin(), connections_.end());
  for (ClientConnection* connection : open) {
    connection->drain();
  }
}

void Listener::closeConnections() {
  // close() only starts closing; connectionClosed() erases later, so iterate over a copy anyway
  // in case a close hook ever runs inline.
  const std::vector<ClientConnection*> open(connections_.begin(), connections_.end());
  for (ClientConnection* connection : open) {
    connection->close();
  }
}

}  // namespace bulwark
