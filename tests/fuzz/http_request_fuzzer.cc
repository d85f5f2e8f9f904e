// The client-facing request path: the bytes a client sends, through the real ClientConnection
// (llhttp in strict request mode, body limits, Expect: 100-continue, pipelining, HEAD, lingering
// rejection) on a fresh libuv loop, with an AF_UNIX socketpair standing in for the TCP socket, so
// that no port is opened. Each complete request goes to a handler that does what Exchange does
// before it needs an upstream: refuse CONNECT, read a POST to the MCP path with the JSON-RPC
// envelope parser, answer a malformed one with the JSON-RPC error Exchange sends, and compute the
// cache key's canonical params. Answers take the shapes Exchange's take (a whole response, an SSE
// stream, one given later from the loop, and a large streamed one that fills the socket).
//
// Checked: the request bodies have the length the head announced and stay within the limit;
// everything the connection writes back parses as HTTP responses, one per answered request (plus
// at most one rejection); the loop closes with no handle left.
#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin/log.h"
#include "proxy/http/client_connection.h"
#include "proxy/http/http_message.h"
#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/net/deferred_queue.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulwark {
namespace {

constexpr std::string_view kMcpPath = "/mcp";
constexpr std::string_view kLargePath = "/large";
constexpr std::size_t kLargeBodyBytes = 512 * 1024; // more than a socketpair buffers

const ServerLimits& limits() {
  // Small, so that inputs reach every limit.
  static const ServerLimits kLimits = [] {
    ServerLimits limits;
    limits.max_header_bytes = 2048;
    limits.max_body_bytes = 4096;
    limits.write_high_watermark = 64 * 1024;
    return limits;
  }();
  return kLimits;
}

struct Answer {
  int status = 200;
  std::string content_type;
  std::string body;
  bool streamed = false;
};

void send(ClientConnection& connection, const Answer& answer) {
  if (!answer.streamed) {
    connection.sendSimpleResponse(answer.status, answer.content_type, answer.body);
    return;
  }
  connection.sendResponseHead(answer.status, "OK", "Content-Type: " + answer.content_type + "\r\n",
                              BodyFraming::kStreamed);
  connection.cork();
  for (std::size_t at = 0; at < answer.body.size(); at += 16 * 1024) {
    connection.sendResponseBody(std::string_view(answer.body).substr(at, 16 * 1024));
  }
  connection.endResponse();
}

// An answer given on a later loop turn, as an exchange waiting for its upstream gives it.
class LaterAnswer final : public ClientStream {
public:
  LaterAnswer(uv_loop_t* loop, ClientConnection& connection, Answer answer,
              std::vector<bool>& answered_head_requests)
      : connection_(&connection), answer_(std::move(answer)),
        answered_head_requests_(answered_head_requests) {
    FUZZ_CHECK(uv_timer_init(loop, &timer_) == 0, "uv_timer_init");
    timer_.data = this;
    FUZZ_CHECK(uv_timer_start(&timer_, &LaterAnswer::onTimer, 0, 0) == 0, "uv_timer_start");
  }

  void onClientGone() override {
    connection_ = nullptr;
    close();
  }

private:
  static void onTimer(uv_timer_t* timer) {
    auto* self = static_cast<LaterAnswer*>(timer->data);
    ClientConnection* connection = self->connection_;
    self->connection_ = nullptr;
    self->answered_head_requests_.push_back(connection->requestIsHead());
    send(*connection, self->answer_); // the connection forgets this stream when it ends
    self->close();
  }

  void close() {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
               [](uv_handle_t* handle) { delete static_cast<LaterAnswer*>(handle->data); });
    }
  }

  uv_timer_t timer_{};
  ClientConnection* connection_;
  Answer answer_;
  std::vector<bool>& answered_head_requests_;
};

class FuzzHandler final : public RequestHandler, public ConnectionObserver {
public:
  explicit FuzzHandler(uv_loop_t* loop) : loop_(loop) {}

