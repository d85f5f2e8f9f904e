// Component tests of the downstream HTTP/1.1 side: a Listener on 127.0.0.1:0 in a fresh loop,
// a scripted RequestHandler, and a raw TCP client driven by the same loop. No threads, no sleeps:
// each case runs the loop until its client has seen what it waits for, then closes every handle
// and checks that the loop closes with none left.
#include "proxy/http/client_connection.h"
#include "proxy/http/http_message.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/net/address.h"
#include "proxy/net/listener.h"

#include <chrono>
#include <doctest/doctest.h>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

// Every case finishes in milliseconds; this only turns a hang into a failure.
constexpr std::chrono::milliseconds kWatchdog{5000};

class FunctionHandler final : public RequestHandler {
public:
  ClientStream* handle(Request& request, ClientConnection& connection) override {
    return on_request(request, connection);
  }
  void requestEnded(ClientConnection& /*connection*/) override { ++ended; }
  std::function<ClientStream*(Request&, ClientConnection&)> on_request;
  int ended = 0;
};

// A raw TCP client. Owns its handle; the owner (ServerHarness) keeps it alive until the loop
// has run its close callback.
class TestClient {
public:
  std::function<void(TestClient&)> on_connect;
  std::function<void(TestClient&)> on_read; // after new bytes or the end of the stream

  std::string received;
  bool eof = false;
  int read_error = 0; // a negative libuv code other than UV_EOF
  // The first libuv call of this client that failed ("uv_write: EPIPE"), recorded here because
  // nothing may assert inside a libuv callback; ServerHarness::run() checks it.
  std::string uv_failure;
  int connect_status = 1;

  explicit TestClient(uv_loop_t* loop) {
    REQUIRE(uv_tcp_init(loop, &tcp_) == 0);
    tcp_.data = this;
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  void connect(const sockaddr_in& address) {
    connect_request_.data = this;
    REQUIRE(uv_tcp_connect(&connect_request_, &tcp_, reinterpret_cast<const sockaddr*>(&address),
                           &TestClient::onConnect) == 0);
  }

  void send(std::string bytes) {
    if (closing()) {
      return;
    }
    auto request = std::make_unique<Write>();
    request->bytes = std::move(bytes);
    request->request.data = request.get();
    uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
    const int rc = uv_write(&request->request, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1,
                            &TestClient::onWrite);
    noteFailure("uv_write", rc);
    if (rc == 0) {
      request.release(); // onWrite frees it, also when cancelled by a close
    }
  }

  void close() {
    if (!closing()) {
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
    }
  }
  // Closes with a TCP RST instead of a FIN.
  void reset() {
    if (!closing()) {
      noteFailure("uv_tcp_close_reset", uv_tcp_close_reset(&tcp_, nullptr));
    }
  }
  bool closing() const { return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp_)) != 0; }

private:
  struct Write {
    uv_write_t request{};
    std::string bytes;
  };

  void noteFailure(const char* call, int rc) {
    if (rc != 0 && uv_failure.empty()) {
      uv_failure = std::string(call) + ": " + uv_err_name(rc);
    }
  }

  static void onConnect(uv_connect_t* request, int status) {
    auto* self = static_cast<TestClient*>(request->data);
    self->connect_status = status;
    if (status != 0 || self->closing()) {
      return;
    }
    self->noteFailure("uv_read_start",
                      uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_),
                                    &TestClient::onAlloc, &TestClient::onReadBytes));
    if (self->on_connect) {
      self->on_connect(*self);
    }
  }

  static void onAlloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<TestClient*>(handle->data);
    *buf = uv_buf_init(self->buffer_, sizeof self->buffer_);
  }

  static void onReadBytes(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<TestClient*>(stream->data);
    if (nread > 0) {
      self->received.append(buf->base, static_cast<std::size_t>(nread));
    } else if (nread < 0) {
      uv_read_stop(stream);
      if (nread == UV_EOF) {
        self->eof = true;
      } else {
        self->read_error = static_cast<int>(nread);
      }
    } else {
      return;
    }
    if (self->on_read) {
      self->on_read(*self);
    }
  }

  static void onWrite(uv_write_t* request, int) { delete static_cast<Write*>(request->data); }

  uv_tcp_t tcp_{};
  uv_connect_t connect_request_{};
  char buffer_[64 * 1024];
};

// A stream that answers later, from a timer, or never; it counts onClientGone calls.
class LaterStream final : public ClientStream {
public:
  std::function<void(ClientConnection&)> answer;
  std::function<void()> on_gone;
  int gone = 0;

