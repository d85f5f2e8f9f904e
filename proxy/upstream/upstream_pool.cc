#include "proxy/upstream/upstream_pool.h"

#include <algorithm>

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/upstream_connection.h"

namespace bulwark {
namespace {

constexpr std::chrono::milliseconds kSweepInterval{100};

}  // namespace

UpstreamPool::UpstreamPool(uv_loop_t* loop, const ResolvedAddress& address,
                           const UpstreamPoolOptions& options)
    : loop_(loop), address_(address), options_(options) {
  int rc = uv_timer_init(loop_, &sweep_);
  if (rc == 0) {
    sweep_.data = this;
    rc = uv_timer_start(&sweep_, &UpstreamPool::onSweep, kSweepInterval.count(),
                        kSweepInterval.count());
  }
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
  }
  // The sweep alone must not keep the loop running at shutdown.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
}

UpstreamConnection& UpstreamPool::acquire(bool fresh) {
  while (!fresh && !idle_.empty()) {
    UpstreamConnection* connection = idle_.back();
    idle_.pop_back();
    // A connection the server closed earlier in this loop turn stays listed until its close
    // callback runs; handing it out would leave its new owner waiting on a freed connection.
    if (!connection->closing()) {
      return *connection;
    }
  }
  auto* connection = new UpstreamConnection(loop_, *this);
  open_.insert(connection);
  connecting_.insert(connection);
  connection->connect(address_.get(),
                      UpstreamConnection::Clock::now() + options_.connect_timeout);
  return *connection;
}

void UpstreamPool::returnIdle(UpstreamConnection& connection) {
  if (closed_ || idle_.size() >= options_.max_idle) {
    connection.close();
    return;
  }
  idle_.push_back(&connection);
}

void UpstreamPool::connected(UpstreamConnection& connection) { connecting_.erase(&connection); }

void UpstreamPool::forget(UpstreamConnection& connection) {
  open_.erase(&connection);
  connecting_.erase(&connection);
  std::erase(idle_, &connection);
}

void UpstreamPool::close() {
  closed_ = true;
  // Sinks hear of it now and may react (by acquiring again, which fails at once while closed),
  // so walk a copy; forget() runs later, from the close callbacks.
  const std::vector<UpstreamConnection*> open(open_.begin(), open_.end());
  for (UpstreamConnection* connection : open) {
    connection->shutdown();
  }
  idle_.clear();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&sweep_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  }
}

void UpstreamPool::onSweep(uv_timer_t* timer) {
  auto* self = static_cast<UpstreamPool*>(timer->data);
  const auto now = UpstreamConnection::Clock::now();
  std::vector<UpstreamConnection*> expired;
  const auto collect = [&](UpstreamConnection* connection) {
    if (!connection->closing() && connection->deadline() != UpstreamConnection::Clock::time_point{} &&
        connection->deadline() <= now && !connection->busy()) {
      expired.push_back(connection);
    }
  };
  std::for_each(self->connecting_.begin(), self->connecting_.end(), collect);
  std::for_each(self->idle_.begin(), self->idle_.end(), collect);
  for (UpstreamConnection* connection : expired) {
    connection->expire();
  }
}

}  // namespace bulwark
