#include "tests/unit/proxy/exchange/exchange_bench.h"

#include "config/config.h"
#include "proxy/app/runtime_config.h"
#include "config/address.h"

namespace bulwark::testing {
namespace {

std::uint16_t portOf(const std::string& address) {
  std::string error;
  const auto host_port = config::parseHostPort(address, error);
  return host_port ? host_port->port : 0;
}

}  // namespace

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
  // The scripted upstream answers the requests in order, and the cases count them: Bulwark's own
  // tool listing at start would take the first replies.
  loaded.config->upstream.discovery.at_start = false;
  ServerSettings settings;
  settings.listen = {"127.0.0.1", 0};
  settings.admin = {"127.0.0.1", 0};
  std::string error;
  settings.upstream = *config::parseUpstreamUrl("http://" + upstream_->address() + "/mcp", error);
  settings.runtime = std::make_shared<const RuntimeConfig>(std::move(*loaded.config));
  server_ = std::make_unique<Server>(loop_.get());
  start_error_ = server_->start(settings);
}

ExchangeBench::~ExchangeBench() {
  if (!closed_) {
    close();
  }
}

std::unique_ptr<RawClient> ExchangeBench::begin(std::string request) {
  return std::make_unique<RawClient>(loop_.get(), portOf(server_->dataAddress()),
                                     std::move(request));
}

std::string ExchangeBench::send(std::string request) {
  const std::unique_ptr<RawClient> client = begin(std::move(request));
  loop_.runUntil([&] { return client->ended(); });
  return client->received();
}

std::string ExchangeBench::metrics() {
  RawClient client(loop_.get(), portOf(server_->adminAddress()),
                   "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  loop_.runUntil([&] { return client.ended(); });
  return client.received();
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
