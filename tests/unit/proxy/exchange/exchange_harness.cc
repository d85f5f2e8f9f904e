#include "tests/unit/proxy/exchange/exchange_harness.h"

#include <cstdlib>

#include "proxy/http/status_text.h"
#include "proxy/net/address.h"

namespace bulwark::testing {
namespace {

void allocate(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  static char storage[64 * 1024];
  *buf = uv_buf_init(storage, sizeof storage);
}

// Where the head of `bytes` ends and how long its body is, or npos while incomplete.
std::size_t requestEnd(const std::string& bytes) {
  const std::size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return std::string::npos;
  }
  std::size_t length = 0;
  std::size_t at = bytes.find("Content-Length: ");
  if (at == std::string::npos) {
    at = bytes.find("content-length: ");
  }
  if (at != std::string::npos && at < head_end) {
    length = std::strtoul(bytes.c_str() + at + 16, nullptr, 10);
  }
  const std::size_t end = head_end + 4 + length;
  return bytes.size() >= end ? end : std::string::npos;
}

}  // namespace

std::string httpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_header_lines) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(statusText(status)) + "\r\n";
  if (!content_type.empty()) {
    out += "Content-Type: " + std::string(content_type) + "\r\n";
  }
  out += extra_header_lines;
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

std::string sseResponse(std::string_view events) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
  out += events;
  return out;
}

struct ScriptedUpstream::Connection {
  uv_tcp_t socket{};
  ScriptedUpstream* owner = nullptr;
  std::string input;
  std::string output;  // kept alive until its write completes
  uv_write_t write{};
  bool closing = false;

  void close() {
    if (closing) {
      return;
    }
    closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket), nullptr);
  }
};

ScriptedUpstream::ScriptedUpstream(uv_loop_t* loop, std::deque<UpstreamStep> script)
    : loop_(loop), script_(std::move(script)) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  sockaddr_in address{};
  uv_ip4_addr("127.0.0.1", 0, &address);
  uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0);
  int length = sizeof address;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, &ScriptedUpstream::onConnection);
}

ScriptedUpstream::~ScriptedUpstream() { close(); }

std::string ScriptedUpstream::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/mcp";
}

void ScriptedUpstream::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  for (auto& connection : connections_) {
    connection->close();
  }
}

void ScriptedUpstream::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ScriptedUpstream*>(server->data);
  if (status != 0 || self->closed_) {
    return;
  }
  auto connection = std::make_unique<Connection>();
  connection->owner = self;
  uv_tcp_init(self->loop_, &connection->socket);
  connection->socket.data = connection.get();
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&connection->socket)) != 0) {
    connection->close();
    self->connections_.push_back(std::move(connection));
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&connection->socket), &allocate,
                [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
                  auto* c = static_cast<Connection*>(stream->data);
                  if (nread < 0) {
                    c->close();
                    return;
                  }
                  c->input.append(buf->base, static_cast<std::size_t>(nread));
                  const std::size_t end = requestEnd(c->input);
                  if (end != std::string::npos) {
                    std::string request = c->input.substr(0, end);
                    c->input.erase(0, end);
                    c->owner->onRequest(*c, std::move(request));
                  }
                });
  self->connections_.push_back(std::move(connection));
}

void ScriptedUpstream::onRequest(Connection& connection, std::string request) {
  ++requests_seen_;
  requests_.push_back(std::move(request));
  if (script_.empty()) {
    connection.close();
    return;
  }
  UpstreamStep step = std::move(script_.front());
  script_.pop_front();
  if (step.before) {
    step.before();
  }
  switch (step.kind) {
  case UpstreamStep::Kind::kReset:
    uv_tcp_close_reset(&connection.socket, nullptr);
    connection.closing = true;
    return;
  case UpstreamStep::Kind::kNeverAnswer:
    return;
  case UpstreamStep::Kind::kRespond: {
    connection.output = std::move(step.bytes);
    const bool close_after = connection.output.find("Connection: close") != std::string::npos;
    uv_buf_t buf = uv_buf_init(connection.output.data(),
                               static_cast<unsigned>(connection.output.size()));
    connection.write.data = close_after ? &connection : nullptr;
    uv_write(&connection.write, reinterpret_cast<uv_stream_t*>(&connection.socket), &buf, 1,
             [](uv_write_t* write, int) {
               if (write->data != nullptr) {
                 static_cast<Connection*>(write->data)->close();
               }
             });
    return;
  }
  }
}

