#include "proxy/upstream/upstream_fetch.h"

#include "proxy/admin/metrics.h"
#include "proxy/http/headers.h"
#include "proxy/upstream/upstream_connection.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {
namespace {

class UpstreamFetch final : private UpstreamResponseSink {
public:
  UpstreamFetch(uv_loop_t* loop, Metrics& metrics, std::string bytes, FetchDone done)
      : loop_(loop), metrics_(metrics), bytes_(std::move(bytes)), done_(std::move(done)) {}

  void start(UpstreamPool& pool, std::chrono::milliseconds timeout) {
    // The result is always delivered from a later loop turn: a caller never sees its callback
    // run inside its own call, and the connection is settled (idle or closed) by then.
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    if (timeout.count() > 0) {
      uv_timer_start(&timer_, &UpstreamFetch::onTimeout, static_cast<std::uint64_t>(timeout.count()),
                     0);
    }
    upstream_ = &pool.acquire();
    upstream_->send(bytes_, false, *this);
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

void fetchFromUpstream(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                       std::string request_bytes, std::chrono::milliseconds timeout,
                       FetchDone done) {
  (new UpstreamFetch(loop, metrics, std::move(request_bytes), std::move(done)))
      ->start(pool, timeout);
}

}  // namespace bulwark
