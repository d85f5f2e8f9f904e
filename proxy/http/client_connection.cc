#include "proxy/http/client_connection.h"

#include <charconv>

#include "proxy/http/status_text.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/net/address.h"

namespace bulwark {
namespace {

void appendHex(std::string& out, std::size_t value) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, 16);
  out.append(digits, end);
}

// Long enough for a client to finish sending what it had in flight, short enough that refused
// clients cannot hold connections open.
constexpr std::chrono::milliseconds kLingerTime{2000};

// A request body's storage a connection keeps for its next request; larger goes back at once.
constexpr std::size_t kKeptBodyBytes = 16 * 1024;
// The same for the response bytes gathered while corked (the head, small bodies, SSE events).
constexpr std::size_t kMaxKeptGathered = 64 * 1024;

bool hasRepeatedHost(const HeaderList& headers) {
  bool seen = false;
  for (const HeaderField& field : headers) {
    if (field.name.size() == 4 && equalsIgnoreCase(field.name, "host")) {
      if (seen) {
        return true;
      }
      seen = true;
    }
  }
  return false;
}

}  // namespace

ClientConnection::ClientConnection(uv_loop_t* loop, RequestHandler& handler,
                                   DeferredQueue& deferred, const ServerLimits& limits,
                                   ConnectionObserver& observer)
    : TcpConnection(loop), handler_(handler), observer_(observer), deferred_(deferred),
      limits_(limits),
      parser_(HTTP_REQUEST, *this, limits.max_header_bytes) {}

void ClientConnection::start() {
  // The first request's head must arrive within the header timeout of the accept: a client
  // that connects and sends nothing holds a connection as surely as a slow one.
  wait(Waiting::kHead, limits_.header_timeout);
  startReading();
}

void ClientConnection::refuseOverCapacity(bool answer, std::size_t cap) {
  refused_over_capacity_ = true;
  if (!answer) {
    observer_.limitReached(*this, "connections", 0,
                           "closed unanswered: twice the limit of " + std::to_string(cap) +
                               " connections");
    close();
    return;
  }
  refuse({503, "connections", "Too many connections",
          "the listener holds its limit of " + std::to_string(cap) + " connections",
          "overload"},
         "Retry-After: 1\r\n");
}