  void answerAfter(uv_loop_t* loop, ClientConnection& connection, std::uint64_t delay_ms) {
    connection_ = &connection;
    REQUIRE(uv_timer_init(loop, &timer_) == 0);
    timer_.data = this;
    timer_open_ = true;
    REQUIRE(uv_timer_start(&timer_, &LaterStream::onTimer, delay_ms, 0) == 0);
  }

  void onClientGone() override {
    ++gone;
    connection_ = nullptr;
    closeTimer();
    if (on_gone) {
      on_gone();
    }
  }

  void closeTimer() {
    if (timer_open_) {
      timer_open_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    }
  }

private:
  static void onTimer(uv_timer_t* timer) {
    auto* self = static_cast<LaterStream*>(timer->data);
    self->closeTimer();
    ClientConnection* connection = self->connection_;
    self->connection_ = nullptr;
    if (connection != nullptr && self->answer) {
      self->answer(*connection);
    }
  }

  uv_timer_t timer_{};
  bool timer_open_ = false;
  ClientConnection* connection_ = nullptr;
};

// A fresh loop (the shared TestLoop), a DeferredQueue and a Listener on 127.0.0.1:0 with a
// scripted handler.
class ServerHarness {
public:
  FunctionHandler handler;
  bulwark::testing::TestLoop test_loop;
  uv_loop_t& loop = *test_loop.get();
  bool timed_out = false;

  explicit ServerHarness(ServerLimits limits = {}) : limits_(limits) {
    loop_open_ = true;
    deferred_.emplace(&loop);
    listener_.emplace(&loop, "test", handler, *deferred_, limits_);
    const std::string error = listener_->listen({"127.0.0.1", 0});
    REQUIRE_MESSAGE(error.empty(), error);
    std::string parse_error;
    const auto bound = config::parseHostPort(listener_->boundAddress(), parse_error);
    REQUIRE_MESSAGE(bound.has_value(), parse_error);
    CHECK(bound->port != 0);
    REQUIRE(uv_ip4_addr("127.0.0.1", bound->port, &address_) == 0);
  }
  ServerHarness(const ServerHarness&) = delete;
  ServerHarness& operator=(const ServerHarness&) = delete;

  ~ServerHarness() {
    // Only reached with the loop open when a REQUIRE failed mid-case: clean up regardless.
    if (loop_open_) {
      teardown();
      static_cast<void>(test_loop.runToEnd());
      static_cast<void>(test_loop.close());
    }
  }

  Listener& listener() { return *listener_; }

  TestClient& connectClient(std::function<void(TestClient&)> on_connect,
                            std::function<void(TestClient&)> on_read) {
    clients_.push_back(std::make_unique<TestClient>(&loop));
    TestClient& client = *clients_.back();
    client.on_connect = std::move(on_connect);
    client.on_read = std::move(on_read);
    client.connect(address_);
    return client;
  }

  // Closes the listener, every connection it accepted, every client and the harness's own
  // handles. Safe to call more than once and from any callback.
  void teardown() {
    if (torn_down_) {
      return;
    }
    torn_down_ = true;
    listener_->stopAccepting();
    listener_->closeConnections();
    for (auto& client : clients_) {
      client->close();
    }
    deferred_->close();
    for (const auto& hook : on_teardown) {
      hook();
    }
  }

  // Runs the loop until the case tears down (or, after kWatchdog, tears it down itself and
  // sets timed_out), then until every handle is closed; returns uv_loop_close().
  int run() {
    if (!test_loop.runUntil([this] { return torn_down_; }, kWatchdog)) {
      timed_out = true;
      teardown();
    }
    CHECK(test_loop.runToEnd());
    for (const auto& client : clients_) {
      CHECK_MESSAGE(client->uv_failure.empty(), client->uv_failure);
    }
    loop_open_ = false;
    return test_loop.close();
  }

  std::vector<std::function<void()>> on_teardown;

private:
  ServerLimits limits_;
  std::optional<DeferredQueue> deferred_;
  std::optional<Listener> listener_;
  sockaddr_in address_{};
  std::vector<std::unique_ptr<TestClient>> clients_;
  bool torn_down_ = false;
  bool loop_open_ = false;
};

std::string request(std::string_view method, std::string_view target,
                    std::string_view extra_lines = {}, std::string_view body = {}) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  out += extra_lines;
  if (!body.empty()) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

// What sendSimpleResponse(200, "text/plain", body) puts on the wire.
std::string simpleOk(std::string_view body, std::string_view connection_lines = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(connection_lines) + "\r\n" +
         std::string(body);
}

// Answers inline with "<METHOD> <target> <body>".
ClientStream* echo(Request& request, ClientConnection& connection) {
  connection.sendSimpleResponse(200, "text/plain",
                                request.head.method + " " + request.head.target +
                                    (request.body.empty() ? "" : " " + request.body));
  return nullptr;
}

