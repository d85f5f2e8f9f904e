#include "proxy/upstream/upstream_fetch.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/http/headers.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/upstream_connection.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {
namespace {

class UpstreamFetch final : private UpstreamResponseSink {
public:
  UpstreamFetch(uv_loop_t* loop, Metrics& metrics, std::string bytes, FetchDone done)
      : loop_(loop), metrics_(metrics), bytes_(std::move(bytes)), done_(std::move(done)) {}

  // Returns false (and the error in `error`) when not even the timer could be set up; the
  // object is then deleted and `done` never runs. Otherwise the result is always delivered
  // from a later loop turn (the timer's close callback): a caller never sees its callback run
  // inside its own call, and the connection is settled (idle or closed) by then.
  static bool start(UpstreamFetch* self, UpstreamPool& pool, std::chrono::milliseconds timeout,
                    std::string& error) {
    if (const int rc = uv_timer_init(self->loop_, &self->timer_); rc != 0) {
      error = uvError("uv_timer_init", rc);
      logLine(LogLevel::kError, "upstream request not sent", {{"error", std::string_view(error)}});
      delete self;
      return false;
    }
    self->timer_.data = self;
    if (timeout.count() > 0) {
      const int rc = uv_timer_start(&self->timer_, &UpstreamFetch::onTimeout,
                                    static_cast<std::uint64_t>(timeout.count()), 0);
      if (rc != 0) {
        // Unbounded it could wait forever: fail it instead, from the close callback as always.
        self->result_.error = uvError("uv_timer_start", rc);
        logLine(LogLevel::kError, "upstream request not sent",
                {{"error", std::string_view(self->result_.error)}});
        self->settle();
        return true;
      }
    }
    self->upstream_ = &pool.acquire();
    self->upstream_->send(self->bytes_, false, *self);
    return true;
  }

private:
  void onUpstreamHead(HttpHead& head) override {
    result_.status = head.status;
    if (const HeaderField* id = findHeader(head.headers, "mcp-session-id")) {
      result_.session_id = id->value;
    }
    if (const HeaderField* type = findHeader(head.headers, "content-type")) {
      result_.content_type = type->value;
    }
  }
  void onUpstreamBody(std::string_view bytes) override {
    const std::size_t room = kMaxFetchBodyBytes - result_.body.size();
    result_.truncated = result_.truncated || bytes.size() > room;
    result_.body.append(bytes.substr(0, room));
  }
  void onUpstreamComplete() override {
    upstream_ = nullptr;
    metrics_.recordUpstreamAttempt(UpstreamAttemptResult::kResponse);
    result_.complete = true;
    settle();
  }
  void onUpstreamFailure(const UpstreamFailure& failure) override {
    upstream_ = nullptr;
    metrics_.recordUpstreamAttempt(attemptResultOf(failure.kind));
    result_.error = std::string(failureKindName(failure.kind)) + ": " + failure.detail;
    settle();
  }

  static void onTimeout(uv_timer_t* timer) {
    auto* self = static_cast<UpstreamFetch*>(timer->data);
    if (self->upstream_ != nullptr) {
      self->metrics_.recordUpstreamAttempt(UpstreamAttemptResult::kAbandoned);
      self->upstream_->abandon();
      self->upstream_ = nullptr;
      self->result_.error = "no complete answer in time";
      self->settle();
    }
  }

  void settle() {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &UpstreamFetch::onClosed);
  }

  static void onClosed(uv_handle_t* handle) {
    auto* self = static_cast<UpstreamFetch*>(handle->data);
    if (self->done_) {
      self->done_(std::move(self->result_));
    }
    delete self;
  }

  uv_loop_t* loop_;
  Metrics& metrics_;
  std::string bytes_;
  FetchDone done_;
  uv_timer_t timer_{};
  UpstreamConnection* upstream_ = nullptr;
  FetchResult result_;
};

}  // namespace

std::string ownJsonRpcPost(std::string_view path, std::string_view body,
                           std::string_view session_id, const OwnRequestHeaders& headers) {
  std::string request;
  request.reserve(256 + body.size());
  request += "POST ";
  request += path;
  request += " HTTP/1.1\r\n";
  auto field = [&request](std::string_view name, std::string_view value) {
    request += name;
    request += ": ";
    request += value;
    request += "\r\n";
  };
  if (!headers.host.empty()) {
    field("Host", headers.host);
  }
  field("Content-Type", "application/json");
  field("Accept", "application/json, text/event-stream");
  if (!session_id.empty()) {
    field("Mcp-Session-Id", session_id);
    if (!headers.protocol_version.empty()) {
      field("MCP-Protocol-Version", headers.protocol_version);
    }
  }
  if (!headers.authorization.empty()) {
    field("Authorization", headers.authorization);
  }
  field("Content-Length", std::to_string(body.size()));
  request += "\r\n";
  request += body;
  return request;
}

std::string fetchFromUpstream(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                              std::string request_bytes, std::chrono::milliseconds timeout,
                              FetchDone done) {
  std::string error;
  UpstreamFetch::start(new UpstreamFetch(loop, metrics, std::move(request_bytes), std::move(done)),
                       pool, timeout, error);
  return error;
}

}  // namespace bulwark