OneRequestClient::OneRequestClient(uv_loop_t* loop, const std::string& address,
                                   std::string request)
    : request_(std::move(request)) {
  std::string error;
  const auto host_port = parseHostPort(address, error);
  sockaddr_in target{};
  uv_ip4_addr("127.0.0.1", host_port ? host_port->port : 0, &target);
  uv_tcp_init(loop, &socket_);
  socket_.data = this;
  connect_.data = this;
  if (uv_tcp_connect(&connect_, &socket_, reinterpret_cast<const sockaddr*>(&target),
                     &OneRequestClient::onConnect) != 0) {
    done_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket_), nullptr);
  }
}

void OneRequestClient::onConnect(uv_connect_t* request, int status) {
  auto* self = static_cast<OneRequestClient*>(request->data);
  if (status != 0) {
    self->done_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&self->socket_), nullptr);
    return;
  }
  uv_buf_t buf = uv_buf_init(self->request_.data(), static_cast<unsigned>(self->request_.size()));
  uv_write(&self->write_, reinterpret_cast<uv_stream_t*>(&self->socket_), &buf, 1,
           [](uv_write_t*, int) {});
  uv_read_start(reinterpret_cast<uv_stream_t*>(&self->socket_), &allocate,
                [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* read) {
                  auto* client = static_cast<OneRequestClient*>(stream->data);
                  if (nread < 0) {
                    client->done_ = true;
                    uv_close(reinterpret_cast<uv_handle_t*>(stream), nullptr);
                    return;
                  }
                  client->response_.append(read->base, static_cast<std::size_t>(nread));
                });
}

std::string mcpPost(std::string_view body, std::string_view extra_header_lines) {
  std::string out = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Accept: application/json, text/event-stream\r\nConnection: close\r\n";
  out += extra_header_lines;
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

ExchangeBench::ExchangeBench(std::string_view config_yaml, std::deque<UpstreamStep> script) {
  uv_loop_init(&loop_);
  upstream_ = std::make_unique<ScriptedUpstream>(&loop_, std::move(script));
  config::ConfigLoadResult loaded = config::loadConfigString(config_yaml, "test.yaml");
  if (!loaded.ok()) {
    start_error_ = loaded.errorText();
    return;
  }
  ServerSettings settings;
  settings.listen = {"127.0.0.1", 0};
  settings.admin = {"127.0.0.1", 0};
  std::string error;
  settings.upstream = *parseUpstreamUrl(upstream_->url(), error);
  settings.runtime = std::make_shared<const RuntimeConfig>(std::move(*loaded.config));
  server_ = std::make_unique<Server>(&loop_);
  start_error_ = server_->start(settings);
}

ExchangeBench::~ExchangeBench() { closeCleanly(); }

std::string ExchangeBench::send(std::string request) {
  OneRequestClient client(&loop_, server_->dataAddress(), std::move(request));
  for (int turn = 0; turn < 100000 && !client.done(); ++turn) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  // The client's socket closes in the next turn.
  uv_run(&loop_, UV_RUN_NOWAIT);
  return client.response();
}

std::string ExchangeBench::metrics() {
  OneRequestClient client(&loop_, server_->adminAddress(),
                          "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  for (int turn = 0; turn < 100000 && !client.done(); ++turn) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  uv_run(&loop_, UV_RUN_NOWAIT);
  return client.response();
}

bool ExchangeBench::closeCleanly() {
  if (closed_) {
    return true;
  }
  closed_ = true;
  if (server_) {
    server_->shutdown();
  }
  upstream_->close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  server_.reset();
  upstream_.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);
  return uv_loop_close(&loop_) == 0;
}

}  // namespace bulwark::testing
