#include "proxy/upstream/upstream_connection.h"

#include <charconv>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {
namespace {

// Response heads from our own server are small; a larger one is a broken upstream.
constexpr std::size_t kMaxResponseHeadBytes = 64 * 1024;

// `Keep-Alive: timeout=5, max=100` -> 5 s; zero when absent or unreadable.
std::chrono::milliseconds keepAliveTimeoutHint(const HeaderList& headers) {
  const HeaderField* field = findHeader(headers, "keep-alive");
  if (field == nullptr) {
    return std::chrono::milliseconds(0);
  }
  const std::string_view value = field->value;
  const auto at = value.find("timeout=");
  if (at == std::string_view::npos) {
    return std::chrono::milliseconds(0);
  }
  unsigned seconds = 0;
  const char* begin = value.data() + at + 8;
  const auto [end, ec] = std::from_chars(begin, value.data() + value.size(), seconds);
  if (ec != std::errc() || end == begin) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::seconds(seconds);
}

}  // namespace

std::string_view failureKindName(UpstreamFailureKind kind) {
  switch (kind) {
  case UpstreamFailureKind::kConnectFailed: return "connect_failed";
  case UpstreamFailureKind::kConnectTimeout: return "connect_timeout";
  case UpstreamFailureKind::kResetBeforeResponse: return "reset_before_response";
  case UpstreamFailureKind::kResetDuringResponse: return "reset_during_response";
  case UpstreamFailureKind::kMalformedResponse: return "malformed_response";
  }
  return "unknown";
}

UpstreamAttemptResult attemptResultOf(UpstreamFailureKind kind) {
  using Result = UpstreamAttemptResult;
  switch (kind) {
  case UpstreamFailureKind::kConnectFailed: return Result::kConnectFailed;
  case UpstreamFailureKind::kConnectTimeout: return Result::kConnectTimeout;
  case UpstreamFailureKind::kResetBeforeResponse: return Result::kResetBeforeResponse;
  case UpstreamFailureKind::kResetDuringResponse: return Result::kResetDuringResponse;
  case UpstreamFailureKind::kMalformedResponse: return Result::kMalformedResponse;
  }
  return UpstreamAttemptResult::kConnectFailed;
}

UpstreamConnection::UpstreamConnection(uv_loop_t* loop, UpstreamPool& pool)
    : TcpConnection(loop), pool_(pool), parser_(HTTP_RESPONSE, *this, kMaxResponseHeadBytes) {
  connect_request_.data = this;
}

void UpstreamConnection::connect(const sockaddr* address, Clock::time_point deadline) {
  deadline_ = deadline;
  if (pool_.closed()) {
    connect_error_ = "bulwark is shutting down";  // reported by send(), never connected
    return;
  }
  const int rc = uv_tcp_connect(&connect_request_, handle(), address, &connectCallback);
  if (rc != 0) {
    // "A function that returns an error never calls its callback": fail once a sink exists.
    queued_request_.clear();
    state_ = State::kClosed;
    connect_error_ = uvError("uv_tcp_connect", rc);
  }
}

void UpstreamConnection::send(std::string_view request_bytes, bool expect_no_body,
                              UpstreamResponseSink& sink) {
  sink_ = &sink;
  parser_.expectNoBody(expect_no_body);
  response_bytes_seen_ = false;
  message_complete_ = false;
  ++requests_sent_;
  if (!connect_error_.empty()) {
    fail(UpstreamFailureKind::kConnectFailed, connect_error_);
    return;
  }
  if (closing()) {
    // Nothing will ever answer on it; the sink hears so now rather than never.
    fail(UpstreamFailureKind::kResetBeforeResponse, "connection already closing");
    return;
  }
  if (state_ == State::kConnecting) {
    queued_request_.assign(request_bytes);
    return;
  }
  state_ = State::kBusy;
  write(request_bytes);
}

void UpstreamConnection::connectCallback(uv_connect_t* request, int status) {
  auto* self = static_cast<UpstreamConnection*>(request->data);
  if (status == UV_ECANCELED || self->closing()) {
    return;
  }
  if (status != 0) {
    self->fail(UpstreamFailureKind::kConnectFailed, uvError("uv_tcp_connect", status));
    return;
  }
  self->pool_.connected(*self);
  uv_tcp_nodelay(self->handle(), 1);
  self->startReading();
  if (self->sink_ != nullptr) {
    self->state_ = State::kBusy;
    std::string bytes = std::move(self->queued_request_);
    self->queued_request_.clear();
    self->write(bytes);
  } else {
    self->becomeIdle();
  }
}

void UpstreamConnection::abandon() {
  sink_ = nullptr;
  close();
}

