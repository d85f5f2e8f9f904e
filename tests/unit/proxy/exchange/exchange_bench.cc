#include "tests/unit/proxy/exchange/exchange_bench.h"

#include "config/config.h"
#include "proxy/app/runtime_config.h"
#include "proxy/net/address.h"

namespace bulwark::testing {
namespace {

void allocate(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  static char storage[64 * 1024];
  *buf = uv_buf_init(storage, sizeof storage);
}

}  // namespace

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

std::string bodyOf(const std::string& response) {
  const std::size_t at = response.find("\r\n\r\n");
  if (at == std::string::npos) {
    return {};
  }
  if (response.substr(0, at).find("Transfer-Encoding: chunked") == std::string::npos) {
    return response.substr(at + 4);
  }
  std::string body;
  std::size_t next = at + 4;
  while (next < response.size()) {
    const std::size_t line_end = response.find("\r\n", next);
    if (line_end == std::string::npos) {
      break;
    }
    const std::size_t size = std::stoul(response.substr(next, line_end - next), nullptr, 16);
    if (size == 0) {
      break;
    }
    body += response.substr(line_end + 2, size);
    next = line_end + 2 + size + 2;
  }
  return body;
}

double familyTotal(const std::string& metrics, std::string_view family) {
  double total = 0;
  std::size_t at = 0;
  while ((at = metrics.find(family, at)) != std::string::npos) {
    const char after = at + family.size() < metrics.size() ? metrics[at + family.size()] : '\n';
    if ((at == 0 || metrics[at - 1] == '\n') && (after == '{' || after == ' ')) {
      const std::size_t end = metrics.find('\n', at);
      const std::size_t space = metrics.rfind(' ', end);
      total += std::stod(metrics.substr(space + 1, end - space - 1));
    }
    at += family.size();
  }
  return total;
}

double seriesValue(const std::string& metrics, std::string_view series) {
  std::size_t at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    if ((at == 0 || metrics[at - 1] == '\n') && metrics[at + series.size()] == ' ') {
      const std::size_t end = metrics.find('\n', at);
      const std::size_t space = at + series.size();
      return std::stod(metrics.substr(space + 1, end - space - 1));
    }
    at += series.size();
  }
  return 0;
}

ExchangeBench::ExchangeBench(std::string_view config_yaml, std::vector<Reply> replies)
    : upstream_(std::make_unique<ScriptedUpstream>(loop_.get())) {
  for (Reply& reply : replies) {
    upstream_->push(std::move(reply));
  }
  config::ConfigLoadResult loaded = config::loadConfigString(config_yaml, "test.yaml");
  if (!loaded.ok()) {
    start_error_ = loaded.errorText();
    return;
  }
  ServerSettings settings;
  settings.listen = {"127.0.0.1", 0};
  settings.admin = {"127.0.0.1", 0};
  std::string error;
  settings.upstream = *parseUpstreamUrl("http://" + upstream_->address() + "/mcp", error);
  settings.runtime = std::make_shared<const RuntimeConfig>(std::move(*loaded.config));
  server_ = std::make_unique<Server>(loop_.get());
  start_error_ = server_->start(settings);
}

ExchangeBench::~ExchangeBench() {
  if (!closed_) {
    close();
  }
}

std::unique_ptr<OneRequestClient> ExchangeBench::begin(std::string request) {
  return std::make_unique<OneRequestClient>(loop_.get(), server_->dataAddress(),
                                            std::move(request));
}

std::string ExchangeBench::send(std::string request) {
  const std::unique_ptr<OneRequestClient> client = begin(std::move(request));
  loop_.runUntil([&] { return client->done(); });
  loop_.runUntil([] { return false; }, std::chrono::milliseconds(1));  // its close callback
  return client->response();
}

std::string ExchangeBench::metrics() {
  OneRequestClient client(loop_.get(), server_->adminAddress(),
                          "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  loop_.runUntil([&] { return client.done(); });
  loop_.runUntil([] { return false; }, std::chrono::milliseconds(1));
  return client.response();
}

int ExchangeBench::close() {
  closed_ = true;
  if (server_) {
    server_->shutdown();
  }
  upstream_->close();
  loop_.runToEnd();
  server_.reset();
  upstream_.reset();
  return loop_.close();
}

}  // namespace bulwark::testing