std::string ClientConnection::peerAddress() {
  sockaddr_storage peer{};
  int length = sizeof peer;
  if (uv_tcp_getpeername(handle(), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
    return {};
  }
  return formatAddress(reinterpret_cast<const sockaddr*>(&peer));
}

void ClientConnection::wait(Waiting what, std::chrono::milliseconds timeout) {
  waiting_ = what;
  wait_until_ = std::chrono::steady_clock::now() + timeout;
}

void ClientConnection::onData(std::string_view bytes) {
  switch (state_) {
  case State::kReading:
    parse(bytes);
    return;
  case State::kDispatched:
    pending_input_.append(bytes);
    pending_share_.set(pending_input_.capacity());
    // A client that pipelines without limit waits: stop reading until this request is answered.
    // So does any client that pipelines while the process's buffer budget is full.
    if (pending_input_.size() > limits_.max_header_bytes + limits_.max_body_bytes ||
        BufferBudget::process().exhausted()) {
      stopReading();
    }
    return;
  case State::kClosing:
    return;  // lingering after an error reply: read and drop so the reply is not reset away
  }
}

void ClientConnection::parse(std::string_view bytes) {
  while (state_ == State::kReading) {
    if (waiting_ == Waiting::kIdle && !bytes.empty()) {
      wait(Waiting::kHead, limits_.header_timeout);
    }
    if (const char* refused = head_guard_.scan(bytes)) {
      refuse({400, "malformed_http", "Malformed HTTP request", refused});
      return;
    }
    const ParseOutcome outcome = parser_.execute(bytes);
    if (outcome.status == ParseStatus::kOk) {
      return;
    }
    if (outcome.status == ParseStatus::kError) {
      if (refusal_) {
        refuse(*refusal_);  // a callback stopped the parser (the body grew too large)
      } else if (parser_.errorReason().find("header section larger") != std::string_view::npos) {
        refuse({431, "header_bytes", "Request header section too large",
                std::string(parser_.errorReason())});
      } else {
        // Smuggling vectors end here: llhttp (strict, never lenient) refuses conflicting or
        // repeated Content-Length, Content-Length with Transfer-Encoding, Transfer-Encoding
        // other than a final chunked, bare CR in values and bad chunk framing; head_guard_
        // catches what llhttp 8 lets through (bare LF line ends, obsolete line folding).
        refuse({400, "malformed_http", "Malformed HTTP request",
                std::string(parser_.errorReason())});
      }
      return;
    }
    bytes.remove_prefix(outcome.consumed);
    if (refusal_) {
      refuse(*refusal_);
      return;
    }
    // The parser paused at the end of a request: hand it over.
    state_ = State::kDispatched;
    waiting_ = Waiting::kNothing;
    ++requests_;
    if (limits_.max_requests_per_connection != 0 &&
        requests_ >= limits_.max_requests_per_connection && !last_request_) {
      last_request_ = true;
      observer_.limitReached(*this, "requests_per_connection", 0,
                             "request " + std::to_string(requests_) +
                                 " on this connection: its answer says Connection: close");
    }
    request_open_ = true;
    ClientStream* stream = handler_.handle(request_, *this);
    releaseLargeBody();
    // A handler that answered inline has moved the state on (finishResponse); otherwise the
    // returned stream answers later.
    if (state_ == State::kDispatched) {
      stream_ = stream;
    }
    if (state_ != State::kReading) {
      pending_input_.append(bytes);
      pending_share_.set(pending_input_.capacity());
      return;
    }
  }
}

bool ClientConnection::onHead(HttpHead& head) {
  request_.head = std::move(head);
  request_.body.clear();
  request_.received_at = std::chrono::steady_clock::now();
  const HttpHead& request = request_.head;
  request_is_head_ = request.method == "HEAD";
  if (request.headers.size() > limits_.max_headers) {
    refusal_ = Refusal{431, "headers", "Too many request header fields",
                       std::to_string(request.headers.size()) + " header fields; the limit is " +
                           std::to_string(limits_.max_headers)};
    return false;
  }
  if (hasRepeatedHost(request.headers)) {
    // RFC 9112 3.2: a request with more than one Host field gets 400; two proxies reading
    // different ones would route it to different hosts.
    refusal_ = Refusal{400, "malformed_http", "Malformed HTTP request",
                       "more than one Host field"};
    return false;
  }
  if (request.version_major == 1 && request.version_minor == 0 &&
      findHeader(request.headers, "transfer-encoding") != nullptr) {
    // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty.
    refusal_ = Refusal{400, "malformed_http", "Malformed HTTP request",
                       "Transfer-Encoding in an HTTP/1.0 request"};
    return false;
  }
  if (request.content_length && *request.content_length > limits_.max_body_bytes) {
    refusal_ = Refusal{413, "body_bytes", "Request body too large",
                       "Content-Length exceeds the limit of " +
                           std::to_string(limits_.max_body_bytes) + " bytes"};
    return false;
  }
  wait(Waiting::kBody, limits_.body_timeout);
  if (request.content_length) {
    request_.body.reserve(static_cast<std::size_t>(*request.content_length));
    body_share_.set(request_.body.capacity());
  }
  const HeaderField* expect = findHeader(request.headers, "expect");
  if (expect != nullptr && equalsIgnoreCase(expect->value, "100-continue") &&
      request.version_major == 1 && request.version_minor >= 1) {
    // The body is read here, not by the upstream, so the interim answer is ours to give.
    write("HTTP/1.1 100 Continue\r\n\r\n");
  }
  return true;
}

bool ClientConnection::onBody(std::string_view bytes) {
  if (request_.body.size() + bytes.size() > limits_.max_body_bytes) {
    refusal_ = Refusal{413, "body_bytes", "Request body too large",
                       "the body exceeds the limit of " + std::to_string(limits_.max_body_bytes) +
                           " bytes"};
    return false;
  }
  request_.body.append(bytes);
  body_share_.set(request_.body.capacity());
  return true;
}

void ClientConnection::releaseLargeBody() {
  if (request_.body.capacity() > kKeptBodyBytes) {
    std::string().swap(request_.body);
  }
  body_share_.set(request_.body.capacity());
}

bool ClientConnection::onMessageComplete() {
  head_guard_.nextMessage();
  return false;
}

void ClientConnection::sendResponseHead(int status, std::string_view reason,
                                        std::string_view header_lines, BodyFraming framing,
                                        std::uint64_t content_length) {
  const HttpHead& request = request_.head;
  const bool http10 = request.version_major == 1 && request.version_minor == 0;
  keep_alive_ = request.keep_alive && !draining_ && !last_request_;
  framing_ = request_is_head_ ? BodyFraming::kNone : framing;
  chunked_out_ = false;
  response_started_ = true;
  head_.clear();
  head_ += "HTTP/1.1 ";
  head_ += std::to_string(status);
  head_.push_back(' ');
  head_ += reason;
  head_ += "\r\n";
  head_ += header_lines;
  if (framing == BodyFraming::kContentLength) {
    head_ += "Content-Length: ";
    head_ += std::to_string(content_length);
    head_ += "\r\n";
  } else if (framing == BodyFraming::kStreamed && !request_is_head_) {
    if (http10) {
      keep_alive_ = false;  // an HTTP/1.0 client can only learn the end from the close
    } else {
      head_ += "Transfer-Encoding: chunked\r\n";
      chunked_out_ = true;
    }
  }
  if (!keep_alive_) {
    head_ += "Connection: close\r\n";
  } else if (http10) {
    head_ += "Connection: keep-alive\r\n";
  }
  head_ += "\r\n";
  // The head waits for the first body bytes so that a small reply leaves in one write.
}

void ClientConnection::sendResponseBody(std::string_view bytes) {
  if (framing_ == BodyFraming::kNone || bytes.empty()) {
    return;
  }
  constexpr std::size_t kMaxCorked = 64 * 1024;
  if (!chunked_out_) {
    if (head_.empty() && !corked_) {
      write(bytes);
      return;
    }
    head_.append(bytes);
  } else {
    head_.reserve(head_.size() + bytes.size() + 16);
    appendHex(head_, bytes.size());
    head_ += "\r\n";
    head_.append(bytes);
    head_ += "\r\n";
  }
  if (!corked_ || head_.size() > kMaxCorked) {
    write(head_);
    clearGathered();
  }
}

void ClientConnection::clearGathered() {
  head_.clear();
  // A large body passed through it (write() copied what the socket did not take): its storage
  // goes back rather than staying with the connection, one unaccounted megabyte per slow reader.
  if (head_.capacity() > kMaxKeptGathered) {
    std::string().swap(head_);
  }
}

void ClientConnection::uncork() {
  corked_ = false;
  if (response_started_ && !head_.empty()) {
    write(head_);
    clearGathered();
  }
}

void ClientConnection::endResponse() {
  corked_ = false;
  if (chunked_out_) {
    head_ += "0\r\n\r\n";
  }
  write(head_);
  clearGathered();
  finishResponse();
}

void ClientConnection::sendSimpleResponse(int status, std::string_view content_type,
                                          std::string_view body,
                                          std::string_view extra_header_lines) {
  std::string lines;
  lines.reserve(64 + extra_header_lines.size());
  if (!content_type.empty()) {
    lines += "Content-Type: ";
    lines += content_type;
    lines += "\r\n";
  }
  lines += extra_header_lines;
  sendResponseHead(status, statusText(status),
                   lines, BodyFraming::kContentLength, body.size());
  sendResponseBody(body);
  endResponse();
}

void ClientConnection::abortResponse() {
  endRequest();
  corked_ = false;
  stream_ = nullptr;
  head_.clear();
  state_ = State::kClosing;
  closeAfterWrites();
}

void ClientConnection::finishResponse() {
  endRequest();
  stream_ = nullptr;
  response_started_ = false;
  if (!keep_alive_ || read_eof_ || draining_) {
    state_ = State::kClosing;
    closeAfterWrites();
    return;
  }
  state_ = State::kReading;
  refusal_.reset();
  wait(Waiting::kIdle, limits_.idle_timeout);
  parser_.resume();
  if (!reading()) {
    startReading();
  }
  if (!pending_input_.empty()) {
    // Never parse the next request inside the callback chain that finished this one.
    deferred_.schedule(*this);
  }
}

void ClientConnection::runDeferred() {
  if (state_ != State::kReading || closing()) {
    return;
  }
  std::string input = std::move(pending_input_);
  pending_input_.clear();
  parse(input);
  pending_share_.set(pending_input_.capacity());
}

void ClientConnection::refuse(const Refusal& refusal, std::string_view extra_header_lines) {
  observer_.limitReached(*this, refusal.limit, refusal.status, refusal.detail);
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{jsonrpc::kInvalidRequest, refusal.message, refusal.detail,
                     refusal.error_class, 0, {}});
  std::string response = "HTTP/1.1 " + std::to_string(refusal.status) + " " +
                         std::string(statusText(refusal.status)) +
                         "\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n" + std::string(extra_header_lines) +
                         "Connection: close\r\n\r\n" + body;
  write(response);
  stream_ = nullptr;
  state_ = State::kClosing;
  waiting_ = Waiting::kNothing;
  // The client may still be sending (a body we refused): read and drop it for a while after
  // our FIN, so that the reply is read rather than lost to a reset.
  lingering_ = true;
  linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
  shutdownWrite();
  if (!reading()) {
    startReading();
  }
}

