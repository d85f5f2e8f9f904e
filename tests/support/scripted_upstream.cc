#include "tests/support/scripted_upstream.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <cctype>
#include <cstdio>

#include "proxy/http/http_message.h"

namespace bulwark::testing {
namespace {

constexpr std::size_t kMaxHeadBytes = 64 * 1024;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view reasonOf(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string chunk(std::string_view bytes) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  std::string out(size);
  out.append(bytes);
  out += "\r\n";
  return out;
}

Reply::Headers with(Reply::Headers headers, std::string name, std::string value) {
  headers.insert(headers.begin(), {std::move(name), std::move(value)});
  return headers;
}

}  // namespace

std::string Reply::head(int status, const Headers& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonOf(status));
  out += "\r\n";
  for (const auto& [name, value] : headers) {
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string Reply::sseChunk(std::string_view data) {
  std::string event = "event: message\ndata: ";
  event.append(data);
  event += "\n\n";
  return chunk(event);
}

Reply Reply::json(int status, std::string_view body, const Headers& headers) {
  Headers all = with(headers, "Content-Length", std::to_string(body.size()));
  all = with(std::move(all), "Content-Type", "application/json");
  Reply reply;
  reply.writes.push_back({std::chrono::milliseconds(0), head(status, all) + std::string(body)});
  return reply;
}

Reply Reply::sse(int status, const std::vector<std::string>& events,
                 std::chrono::milliseconds gap, const Headers& headers) {
  Headers all = with(headers, "Transfer-Encoding", "chunked");
  all = with(std::move(all), "Cache-Control", "no-cache");
  all = with(std::move(all), "Content-Type", "text/event-stream");
  Reply reply;
  reply.writes.push_back({std::chrono::milliseconds(0), head(status, all)});
  for (const std::string& data : events) {
    reply.writes.push_back({gap, sseChunk(data)});
  }
  reply.writes.push_back({std::chrono::milliseconds(0), "0\r\n\r\n"});
  return reply;
}

Reply Reply::empty(int status, const Headers& headers) {
  Reply reply;
  reply.writes.push_back(
      {std::chrono::milliseconds(0), head(status, with(headers, "Content-Length", "0"))});
  return reply;
}

Reply Reply::resetBeforeHead() { return raw({}, End::kReset); }

Reply Reply::resetAfterHead(int status, const std::vector<std::string>& events) {
  Reply reply = sse(status, events);
  reply.writes.pop_back();  // no last chunk: the stream is cut
  reply.end = End::kReset;
  return reply;
}

Reply Reply::never() { return raw({}, End::kHang); }

Reply Reply::raw(std::vector<Write> writes, End end) {
  Reply reply;
  reply.writes = std::move(writes);
  reply.end = end;
  return reply;
}

std::string RecordedRequest::header(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const auto& [field, value] : headers) {
    if (field == wanted) {
      return value;
    }
  }
  return {};
}

// One accepted connection: parses requests, plays one reply at a time (a pipelined request
// waits for the reply before it), and frees itself in its close callback.
class ScriptedUpstream::Connection final : private HttpMessageSink {
public:
  Connection(ScriptedUpstream& owner, std::size_t number)
      : owner_(&owner), number_(number), parser_(HTTP_REQUEST, *this, kMaxHeadBytes) {
    uv_tcp_init(owner.loop_, &tcp_);
    tcp_.data = this;
    uv_timer_init(owner.loop_, &timer_);
    timer_.data = this;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void start() {
    uv_read_start(
        stream(),
        [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
          auto* self = static_cast<Connection*>(handle->data);
          *buf = uv_buf_init(self->read_buffer_, sizeof self->read_buffer_);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<Connection*>(stream->data);
          if (nread < 0) {
            self->close(false);
          } else if (nread > 0) {
            self->onBytes(std::string_view(buf->base, static_cast<std::size_t>(nread)));
          }
        });
  }

  // Closes both handles; `reset` sends RST instead of FIN. The object is deleted once both
  // close callbacks have run. The owner is forgotten at once: it may be gone by then.
  void close(bool reset) {
    if (closing_) {
      return;
    }
    closing_ = true;
    if (owner_ != nullptr) {
      owner_->connections_.erase(this);
      owner_ = nullptr;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::onClosed);
    if (reset && uv_tcp_close_reset(&tcp_, &Connection::onClosed) == 0) {
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::onClosed);
  }

private:
  static void onClosed(uv_handle_t* handle) {
    auto* self = static_cast<Connection*>(handle->data);
    if (++self->closed_handles_ == 2) {
      delete self;
    }
  }

  void onBytes(std::string_view bytes) {
    const ParseOutcome outcome = parser_.execute(bytes);
    if (outcome.status == ParseStatus::kError) {
      close(false);
    }
  }

  bool onHead(HttpHead& head) override {
    current_ = RecordedRequest{};
    current_.method = head.method;
    current_.target = head.target;
    current_.connection = number_;
    for (const HeaderField& field : head.headers) {
      current_.headers.emplace_back(lower(field.name), std::string(field.value));
    }
    return true;
  }
  bool onBody(std::string_view bytes) override {
    current_.body.append(bytes);
    return true;
  }
  bool onMessageComplete() override {
    if (owner_ == nullptr) {
      return true;
    }
    owner_->requests_.push_back(std::move(current_));
    ++waiting_;
    if (!playing_) {
      playNext();
    }
    return true;
  }

  void playNext() {
    if (waiting_ == 0 || owner_ == nullptr || closing_) {
      return;
    }
    --waiting_;
    playing_ = true;
    reply_ = owner_->nextReply();
    step_ = 0;
    nextStep();
  }

  void nextStep() {
    if (closing_) {
      return;
    }
    if (step_ == reply_.writes.size()) {
      finishReply();
      return;
    }
    const auto delay = reply_.writes[step_].delay;
    if (delay.count() > 0) {
      uv_timer_start(
          &timer_, [](uv_timer_t* timer) { static_cast<Connection*>(timer->data)->writeStep(); },
          static_cast<std::uint64_t>(delay.count()), 0);
    } else {
      writeStep();
    }
  }

  void writeStep() {
    const std::string& bytes = reply_.writes[step_].bytes;
    uv_buf_t buf =
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    write_.data = this;
    const int rc = uv_write(&write_, stream(), &buf, 1, [](uv_write_t* request, int status) {
      auto* self = static_cast<Connection*>(request->data);
      if (status != 0) {
        self->close(false);
        return;
      }
      ++self->step_;
      self->nextStep();
    });
    if (rc != 0) {
      close(false);
    }
  }

  void finishReply() {
    switch (reply_.end) {
      case Reply::End::kKeepAlive:
        playing_ = false;
        playNext();
        return;
      case Reply::End::kClose:
        close(false);
        return;
      case Reply::End::kReset:
        close(true);
        return;
      case Reply::End::kHang:
        return;  // playing_ stays true: nothing more is answered here
    }
  }

  ScriptedUpstream* owner_;
  std::size_t number_;
  HttpParser parser_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_write_t write_{};
  char read_buffer_[16 * 1024];
  RecordedRequest current_;
  Reply reply_;
  std::size_t step_ = 0;
  std::size_t waiting_ = 0;
  bool playing_ = false;
  bool closing_ = false;
  int closed_handles_ = 0;
};

ScriptedUpstream::ScriptedUpstream(uv_loop_t* loop) : loop_(loop), listener_(new uv_tcp_t{}) {
  REQUIRE(uv_tcp_init(loop_, listener_) == 0);
  listener_->data = this;
  REQUIRE(uv_ip4_addr("127.0.0.1", 0, &bound_) == 0);
  REQUIRE(uv_tcp_bind(listener_, reinterpret_cast<const struct sockaddr*>(&bound_), 0) == 0);
  int length = sizeof bound_;
  REQUIRE(uv_tcp_getsockname(listener_, reinterpret_cast<struct sockaddr*>(&bound_), &length) == 0);
  port_ = ntohs(bound_.sin_port);
  REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 64,
                    &ScriptedUpstream::onConnection) == 0);
}

ScriptedUpstream::~ScriptedUpstream() { close(); }

void ScriptedUpstream::push(Reply reply) { script_.push_back(std::move(reply)); }

std::string ScriptedUpstream::address() const { return "127.0.0.1:" + std::to_string(port_); }

Reply ScriptedUpstream::nextReply() {
  if (script_.empty()) {
    return Reply::json(500, R"({"error":"script exhausted"})");
  }
  Reply reply = std::move(script_.front());
  script_.pop_front();
  return reply;
}

void ScriptedUpstream::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ScriptedUpstream*>(server->data);
  if (status != 0 || self == nullptr) {
    return;
  }
  auto* connection = new Connection(*self, ++self->accepted_);
  self->connections_.insert(connection);
  if (uv_accept(server, connection->stream()) != 0) {
    connection->close(false);
    return;
  }
  connection->start();
}

void ScriptedUpstream::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  listener_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(listener_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
  const std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* connection : open) {
    connection->close(false);
  }
}

}  // namespace bulwark::testing