// Tears down once `received` has at least `expected`'s size (or the stream ended).
std::function<void(TestClient&)> untilReceived(ServerHarness& harness, std::size_t size) {
  return [&harness, size](TestClient& client) {
    if (client.received.size() >= size || client.eof || client.read_error != 0) {
      harness.teardown();
    }
  };
}

// Tears down when the server ends the stream.
std::function<void(TestClient&)> untilEnd(ServerHarness& harness) {
  return [&harness](TestClient& client) {
    if (client.eof || client.read_error != 0) {
      harness.teardown();
    }
  };
}

TEST_CASE("a keep-alive connection answers three sequential requests") {
  ServerHarness h;
  std::vector<ClientConnection*> connections;
  std::vector<std::size_t> open_connections;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    connections.push_back(&c);
    open_connections.push_back(h.listener().connectionCount());
    return echo(r, c);
  };
  const std::string expected[] = {simpleOk("GET /1"), simpleOk("POST /2 {\"n\":2}"),
                                  simpleOk("GET /3")};
  const std::string requests[] = {request("GET", "/1"), request("POST", "/2", {}, "{\"n\":2}"),
                                  request("GET", "/3")};
  std::size_t sent = 0;
  std::string expected_so_far;
  auto sendNext = [&](TestClient& client) {
    expected_so_far += expected[sent];
    client.send(requests[sent]);
    ++sent;
  };
  TestClient& client = h.connectClient(sendNext, [&](TestClient& c) {
    if (c.eof || c.read_error != 0 || c.received.size() > expected_so_far.size()) {
      h.teardown();
      return;
    }
    if (c.received.size() == expected_so_far.size()) {
      // Send the next request only once the previous answer is complete.
      if (sent < 3) {
        sendNext(c);
      } else {
        h.teardown();
      }
    }
  });
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected[0] + expected[1] + expected[2]);
  CHECK_FALSE(client.eof); // the server kept the connection open
  REQUIRE(connections.size() == 3);
  CHECK(connections[0] == connections[1]);
  CHECK(connections[1] == connections[2]);
  CHECK(open_connections == std::vector<std::size_t>{1, 1, 1});
  CHECK(h.listener().connectionCount() == 0);
}

TEST_CASE("a request body counts in the buffer budget while held, and a large one goes back") {
  ServerHarness h;
  const std::size_t before = BufferBudget::process().used();
  std::vector<std::size_t> used_at_handle;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    used_at_handle.push_back(BufferBudget::process().used());
    c.sendSimpleResponse(200, "text/plain", std::to_string(r.body.size()));
    return nullptr;
  };
  const std::string big(100 * 1024, 'b');
  const std::string requests = request("POST", "/big", {}, big) + request("GET", "/after");
  const std::string expected = simpleOk(std::to_string(big.size())) + simpleOk("0");
  TestClient& client = h.connectClient([&](TestClient& c) { c.send(requests); },
                                       untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
  REQUIRE(used_at_handle.size() == 2);
  CHECK(used_at_handle[0] >= before + big.size());  // the body being read
  CHECK(used_at_handle[1] < before + 16 * 1024);    // its storage went back once handled
  CHECK(BufferBudget::process().used() == before);  // and the connection's share with it
}

TEST_CASE("three pipelined requests in one write are answered in order") {
  ServerHarness h;
  const std::size_t before = BufferBudget::process().used();
  std::vector<std::string> handled;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    handled.push_back(r.head.target);
    return echo(r, c);
  };
  const std::string expected =
      simpleOk("GET /a") + simpleOk("POST /b hello") + simpleOk("DELETE /c");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("GET", "/a") + request("POST", "/b", {}, "hello") + request("DELETE", "/c"));
      },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK(handled == std::vector<std::string>{"/a", "/b", "/c"});
  CHECK_FALSE(client.eof);
  CHECK(BufferBudget::process().used() == before);  // nothing stays charged
}

TEST_CASE("pipelined requests written one byte at a time are answered in order") {
  ServerHarness h;
  std::vector<std::string> handled;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    handled.push_back(r.head.target);
    return echo(r, c);
  };
  const std::string expected = simpleOk("POST /x 12345") + simpleOk("GET /y");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        const std::string bytes = request("POST", "/x", {}, "12345") + request("GET", "/y");
        for (const char byte : bytes) {
          c.send(std::string(1, byte));
        }
      },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK(handled == std::vector<std::string>{"/x", "/y"});
}