void UpstreamConnection::shutdown() {
  if (sink_ == nullptr) {
    close();
    return;
  }
  const UpstreamFailureKind kind = state_ == State::kConnecting ? UpstreamFailureKind::kConnectFailed
                                   : response_bytes_seen_ ? UpstreamFailureKind::kResetDuringResponse
                                                          : UpstreamFailureKind::kResetBeforeResponse;
  fail(kind, "bulwark is shutting down");
}

void UpstreamConnection::expire() {
  if (state_ == State::kConnecting) {
    fail(UpstreamFailureKind::kConnectTimeout, "no connection within the connect timeout");
  } else if (state_ == State::kIdle) {
    close();
  }
}

void UpstreamConnection::onData(std::string_view bytes) {
  if (state_ != State::kBusy) {
    // The server spoke out of turn on an idle connection: it cannot be trusted for reuse.
    close();
    return;
  }
  response_bytes_seen_ = true;
  const ParseOutcome outcome = parser_.execute(bytes);
  if (closing()) {
    return;  // the sink abandoned us from inside a callback
  }
  if (outcome.status == ParseStatus::kError) {
    fail(UpstreamFailureKind::kMalformedResponse, std::string(parser_.errorReason()));
    return;
  }
  if (outcome.status == ParseStatus::kPaused && message_complete_) {
    // Bytes after the response were not asked for: finish this one, but do not reuse.
    if (outcome.consumed != bytes.size()) {
      keep_alive_ = false;
    }
    completeResponse();
    return;
  }
  if (sink_ != nullptr) {
    sink_->onUpstreamReadDone();
  }
}

void UpstreamConnection::onReadEnd(int status) {
  if (state_ == State::kBusy) {
    if (!response_bytes_seen_) {
      fail(UpstreamFailureKind::kResetBeforeResponse,
           status == UV_EOF ? "connection closed before any response byte"
                            : uvError("read", status));
      return;
    }
    // A response without Content-Length or chunking ends when the connection does.
    if (status == UV_EOF && parser_.finish() == ParseStatus::kOk && message_complete_) {
      keep_alive_ = false;
      completeResponse();
      return;
    }
    fail(UpstreamFailureKind::kResetDuringResponse,
         status == UV_EOF ? "connection closed in the middle of the response"
                          : uvError("read", status));
    return;
  }
  close();
}

void UpstreamConnection::onWriteError(int status) {
  fail(requests_sent_ > 0 && response_bytes_seen_ ? UpstreamFailureKind::kResetDuringResponse
                                                  : UpstreamFailureKind::kResetBeforeResponse,
       uvError("uv_write", status));
}

bool UpstreamConnection::onHead(HttpHead& head) {
  last_status_ = head.status;
  if (head.status >= 100 && head.status < 200) {
    return true;  // interim responses (103 Early Hints) are not forwarded
  }
  keep_alive_ = head.keep_alive;
  server_idle_hint_ = keepAliveTimeoutHint(head.headers);
  if (sink_ != nullptr) {
    sink_->onUpstreamHead(head);
  }
  return true;
}

bool UpstreamConnection::onBody(std::string_view bytes) {
  if (sink_ != nullptr) {
    sink_->onUpstreamBody(bytes);
  }
  return !closing();
}

bool UpstreamConnection::onMessageComplete() {
  if (last_status_ >= 100 && last_status_ < 200) {
    return true;
  }
  message_complete_ = true;
  return false;  // pause: the completion is handled after llhttp_execute returns
}

void UpstreamConnection::completeResponse() {
  UpstreamResponseSink* sink = sink_;
  sink_ = nullptr;
  parser_.resume();
  message_complete_ = false;
  if (keep_alive_) {
    becomeIdle();
  } else {
    close();
  }
  if (sink != nullptr) {
    sink->onUpstreamComplete();
  }
}

void UpstreamConnection::becomeIdle() {
  state_ = State::kIdle;
  auto idle_for = pool_.options().idle_timeout;
  if (server_idle_hint_.count() > 0) {
    // Leave a second of margin so we never race the server's own close.
    idle_for = std::min(idle_for, server_idle_hint_ - std::chrono::milliseconds(1000));
  }
  if (idle_for.count() <= 0) {
    close();
    return;
  }
  deadline_ = Clock::now() + idle_for;
  pool_.returnIdle(*this);
}

void UpstreamConnection::fail(UpstreamFailureKind kind, std::string detail) {
  UpstreamResponseSink* sink = sink_;
  sink_ = nullptr;
  const bool reused = requests_sent_ > 1;
  close();
  if (sink != nullptr) {
    sink->onUpstreamFailure(UpstreamFailure{kind, std::move(detail), reused});
  }
}

void UpstreamConnection::onClosed() {
  state_ = State::kClosed;
  pool_.forget(*this);
}

}  // namespace bulwark
