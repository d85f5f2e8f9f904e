#include "proxy/upstream/health_probe.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/tcp_connection.h"
#include "proxy/net/uv_util.h"

namespace bulwark {
namespace {

constexpr std::chrono::milliseconds kProbeInterval{1000};
// While the upstream refuses connections it is probed more often: its return ends the wait of
// requests held back by an open circuit (see setOnReachableAgain).
constexpr std::chrono::milliseconds kDownProbeInterval{200};

}  // namespace

// One connect attempt; it reports once and then closes (and frees) itself.
class UpstreamProbe::Attempt final : public TcpConnection {
public:
  Attempt(uv_loop_t* loop, UpstreamProbe& owner) : TcpConnection(loop), owner_(&owner) {
    request_.data = this;
  }

  void connect(const sockaddr* address) {
    const int rc = uv_tcp_connect(&request_, handle(), address, &Attempt::onConnect);
    if (rc != 0) {
      finish(rc);
    }
  }

  void detach() { owner_ = nullptr; }

private:
  static void onConnect(uv_connect_t* request, int status) {
    auto* self = static_cast<Attempt*>(request->data);
    if (status != UV_ECANCELED) {
      self->finish(status);
    }
  }

  void finish(int status) {
    if (owner_ != nullptr) {
      owner_->report(status);
      owner_ = nullptr;
    }
    close();
  }

  void onData(std::string_view) override {}
  void onReadEnd(int) override {}
  void onClosed() override {
    if (owner_ != nullptr) {
      owner_->attempt_ = nullptr;
    }
  }

  UpstreamProbe* owner_;
  uv_connect_t request_{};
};

UpstreamProbe::UpstreamProbe(uv_loop_t* loop, const ResolvedAddress& address, Metrics& metrics)
    : loop_(loop), address_(address), metrics_(metrics) {}

void UpstreamProbe::start() {
  int rc = uv_timer_init(loop_, &timer_);
  if (rc == 0) {
    timer_.data = this;
    rc = uv_timer_start(&timer_, &UpstreamProbe::onTick, 0,
                        static_cast<std::uint64_t>(kProbeInterval.count()));
  }
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
    return;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
}

void UpstreamProbe::stop() {
  stopped_ = true;
  if (attempt_ != nullptr) {
    attempt_->detach();
    attempt_->close();
    attempt_ = nullptr;
  }
  if (timer_.data != nullptr && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
}

void UpstreamProbe::onTick(uv_timer_t* timer) {
  static_cast<UpstreamProbe*>(timer->data)->probe();
}

void UpstreamProbe::probe() {
  if (attempt_ != nullptr || stopped_) {
    return;  // the previous probe is still connecting
  }
  attempt_ = new Attempt(loop_, *this);
  attempt_->connect(address_.get());
}

void UpstreamProbe::report(int status) {
  attempt_ = nullptr;
  const bool reachable = status == 0;
  if (reachable != reachable_ || !probed_) {
    if (reachable) {
      logLine(LogLevel::kInfo, "upstream reachable");
    } else {
      logLine(LogLevel::kWarn, "upstream unreachable", {{"error", uv_err_name(status)}});
    }
  }
  const bool came_back = reachable && probed_ && !reachable_;
  if (reachable != reachable_ || !probed_) {
    uv_timer_set_repeat(&timer_, static_cast<std::uint64_t>(
                                     (reachable ? kProbeInterval : kDownProbeInterval).count()));
  }
  if (reachable_ || reachable) {
    last_reachable_at_ = std::chrono::steady_clock::now();
  }
  reachable_ = reachable;
  probed_ = true;
  if (came_back && on_reachable_again_) {
    on_reachable_again_();
  }
  metrics_.setUpstreamUp(reachable);
  last_error_ = reachable ? std::string() : uvError("connect", status);
}

}  // namespace bulwark
