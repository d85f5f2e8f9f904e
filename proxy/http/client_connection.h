// The downstream side: one HTTP/1.1 connection from a client. It parses requests (buffering
// each body up to a limit), hands each complete request to a RequestHandler, and frames the
// response the handler streams back. Requests are answered strictly in order: while one is in
// flight the parser is paused and later pipelined bytes wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/http/head_guard.h"
#include "proxy/http/http_message.h"
#include "proxy/http/send_progress.h"
#include "proxy/net/buffer_budget.h"
#include "proxy/net/deferred_queue.h"
#include "proxy/net/tcp_connection.h"

namespace bulwark {

class ClientConnection;

// The configured `limits:` (sizes, counts, timeouts; see config::LimitsConfig) and what the
// connection needs besides. Read at each use, so a reload applies to the next request; a
// connection's header-size limit is fixed when it is accepted.
struct ServerLimits : config::LimitsConfig {
  // The window of response bytes a client has not taken: above it, a stream stops reading
  // from its upstream until the client drains the queue. Small, like HAProxy's two 16 KiB
  // buffers per stream, so that slow readers cost little memory.
  std::size_t write_high_watermark = 64 * 1024;
};

struct Request {
  HttpHead head;
  std::string body;
  std::chrono::steady_clock::time_point received_at;
};

// The handler's side of one in-flight request. The connection calls these; after either
// returns, the connection no longer refers to the stream.
class ClientStream {
public:
  // The client closed or failed before the response ended. The stream must not touch the
  // connection again and releases whatever it holds (this is cancellation).
  virtual void onClientGone() = 0;
  // The connection's write queue drained below the watermark (after congested() was true).
  virtual void onClientWritable() {}
  // The server is draining (SIGTERM). A stream that has no answer to wait for, such as an idle
  // GET stream the client will simply re-open elsewhere, ends its response now (it may do so
  // inline); one with a request in flight lets it finish. The connection then closes after the
  // response, as it does for every response once draining.
  virtual void onServerDraining() {}

protected:
  ~ClientStream() = default;
};

class RequestHandler {
public:
  // Takes a complete request. Either answers at once through `connection` (returning nullptr)
  // or returns the stream that will answer later. Never called re-entrantly per connection.
  virtual ClientStream* handle(Request& request, ClientConnection& connection) = 0;
  // The request that handle() took has ended: answered, aborted, or its client is gone. Called
  // exactly once per handle() call, possibly from inside it (an inline answer).
  virtual void requestEnded(ClientConnection& /*connection*/) {}

protected:
  ~RequestHandler() = default;
};

// Told when a connection hits a limit and when it is gone (from its close callback, just
// before it is freed).
class ConnectionObserver {
public:
  // `limit` names the limit (a label value of bulwark_limit_rejections_total); `status` is the
  // HTTP status answered, 0 when the connection closed without an answer.
  virtual void limitReached(ClientConnection& connection, std::string_view limit, int status,
                            std::string_view detail) = 0;
  virtual void connectionClosed(ClientConnection& connection) = 0;

protected:
  ~ConnectionObserver() = default;
};

// How the response body is delimited towards the client.
enum class BodyFraming : std::uint8_t {
  kNone,           // no body (HEAD, 204, 304, or an empty reply)
  kContentLength,  // exactly `content_length` bytes follow
  kStreamed,       // length unknown: chunked for HTTP/1.1 clients, close-delimited for 1.0
};

class ClientConnection final : public TcpConnection, private HttpMessageSink, private Deferrable {
public:
  // Closes itself when the peer goes away, then tells `observer`.
  ClientConnection(uv_loop_t* loop, RequestHandler& handler, DeferredQueue& deferred,
                   const ServerLimits& limits, ConnectionObserver& observer);

  // Begins reading after the listener accepted into handle().
  void start();

  // --- The response, called by the handler or its stream, in this order. ---
  // `header_lines` are complete "Name: value\r\n" lines without framing or Connection fields.
  void sendResponseHead(int status, std::string_view reason, std::string_view header_lines,
                        BodyFraming framing, std::uint64_t content_length = 0);
  void sendResponseBody(std::string_view bytes);
  void endResponse();
  // While corked, body bytes gather and leave in one write at uncork() or endResponse(): an SSE
  // event and the end of its stream, read together from the upstream, cost one syscall.
  void cork() { corked_ = true; }
  void uncork();
  // The whole response at once (for answers Bulwark makes itself).
  void sendSimpleResponse(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_header_lines = {});
  // Gives up on the current response mid-stream (the upstream broke): the client sees the
  // connection close, which is the only honest signal once a status line has gone out.
  void abortResponse();