TEST_CASE("a pipelined request waits while the one before it is answered later") {
  ServerHarness h;
  LaterStream slow;
  std::vector<std::string> events;
  const std::size_t before = BufferBudget::process().used();
  std::size_t used_while_waiting = 0;
  slow.answer = [&](ClientConnection& c) {
    events.push_back("answer /slow");
    used_while_waiting = BufferBudget::process().used();
    c.sendResponseHead(200, "OK", "Content-Type: text/plain\r\n", BodyFraming::kContentLength, 9);
    c.sendResponseBody("slow ");
    c.sendResponseBody("done");
    c.endResponse();
  };
  h.handler.on_request = [&](Request& r, ClientConnection& c) -> ClientStream* {
    events.push_back("handle " + r.head.target);
    if (r.head.target == "/slow") {
      slow.answerAfter(&h.loop, c, 20);
      return &slow;
    }
    return echo(r, c);
  };
  h.on_teardown.push_back([&] { slow.closeTimer(); });
  const std::string expected = simpleOk("slow done") + simpleOk("GET /fast");
  TestClient& client = h.connectClient(
      [](TestClient& c) { c.send(request("GET", "/slow") + request("GET", "/fast")); },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK(events == std::vector<std::string>{"handle /slow", "answer /slow", "handle /fast"});
  CHECK(slow.gone == 0);
  // The request waiting behind /slow was buffered, in the budget; nothing stays charged.
  CHECK(used_while_waiting >= before + request("GET", "/fast").size());
  CHECK(BufferBudget::process().used() == before);
}

TEST_CASE("a streamed response is chunked for HTTP/1.1 and the connection stays usable") {
  ServerHarness h;
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  h.handler.on_request = [&](Request& r, ClientConnection& c) -> ClientStream* {
    if (r.head.target != "/stream") {
      return echo(r, c);
    }
    c.sendResponseHead(200, "OK", "Content-Type: text/plain\r\n", BodyFraming::kStreamed);
    c.sendResponseBody("hello");
    c.sendResponseBody(""); // nothing to send: must not end the chunked body
    c.sendResponseBody(letters);
    c.endResponse();
    return nullptr;
  };
  const std::string expected =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"
      "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0\r\n\r\n" +
      simpleOk("GET /after");
  TestClient& client = h.connectClient(
      [](TestClient& c) { c.send(request("GET", "/stream") + request("GET", "/after")); },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK_FALSE(client.eof);
}

TEST_CASE("a streamed response with no body bytes is an empty chunked body") {
  ServerHarness h;
  h.handler.on_request = [&](Request&, ClientConnection& c) -> ClientStream* {
    c.sendResponseHead(200, "OK", {}, BodyFraming::kStreamed);
    c.endResponse();
    return nullptr;
  };
  const std::string expected = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  TestClient& client = h.connectClient([](TestClient& c) { c.send(request("GET", "/")); },
                                       untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
}

TEST_CASE("a streamed response to an HTTP/1.0 request is close-delimited") {
  ServerHarness h;
  LaterStream later;
  int version_minor = -1;
  h.handler.on_request = [&](Request& r, ClientConnection& c) -> ClientStream* {
    version_minor = r.head.version_minor;
    c.sendResponseHead(200, "OK", "Content-Type: text/plain\r\n", BodyFraming::kStreamed);
    c.sendResponseBody("part one, ");
    // The rest comes from a later loop turn, as an upstream's body would.
    later.answer = [](ClientConnection& connection) {
      connection.sendResponseBody("part two");
      connection.endResponse();
    };
    later.answerAfter(&h.loop, c, 1);
    return &later;
  };
  h.on_teardown.push_back([&] { later.closeTimer(); });
  TestClient& client = h.connectClient(
      [](TestClient& c) { c.send("GET /stream HTTP/1.0\r\nHost: t\r\n\r\n"); }, untilEnd(h));
  CHECK(h.run() == 0);
  CHECK(version_minor == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.eof);
  CHECK(client.received ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        "part one, part two");
  CHECK(later.gone == 0);
}

TEST_CASE("an HTTP/1.0 keep-alive request gets a keep-alive answer with a length") {
  ServerHarness h;
  int handled = 0;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    ++handled;
    return echo(r, c);
  };
  const std::string expected = simpleOk("GET /a", "Connection: keep-alive\r\n") +
                               simpleOk("GET /b", "Connection: close\r\n");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
      },
      untilEnd(h));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK(client.eof); // closed after the second, non-keep-alive request
  CHECK(handled == 2);
}

