// The upstream side: one HTTP/1.1 connection to the MCP server, owned by the UpstreamPool.
// It carries one request at a time and streams the response to a sink.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http/http_message.h"
#include "proxy/net/tcp_connection.h"

namespace bulwark {

enum class UpstreamAttemptResult : std::uint8_t;  // proxy/admin/metrics.h

class UpstreamPool;

enum class UpstreamFailureKind : std::uint8_t {
  kConnectFailed,        // refused, unreachable: the request never left
  kConnectTimeout,       // no connection within connect_timeout: the request never left
  kResetBeforeResponse,  // closed or reset after sending, before any response byte
  kResetDuringResponse,  // closed or reset in the middle of the response
  kMalformedResponse,    // bytes that are not HTTP/1.1
};

std::string_view failureKindName(UpstreamFailureKind kind);
// The metric event for an attempt that ended in this failure.
UpstreamAttemptResult attemptResultOf(UpstreamFailureKind kind);

struct UpstreamFailure {
  UpstreamFailureKind kind = UpstreamFailureKind::kConnectFailed;
  std::string detail;             // e.g. "uv_tcp_connect: ECONNREFUSED (connection refused)"
  bool reused_connection = false;  // the connection had served an earlier request
};

// Receives one response. After onUpstreamComplete or onUpstreamFailure the connection has
// forgotten the sink (it went back to the pool, or is closing).
class UpstreamResponseSink {
public:
  virtual void onUpstreamHead(HttpHead& head) = 0;
  virtual void onUpstreamBody(std::string_view bytes) = 0;
  virtual void onUpstreamComplete() = 0;
  virtual void onUpstreamFailure(const UpstreamFailure& failure) = 0;
  // Everything one read brought has been delivered and the response goes on.
  virtual void onUpstreamReadDone() {}

protected:
  ~UpstreamResponseSink() = default;
};

class UpstreamConnection final : public TcpConnection, private HttpMessageSink {
public:
  using Clock = std::chrono::steady_clock;

  UpstreamConnection(uv_loop_t* loop, UpstreamPool& pool);

  // Starts connecting; failures arrive through the sink given to send().
  void connect(const sockaddr* address, Clock::time_point deadline);

  // Sends a whole request (head and body). Bytes are queued while still connecting.
  // `expect_no_body` is true for HEAD requests.
  void send(std::string_view request_bytes, bool expect_no_body, UpstreamResponseSink& sink);

  // The sink no longer wants the response (its client left, or it gave up): close without
  // returning to the pool. For a stream this is how the upstream learns of cancellation.
  void abandon();

  // Bulwark is stopping: a waiting sink is told the exchange failed; the connection closes.
  void shutdown();

  // Back-pressure from a slow client.
  void pauseResponse() { stopReading(); }
  void resumeResponse() { startReading(); }

  bool reused() const { return requests_sent_ > 1; }
  bool idle() const { return state_ == State::kIdle; }
  bool busy() const { return state_ == State::kBusy; }
  Clock::time_point deadline() const { return deadline_; }
  // Called by the pool's sweep when deadline() has passed.
  void expire();

private:
  enum class State : std::uint8_t { kConnecting, kIdle, kBusy, kClosed };

  static void connectCallback(uv_connect_t* request, int status);
  void onData(std::string_view bytes) override;
  void onReadEnd(int status) override;
  void onWriteError(int status) override;
  void onClosed() override;
  bool onHead(HttpHead& head) override;
  bool onBody(std::string_view bytes) override;
  bool onMessageComplete() override;

  void fail(UpstreamFailureKind kind, std::string detail);
  void completeResponse();
  void becomeIdle();

  UpstreamPool& pool_;
  HttpParser parser_;
  uv_connect_t connect_request_{};
  UpstreamResponseSink* sink_ = nullptr;
  std::string queued_request_;  // written once the connection is up
  std::string connect_error_;   // uv_tcp_connect refused to start; reported by send()
  Clock::time_point deadline_{};  // connect deadline, or when an idle connection expires
  State state_ = State::kConnecting;
  std::uint32_t requests_sent_ = 0;
  bool response_bytes_seen_ = false;
  bool message_complete_ = false;
  bool keep_alive_ = true;
  int last_status_ = 0;
  std::chrono::milliseconds server_idle_hint_{0};
};

}  // namespace bulwark