  ClientStream* handle(Request& request, ClientConnection& connection) override {
    const HttpHead& head = request.head;
    FUZZ_CHECK(!head.method.empty(), "a request without a method");
    FUZZ_CHECK(request.body.size() <= limits().max_body_bytes, "a body over the limit");
    // CONNECT has no body whatever its Content-Length says: llhttp ends the message at the
    // head (what follows would be the tunnel), and the request is refused with 501.
    FUZZ_CHECK(head.method == "CONNECT" || !head.content_length ||
                   *head.content_length == request.body.size(),
               "a body shorter or longer than its Content-Length");
    Answer answer = answerFor(request);
    switch (++requests_ % 3) {
    case 0:
      // Answered on a later turn, unless the client leaves first (then never: cancelled).
      return new LaterAnswer(loop_, connection, std::move(answer), answered_head_requests);
    case 1:
      answer.streamed = answer.streamed || answer.status == 200;
      break;
    default:
      break;
    }
    answered_head_requests.push_back(connection.requestIsHead());
    send(connection, answer);
    return nullptr;
  }

  void connectionClosed(ClientConnection&) override { connection_closed = true; }
  // A limit refusal answers the client itself; the response checks below cover what it sent.
  void limitReached(ClientConnection&, std::string_view limit, int, std::string_view) override {
    FUZZ_CHECK(!limit.empty(), "a limit refusal without the limit's name");
  }

  std::vector<bool> answered_head_requests; // per response sent, in order: was it to HEAD
  bool connection_closed = false;

private:
  Answer answerFor(const Request& request) {
    const HttpHead& head = request.head;
    const std::string_view path = std::string_view(head.target).substr(0, head.target.find('?'));
    if (head.method == "CONNECT") {
      return {501, "application/json",
              jsonRpcErrorBody({}, ProxyError{jsonrpc::kInvalidRequest, "CONNECT is not supported",
                                              "", "invalid_input", 0, {}})};
    }
    if (path == kLargePath) {
      return {200, "text/event-stream", std::string(kLargeBodyBytes, 'x'), true};
    }
    if (head.method != "POST" || path != kMcpPath) {
      return {404, "text/plain", "not found"};
    }
    const EnvelopeResult parsed = envelopes_.parse(request.body);
    if (parsed.error != EnvelopeError::kNone) {
      FUZZ_CHECK(!parsed.detail.empty(), "an envelope error without detail");
      const bool not_json = parsed.error == EnvelopeError::kInvalidJson;
      const auto& partial = parsed.parsed.messages;
      const std::string id = !parsed.parsed.batch && partial.size() == 1 ? partial.front().id : "";
      return {400, "application/json",
              jsonRpcErrorBody(id, ProxyError{not_json ? jsonrpc::kParseError
                                                       : jsonrpc::kInvalidRequest,
                                              not_json ? "Parse error" : "Invalid Request",
                                              parsed.detail, "invalid_input", 0, {}})};
    }
    FUZZ_CHECK(!parsed.parsed.messages.empty(), "no message in a valid body");
    const Envelope& message = parsed.parsed.messages.front();
    if (parsed.parsed.batch || message.kind != MessageKind::kRequest) {
      return {202, "", ""};
    }
    FUZZ_CHECK(!message.id.empty() && !message.method.empty(), "a request without id or method");
    const std::optional<std::string> params = cache_json_.canonicalParams(request.body);
    FUZZ_CHECK(params.has_value(), "a valid request whose params have no canonical form");
    const std::string result = "{\"params\":" + *params + "}";
    return {200, "application/json", CacheJson::responseFor(message.id, result)};
  }

  uv_loop_t* loop_;
  std::size_t requests_ = 0;
  EnvelopeParser envelopes_;
  CacheJson cache_json_;
};