TEST_CASE("a HEAD request gets the head only, and the next answer follows it directly") {
  ServerHarness h;
  int head_flag_wrong = 0;  // requests whose requestIsHead() disagreed with their method
  h.handler.on_request = [&](Request& r, ClientConnection& c) -> ClientStream* {
    head_flag_wrong += c.requestIsHead() != (r.head.method == "HEAD") ? 1 : 0;
    if (r.head.target == "/streamed") {
      c.sendResponseHead(200, "OK", {}, BodyFraming::kStreamed);
      c.sendResponseBody("never sent");
      c.endResponse();
      return nullptr;
    }
    c.sendSimpleResponse(200, "text/plain", "12345");
    return nullptr;
  };
  const std::string expected =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
      "HTTP/1.1 200 OK\r\n\r\n" +
      simpleOk("12345");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("HEAD", "/fixed") + request("HEAD", "/streamed") + request("GET", "/"));
      },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == expected);
  CHECK(head_flag_wrong == 0);
}

TEST_CASE("Expect: 100-continue is answered before the client sends its body") {
  ServerHarness h;
  std::string handled_body;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    handled_body = r.body;
    return echo(r, c);
  };
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string expected = interim + simpleOk("POST /upload hello");
  bool body_sent = false;
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("POST", "/upload", "Expect: 100-continue\r\nContent-Length: 5\r\n"));
      },
      [&](TestClient& c) {
        const bool failed = c.eof || c.read_error != 0;
        if (!body_sent && !failed && interim.starts_with(c.received)) {
          if (c.received == interim) {
            body_sent = true; // only now: the server asked for the body
            c.send("hello");
          }
          return; // part of the interim answer so far
        }
        if (c.received.size() >= expected.size() || failed || !body_sent) {
          h.teardown();
        }
      });
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(body_sent);
  CHECK(client.received == expected);
  CHECK(handled_body == "hello");
}

TEST_CASE("Expect: 100-continue from an HTTP/1.0 client gets no interim answer") {
  ServerHarness h;
  h.handler.on_request = echo;
  const std::string expected = simpleOk("POST /u hi", "Connection: close\r\n");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send("POST /u HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
      },
      untilEnd(h));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
}

// The body of a complete response in `bytes` (after the first blank line).
std::string bodyOf(const std::string& bytes) {
  const auto end = bytes.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : bytes.substr(end + 4);
}