bool ClientConnection::sendStalled(std::chrono::steady_clock::time_point now) {
  return send_progress_.stalled(queuedBytes(), bytesSent(), now, limits_.send_timeout);
}

void ClientConnection::sweep(std::chrono::steady_clock::time_point now) {
  if (lingering_) {
    if (now >= linger_until_) {
      close();
    }
    return;
  }
  if (closing()) {
    return;
  }
  if (sendStalled(now)) {
    observer_.limitReached(*this, "send_timeout", 0,
                           "the client took no response bytes for " +
                               std::to_string(limits_.send_timeout.count()) + " ms");
    close();  // the stream hears onClientGone and cancels its upstream request
    return;
  }
  if (state_ != State::kReading || waiting_ == Waiting::kNothing || now < wait_until_) {
    return;
  }
  switch (waiting_) {
  case Waiting::kIdle:
    // A keep-alive connection nobody uses: close quietly, as HTTP allows at any idle moment.
    observer_.limitReached(*this, "idle_timeout", 0,
                           "no request for " + std::to_string(limits_.idle_timeout.count()) +
                               " ms");
    waiting_ = Waiting::kNothing;
    state_ = State::kClosing;
    closeAfterWrites();
    return;
  case Waiting::kHead:
    refuse({408, "header_timeout", "Request header timeout",
            "the request head did not arrive within " +
                std::to_string(limits_.header_timeout.count()) + " ms"});
    return;
  case Waiting::kBody:
    refuse({408, "body_timeout", "Request body timeout",
            "the request body did not arrive within " +
                std::to_string(limits_.body_timeout.count()) + " ms"});
    return;
  case Waiting::kNothing:
    return;
  }
}