// The client's end: sends the fuzz input, half-closes, and reads everything until EOF.
class Peer {
public:
  Peer(uv_loop_t* loop, int fd) {
    FUZZ_CHECK(uv_tcp_init(loop, &tcp_) == 0, "uv_tcp_init");
    FUZZ_CHECK(uv_tcp_open(&tcp_, fd) == 0, "uv_tcp_open");
    tcp_.data = this;
  }

  void sendAndHalfClose(std::string_view bytes) {
    input_.assign(bytes);
    auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
    if (!input_.empty()) {
      uv_buf_t buf = uv_buf_init(input_.data(), static_cast<unsigned>(input_.size()));
      FUZZ_CHECK(uv_write(&write_, stream, &buf, 1, [](uv_write_t*, int) {}) == 0, "uv_write");
    }
    FUZZ_CHECK(uv_shutdown(&shutdown_, stream, [](uv_shutdown_t*, int) {}) == 0, "uv_shutdown");
    FUZZ_CHECK(uv_read_start(stream, &Peer::onAlloc, &Peer::onRead) == 0, "uv_read_start");
  }

  std::string received;

private:
  static void onAlloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<Peer*>(handle->data);
    buf->base = self->buffer_;
    buf->len = sizeof self->buffer_;
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Peer*>(stream->data);
    if (nread > 0) {
      self->received.append(buf->base, static_cast<std::size_t>(nread));
    } else if (nread < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(stream), nullptr);
    }
  }

  uv_tcp_t tcp_{};
  uv_write_t write_{};
  uv_shutdown_t shutdown_{};
  std::string input_;
  char buffer_[64 * 1024];
};

// Parses what the client received: the responses to the answered requests, in order.
class ResponseReader final : public HttpMessageSink {
public:
  explicit ResponseReader(const std::vector<bool>& head_requests)
      : head_requests_(head_requests) {}

  void read(std::string_view bytes) {
    const ParseOutcome outcome = parser_.execute(bytes);
    FUZZ_CHECK(outcome.status == ParseStatus::kOk, "the connection wrote a malformed response");
    FUZZ_CHECK(parser_.finish() == ParseStatus::kOk, "the connection cut a response short");
  }

  std::size_t responses = 0;

private:
  bool onHead(HttpHead& head) override {
    interim_ = head.status >= 100 && head.status < 200;
    if (!interim_) {
      // Read by the parser after onHead: a response to HEAD has no body.
      parser_.expectNoBody(responses < head_requests_.size() && head_requests_[responses]);
    }
    return true;
  }
  bool onBody(std::string_view) override { return true; }
  bool onMessageComplete() override {
    if (!interim_) {
      ++responses;
    }
    return true;
  }

  const std::vector<bool>& head_requests_;
  HttpParser parser_{HTTP_RESPONSE, *this, 1024 * 1024};
  bool interim_ = false;
};

} // namespace
} // namespace bulwark

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  bulwark::setLogLevel(bulwark::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulwark;
  uv_loop_t loop;
  FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  int fds[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  {
    DeferredQueue deferred(&loop);
    FuzzHandler handler(&loop);
    auto* connection = new ClientConnection(&loop, handler, deferred, limits(), handler);
    FUZZ_CHECK(uv_tcp_open(connection->handle(), fds[0]) == 0, "uv_tcp_open");
    connection->start();
    Peer peer(&loop, fds[1]);
    peer.sendAndHalfClose(std::string_view(reinterpret_cast<const char*>(data), size));
    FUZZ_CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0, "uv_run");
    FUZZ_CHECK(handler.connection_closed, "the connection did not close after the client left");

    ResponseReader reader(handler.answered_head_requests);
    reader.read(peer.received);
    const std::size_t answered = handler.answered_head_requests.size();
    FUZZ_CHECK(reader.responses >= answered, "an answered request's response was lost");
    FUZZ_CHECK(reader.responses <= answered + 1, "more responses than requests");

    deferred.close();
    FUZZ_CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0, "uv_run");
  }
  FUZZ_CHECK(uv_loop_close(&loop) == 0, "a handle was left open");
  return 0;
}