// A refusal: the status line, Connection: close, a JSON-RPC -32600 body of the announced
// length, then the end of the stream.
void checkRefusal(const TestClient& client, std::string_view status_line) {
  INFO("received: ", client.received);
  CHECK(client.received.starts_with(std::string(status_line) + "\r\n"));
  CHECK(client.received.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(client.received.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  const std::string body = bodyOf(client.received);
  CHECK(client.received.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") !=
        std::string::npos);
  EnvelopeParser parser;
  const EnvelopeResult parsed = parser.parse(body);
  REQUIRE(parsed.error == EnvelopeError::kNone);
  REQUIRE(parsed.parsed.messages.size() == 1);
  CHECK(parsed.parsed.messages[0].kind == MessageKind::kError);
  CHECK(parsed.parsed.messages[0].error_code == std::optional<std::int64_t>(-32600));
  CHECK(parsed.parsed.messages[0].id == "null");
  CHECK(client.eof);
}

TEST_CASE("a body over max_body_bytes gets 413 and the connection is closed") {
  ServerLimits limits;
  limits.max_body_bytes = 16;
  int handled = 0;
  std::string bytes;
  SUBCASE("announced by Content-Length") { bytes = request("POST", "/", {}, std::string(17, 'x')); }
  SUBCASE("Content-Length over the limit, no body sent yet") {
    bytes = "POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  }
  SUBCASE("found while reading chunks") {
    bytes = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
  }
  SUBCASE("after a pipelined request that was answered") {
    bytes = request("GET", "/ok") + request("POST", "/", {}, std::string(40, 'y'));
  }
  ServerHarness h(limits);
  std::vector<std::string> targets;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    ++handled;
    targets.emplace_back(r.head.target);
    return echo(r, c);
  };
  TestClient& client = h.connectClient([&](TestClient& c) { c.send(bytes); }, untilEnd(h));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  for (const std::string& target : targets) {
    CHECK(target == "/ok");  // only the valid pipelined request reaches the handler
  }
  if (handled == 1) {
    const std::string first = simpleOk("GET /ok");
    REQUIRE(client.received.starts_with(first));
    client.received.erase(0, first.size());
  }
  checkRefusal(client, "HTTP/1.1 413 Content Too Large");
  CHECK(handled == (bytes.starts_with("GET /ok") ? 1 : 0));
}

TEST_CASE("a body of exactly max_body_bytes is accepted") {
  ServerLimits limits;
  limits.max_body_bytes = 16;
  ServerHarness h(limits);
  h.handler.on_request = echo;
  const std::string body(16, 'z');
  const std::string expected = simpleOk("POST / " + body) + simpleOk("POST / abcdefghij");
  TestClient& client = h.connectClient(
      [&](TestClient& c) {
        c.send(request("POST", "/", {}, body) +
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n");
      },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
  CHECK_FALSE(client.eof);
}

TEST_CASE("malformed requests get 400 and the connection is closed") {
  std::string bytes;
  bool first_is_valid = false;
  std::string detail;  // when set, the error answer names it
  SUBCASE("not HTTP") { bytes = "GARBAGE\r\n\r\n"; }
  SUBCASE("Content-Length with Transfer-Encoding") {
    bytes = "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n";
  }
  SUBCASE("two Content-Length values") {
    bytes = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
  }
  SUBCASE("obsolete line folding") {
    bytes = "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n";
  }
  SUBCASE("a bare LF ending a field line") { bytes = "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n"; }
  SUBCASE("a bare LF ending the request line") { bytes = "GET / HTTP/1.1\nHost: t\r\n\r\n"; }
  SUBCASE("Transfer-Encoding in HTTP/1.0") {
    bytes = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  }
  SUBCASE("a bare LF after a valid pipelined request") {
    bytes = request("GET", "/ok") + "GET /x HTTP/1.1\nHost: t\r\n\r\n";
    first_is_valid = true;
  }
  SUBCASE("a bad chunk size") {
    bytes = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  }
  SUBCASE("garbage pipelined after a valid request") {
    bytes = request("GET", "/ok") + "\x01\x02\x03\r\n\r\n";
    first_is_valid = true;
  }
  SUBCASE("two Host fields") {
    bytes = "GET / HTTP/1.1\r\nHost: t\r\nX: y\r\nHost: u\r\n\r\n";
    detail = "more than one Host field";
  }
  SUBCASE("two Host fields, equal, in different case") {
    bytes = "GET / HTTP/1.1\r\nHost: t\r\nhOST: t\r\n\r\n";
    detail = "more than one Host field";
  }
  SUBCASE("a second Host field in a pipelined request") {
    bytes = request("GET", "/ok") + "GET /x HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n";
    first_is_valid = true;
    detail = "more than one Host field";
  }
  SUBCASE("a field with an empty name") {
    bytes = "GET / HTTP/1.1\r\nHost: t\r\n: y\r\n\r\n";
    detail = "a header field with an empty name";
  }
  SUBCASE("a field with an empty name first") {
    bytes = "GET / HTTP/1.1\r\n:\r\nHost: t\r\n\r\n";
    detail = "a header field with an empty name";
  }
  ServerHarness h;
  std::vector<std::string> handled;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    handled.push_back(r.head.target);
    return echo(r, c);
  };
  TestClient& client = h.connectClient([&](TestClient& c) { c.send(bytes); }, untilEnd(h));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  if (first_is_valid) {
    CHECK(handled == std::vector<std::string>{"/ok"});
    const std::string first = simpleOk("GET /ok");
    REQUIRE(client.received.starts_with(first));
    client.received.erase(0, first.size());
  } else {
    CHECK(handled.empty());
  }
  checkRefusal(client, "HTTP/1.1 400 Bad Request");
  CHECK(client.received.find(detail) != std::string::npos);
}

TEST_CASE("a header section over max_header_bytes or max_headers gets 431 and a close") {
  ServerLimits limits;
  std::string extra_lines;
  std::string detail;
  SUBCASE("too many bytes") {
    limits.max_header_bytes = 256;
    extra_lines = "X-Big: " + std::string(1000, 'b') + "\r\n";
    detail = "header section larger than 256 bytes";
  }
  SUBCASE("too many fields") {
    limits.max_headers = 8;
    for (int i = 0; i < 8; ++i) {
      extra_lines += "X-Field-" + std::to_string(i) + ": v\r\n";  // 8 plus Host: one too many
    }
    detail = "9 header fields; the limit is 8";
  }
  ServerHarness h(limits);
  int handled = 0;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    ++handled;
    return echo(r, c);
  };
  TestClient& client = h.connectClient(
      [&](TestClient& c) { c.send(request("GET", "/", extra_lines)); }, untilEnd(h));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(handled == 0);
  CHECK(h.handler.ended == 0);
  checkRefusal(client, "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(client.received.find(detail) != std::string::npos);
}

TEST_CASE("a client that disconnects while its stream is pending cancels it exactly once") {
  enum class How { kFin, kReset, kServerShutdown };
  How how = How::kFin;
  bool pipelined = false;
  SUBCASE("the client closes (FIN)") { how = How::kFin; }
  SUBCASE("the client resets (RST)") { how = How::kReset; }
  SUBCASE("the client closes with a pipelined request waiting") {
    how = How::kFin;
    pipelined = true;
  }
  SUBCASE("the server closes every connection") { how = How::kServerShutdown; }

  ServerHarness h;
  LaterStream pending;
  std::vector<std::string> handled;
  TestClient* client = nullptr;
  pending.on_gone = [&] { h.teardown(); };
  h.handler.on_request = [&](Request& r, ClientConnection&) -> ClientStream* {
    handled.push_back(r.head.target);
    // Never answers; the client goes away while the stream waits.
    switch (how) {
    case How::kFin:
      client->close();
      break;
    case How::kReset:
      client->reset();
      break;
    case How::kServerShutdown:
      h.listener().closeConnections();
      break;
    }
    return &pending;
  };
  client = &h.connectClient(
      [&](TestClient& c) {
        c.send(request("POST", "/pending", {}, "{}") +
               (pipelined ? request("GET", "/next") : std::string()));
      },
      {});
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(pending.gone == 1);
  CHECK(h.handler.ended == 1);  // the handler learns the request ended, once
  CHECK(handled == std::vector<std::string>{"/pending"});
  CHECK(h.listener().connectionCount() == 0);
}

TEST_CASE("a stream answered before the client leaves is never told it is gone") {
  ServerHarness h;
  LaterStream later;
  later.answer = [](ClientConnection& c) { c.sendSimpleResponse(200, "text/plain", "late"); };
  h.handler.on_request = [&](Request&, ClientConnection& c) -> ClientStream* {
    later.answerAfter(&h.loop, c, 1);
    return &later;
  };
  h.on_teardown.push_back([&] { later.closeTimer(); });
  const std::string expected = simpleOk("late");
  TestClient& client = h.connectClient([](TestClient& c) { c.send(request("GET", "/")); },
                                       untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
  CHECK(later.gone == 0);
}

// A stream that ends its response when the server drains (an idle GET stream), and counts.
class DrainableStream final : public ClientStream {
public:
  ClientConnection* connection = nullptr;
  int drained = 0;
  int gone = 0;
  void onServerDraining() override {
    ++drained;
    ClientConnection* c = connection;
    connection = nullptr;
    if (c != nullptr) {
      c->endResponse();
    }
  }
  void onClientGone() override {
    ++gone;
    connection = nullptr;
  }
};

TEST_CASE("draining ends an open stream that has nothing to wait for, then closes the connection") {
  ServerHarness h;
  DrainableStream stream;
  h.handler.on_request = [&](Request&, ClientConnection& c) -> ClientStream* {
    c.sendResponseHead(200, "OK", "Content-Type: text/event-stream\r\n", BodyFraming::kStreamed);
    c.sendResponseBody(": open\n\n");
    stream.connection = &c;
    return &stream;
  };
  bool drain_started = false;
  TestClient& client = h.connectClient(
      [](TestClient& c) { c.send(request("GET", "/mcp")); },
      [&](TestClient& c) {
        if (!drain_started && c.received.find(": open") != std::string::npos) {
          drain_started = true;
          h.listener().stopAccepting();
          h.listener().drainConnections();
        }
        if (c.eof || c.read_error != 0) {
          h.teardown();
        }
      });
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(stream.drained == 1);
  CHECK(stream.gone == 0);  // ended by its own choice, not cancelled
  CHECK(client.eof);
  CHECK(client.received.ends_with("0\r\n\r\n"));  // a complete chunked body, then the close
  CHECK(h.handler.ended == 1);
}

// Found in review: HTTP hardening and address edge cases.
struct Rec final : HttpMessageSink {
  std::vector<HttpHead> heads;
  int completes = 0;
  bool onHead(HttpHead& h) override { heads.push_back(h); return true; }
  bool onBody(std::string_view) override { return true; }
  bool onMessageComplete() override { ++completes; return true; }
};

// trailing whitespace of a field value is kept (RFC 9110 section 5.5 excludes it).
TEST_CASE("field values lose trailing whitespace") {
  Rec sink;
  HttpParser parser(HTTP_REQUEST, sink, 65536);
  CHECK(parser.execute("GET / HTTP/1.1\r\nX-A: v  \r\nX-B:\t w \t\r\n\r\n").status ==
        ParseStatus::kOk);
  REQUIRE(sink.heads.size() == 1);
  CHECK(sink.heads[0].headers[0].value == "v");
  CHECK(sink.heads[0].headers[1].value == "w");
}

// Seen from the client: no interim answer, the client waits.
TEST_CASE("Expect: 100-continue with trailing whitespace still gets 100 Continue") {
  ServerHarness h;
  h.handler.on_request = echo;
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("POST", "/u", "Expect: 100-continue \r\nContent-Length: 2\r\n"));
      },
      [&](TestClient&) { h.teardown(); });
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(client.received == "HTTP/1.1 100 Continue\r\n\r\n");
}

// whitespace between a field name and its colon is accepted (RFC 9112 section 5.1: MUST 400).
TEST_CASE("whitespace before a colon is refused") {
  Rec sink;
  HttpParser parser(HTTP_REQUEST, sink, 65536);
  CHECK(parser.execute("GET / HTTP/1.1\r\nHost : h\r\n\r\n").status == ParseStatus::kError);
  Rec response_sink;
  HttpParser response(HTTP_RESPONSE, response_sink, 65536);
  CHECK(response.execute("HTTP/1.1 200 OK\r\nX : y\r\nContent-Length: 0\r\n\r\n").status ==
        ParseStatus::kError);
}

TEST_CASE("whitespace before a colon gets 400 from the connection") {
  ServerHarness h;
  int handled = 0;
  h.handler.on_request = [&](Request& r, ClientConnection& c) { ++handled; return echo(r, c); };
  TestClient& client =
      h.connectClient([](TestClient& c) { c.send("GET / HTTP/1.1\r\nHost : t\r\n\r\n"); },
                      [&](TestClient& c) {
                        if (c.eof || !c.received.empty())
                          h.teardown();
                      });
  CHECK(h.run() == 0);
  CHECK(handled == 0);
  CHECK(client.received.starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

// the two bytes after chunk data are not checked to be CRLF.
TEST_CASE("chunk data must be followed by CRLF") {
  Rec sink;
  HttpParser parser(HTTP_REQUEST, sink, 65536);
  CHECK(parser.execute("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n")
            .status == ParseStatus::kError);
}

// a request with Connection: Upgrade + Upgrade (or CONNECT) poisons the connection.
TEST_CASE("an ignored Upgrade leaves the connection usable") {
  Rec sink;
  HttpParser parser(HTTP_REQUEST, sink, 65536);
  const ParseOutcome outcome = parser.execute(
      "GET /up HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
  CHECK(outcome.status == ParseStatus::kOk);
  CHECK(sink.heads.size() == 2);

  ServerHarness h;
  h.handler.on_request = echo;
  const std::string expected = simpleOk("GET /up") + simpleOk("GET /next");
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("GET", "/up", "Connection: Upgrade\r\nUpgrade: h2c\r\n") +
               request("GET", "/next"));
      },
      untilReceived(h, expected.size()));
  CHECK(h.run() == 0);
  CHECK(client.received == expected);
}


TEST_CASE("the last request allowed on a connection is answered with Connection: close") {
  ServerLimits limits;
  limits.max_requests_per_connection = 2;
  ServerHarness h(limits);
  std::vector<std::string> handled;
  h.handler.on_request = [&](Request& r, ClientConnection& c) {
    handled.push_back(r.head.target);
    return echo(r, c);
  };
  // Three pipelined: the second answer closes, the third request is never read.
  TestClient& client = h.connectClient(
      [](TestClient& c) {
        c.send(request("GET", "/1") + request("GET", "/2") + request("GET", "/3"));
      },
      untilEnd(h));
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  CHECK(handled == std::vector<std::string>{"/1", "/2"});
  CHECK(h.handler.ended == 2);
  CHECK(client.received == simpleOk("GET /1") + simpleOk("GET /2", "Connection: close\r\n"));
  CHECK(client.eof);
}

TEST_CASE("beyond max_connections a new connection gets 503 and the ones in service carry on") {
  ServerLimits limits;
  limits.max_connections = 1;
  ServerHarness h(limits);
  h.handler.on_request = [&](Request& r, ClientConnection& c) { return echo(r, c); };
  bool second_done = false;
  TestClient* first = nullptr;
  TestClient* second = nullptr;
  first = &h.connectClient(
      [&](TestClient&) {
        // Only once the first is in service does the second connect.
        second = &h.connectClient([](TestClient&) {}, [&](TestClient& c) {
          if (c.eof || c.read_error != 0) {
            second_done = true;
            first->send(request("GET", "/still-served"));
          }
        });
      },
      [&](TestClient& c) {
        if (c.received.size() >= simpleOk("GET /still-served").size() || c.eof) {
          h.teardown();
        }
      });
  CHECK(h.run() == 0);
  CHECK_FALSE(h.timed_out);
  REQUIRE(second != nullptr);
  CHECK(second_done);
  checkRefusal(*second, "HTTP/1.1 503 Service Unavailable");
  CHECK(second->received.find("\r\nRetry-After: 1\r\n") != std::string::npos);
  CHECK(first->received == simpleOk("GET /still-served"));
}

} // namespace
} // namespace bulwark