  bool congested() const { return queuedBytes() > limits_.write_high_watermark; }
  bool responseStarted() const { return response_started_; }
  // The request method is HEAD: the response has no body whatever its headers say.
  bool requestIsHead() const { return request_is_head_; }

  // Stops taking new requests; closes at once if idle, else after the current response, whose
  // stream is told (ClientStream::onServerDraining) so that an idle stream can end early.
  void drain();

  // Called about every quarter second by the listener: enforces the header, body, idle and
  // send timeouts, and closes a connection whose lingering close has lasted long enough.
  void sweep(std::chrono::steady_clock::time_point now);

  // Instead of start(): the listener is full. Answers 503 at once and closes (`answer`), or
  // only closes when even refused connections are too many. `cap` is the limit in force.
  void refuseOverCapacity(bool answer, std::size_t cap);
  bool refusedOverCapacity() const { return refused_over_capacity_; }

  // The peer's "address:port", for log lines ("" when unknown).
  std::string peerAddress();

private:
  enum class State : std::uint8_t { kReading, kDispatched, kClosing };
  // Which timeout runs while a request is being read (State::kReading).
  enum class Waiting : std::uint8_t { kNothing, kIdle, kHead, kBody };

  // A request refused by a limit or as malformed: what the client is told.
  struct Refusal {
    int status = 400;
    std::string_view limit;  // bulwark_limit_rejections_total's label
    std::string_view message;
    std::string detail;
    std::string_view error_class = "invalid_input";
  };

  // TcpConnection
  void onData(std::string_view bytes) override;
  void onReadEnd(int status) override;
  void onWriteDrained() override;
  void onClosed() override;

  // HttpMessageSink
  bool onHead(HttpHead& head) override;
  bool onBody(std::string_view bytes) override;
  bool onMessageComplete() override;

  // Deferrable
  void runDeferred() override;

  void parse(std::string_view bytes);
  void refuse(const Refusal& refusal, std::string_view extra_header_lines = {});
  void wait(Waiting what, std::chrono::milliseconds timeout);
  // Bytes are queued for the client and it has taken none for limits.send_timeout.
  bool sendStalled(std::chrono::steady_clock::time_point now);
  void finishResponse();
  void closeAfterWrites();
  void dropStream();
  void endRequest();
  // After the handler took a request: a large body's storage goes back rather than staying with
  // the connection for its next request.
  void releaseLargeBody();
  // Empties head_ after it was written, keeping its storage only up to a bound.
  void clearGathered();

  RequestHandler& handler_;
  ConnectionObserver& observer_;
  DeferredQueue& deferred_;
  const ServerLimits& limits_;
  HttpParser parser_;
  HeadGuard head_guard_;
  Request request_;
  BufferShare body_share_;  // request_.body's storage, in the process's buffer budget
  std::string pending_input_;  // bytes after a paused message, parsed when it is answered
  BufferShare pending_share_;  // pending_input_'s storage, in the process's buffer budget
  std::string head_;  // the response head, held until the first body bytes join it
  ClientStream* stream_ = nullptr;
  State state_ = State::kReading;
  BodyFraming framing_ = BodyFraming::kNone;
  bool chunked_out_ = false;
  bool keep_alive_ = true;
  bool response_started_ = false;
  bool request_is_head_ = false;
  std::optional<Refusal> refusal_;  // set by a parser callback that stopped the parser
  bool close_after_writes_ = false;
  bool draining_ = false;
  bool read_eof_ = false;
  bool lingering_ = false;
  bool corked_ = false;
  bool request_open_ = false;  // handle() took a request whose end the handler awaits
  bool refused_over_capacity_ = false;
  bool last_request_ = false;  // max_requests_per_connection reached: this answer closes
  std::uint64_t requests_ = 0;
  Waiting waiting_ = Waiting::kNothing;
  std::chrono::steady_clock::time_point wait_until_{};
  std::chrono::steady_clock::time_point linger_until_{};
  SendProgressWatch send_progress_;  // limits.send_timeout
};

}  // namespace bulwark