void ClientConnection::closeAfterWrites() {
  if (queuedBytes() == 0) {
    close();
  } else {
    close_after_writes_ = true;
  }
}

void ClientConnection::drain() {
  if (draining_) {
    return;
  }
  draining_ = true;
  if (state_ == State::kReading && !parser_.inMessage()) {
    state_ = State::kClosing;
    closeAfterWrites();
    return;
  }
  if (state_ == State::kDispatched && stream_ != nullptr) {
    stream_->onServerDraining();  // may end the response inline
  }
}

void ClientConnection::onReadEnd(int) {
  read_eof_ = true;
  if (state_ == State::kDispatched) {
    dropStream();  // a request in flight is cancelled
  }
  // The client has sent everything but may still be reading (a half-close): what was queued for
  // it, whole responses or a rejection we lingered for, goes out before the close.
  lingering_ = false;
  state_ = State::kClosing;
  closeAfterWrites();
}

void ClientConnection::onWriteDrained() {
  if (lingering_) {
    return;  // the shutdown follows the queued writes; EOF or the deadline closes
  }
  if (close_after_writes_) {
    close();
    return;
  }
  if (stream_ != nullptr) {
    stream_->onClientWritable();
  }
}

void ClientConnection::dropStream() {
  ClientStream* stream = stream_;
  stream_ = nullptr;
  if (stream != nullptr) {
    stream->onClientGone();
  }
  endRequest();
}

void ClientConnection::endRequest() {
  if (request_open_) {
    request_open_ = false;
    handler_.requestEnded(*this);
  }
}

void ClientConnection::onClosed() {
  deferred_.cancel(*this);
  dropStream();
  observer_.connectionClosed(*this);
}

}  // namespace bulwark
