#include "proxy/http/request_gate.h"

#include <algorithm>
#include <cctype>

#include "proxy/http/headers.h"
#include "proxy/http/limit_report.h"
#include "proxy/mcp/json_rpc_errors.h"

namespace bulwark {
namespace {

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "host", "host:port", "[v6]", "[v6]:port" without the port.
std::string_view withoutPort(std::string_view value) {
  const std::size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) {
    return value;
  }
  const std::size_t bracket = value.rfind(']');
  if (bracket != std::string_view::npos && bracket > colon) {
    return value;  // "[::1]": the colons are the address's
  }
  const std::string_view port = value.substr(colon + 1);
  const bool numeric = !port.empty() && std::all_of(port.begin(), port.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  return numeric ? value.substr(0, colon) : value;
}

constexpr std::string_view kLoopbackNames[] = {"localhost", "127.0.0.1", "[::1]"};

}  // namespace

Allowlist::Allowlist(std::vector<std::string> patterns) {
  for (const std::string& pattern : patterns) {
    allow_all_ = allow_all_ || pattern == "*";
    patterns_.push_back(lowered(pattern));
  }
}

bool Allowlist::allows(std::string_view value) const {
  if (allow_all_) {
    return true;
  }
  // Patterns are stored lowered; the value is compared without making a lowered copy of it.
  const std::string_view host = withoutPort(value);
  for (const std::string& pattern : patterns_) {
    if (equalsIgnoreCase(value, pattern)) {
      return true;
    }
    const std::string_view host_pattern = std::string_view(pattern).substr(0, pattern.size() - 2);
    if (pattern.ends_with(":*") && equalsIgnoreCase(host, host_pattern)) {
      return true;
    }
  }
  return false;
}

bool isLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

std::vector<std::string> defaultAllowedHosts(bool loopback_listener) {
  if (!loopback_listener) {
    return {"*"};
  }
  std::vector<std::string> out;
  for (std::string_view name : kLoopbackNames) {
    out.push_back(std::string(name) + ":*");
  }
  return out;
}

std::vector<std::string> defaultAllowedOrigins(bool loopback_listener) {
  if (!loopback_listener) {
    return {"*"};
  }
  std::vector<std::string> out;
  for (std::string_view scheme : {"http://", "https://"}) {
    for (std::string_view name : kLoopbackNames) {
      out.push_back(std::string(scheme) + std::string(name) + ":*");
    }
  }
  return out;
}

RequestGate::RequestGate(RequestHandler& next, Metrics& metrics, const ServerLimits& limits,
                         bool loopback_listener)
    : next_(next), metrics_(metrics), limits_(limits), loopback_listener_(loopback_listener),
      hosts_(defaultAllowedHosts(loopback_listener)),
      origins_(defaultAllowedOrigins(loopback_listener)) {}

void RequestGate::configure(const config::SecurityConfig& security) {
  hosts_ = Allowlist(security.allowed_hosts ? *security.allowed_hosts
                                            : defaultAllowedHosts(loopback_listener_));
  origins_ = Allowlist(security.allowed_origins ? *security.allowed_origins
                                                : defaultAllowedOrigins(loopback_listener_));
}

ClientStream* RequestGate::handle(Request& request, ClientConnection& connection) {
  const HeaderList& headers = request.head.headers;
  if (!hosts_.allowsAll()) {
    const HeaderField* host = findHeader(headers, "host");
    if (host == nullptr || !hosts_.allows(host->value)) {
      refuse(connection, 403, "host", "Host not allowed",
             host == nullptr ? "the request has no Host field"
                             : "the Host field names a host this server does not answer for "
                               "(security.allowed_hosts)",
             "permission");
      return nullptr;
    }
  }
  // A request without Origin does not come from a browser page, which DNS rebinding needs.
  if (const HeaderField* origin = findHeader(headers, "origin");
      origin != nullptr && !origins_.allows(origin->value)) {
    refuse(connection, 403, "origin", "Origin not allowed",
           "the Origin field is not in security.allowed_origins", "permission");
    return nullptr;
  }
  if (request.head.method != "GET") {
    return next_.handle(request, connection);
  }
  const HeaderField* session = findHeader(headers, "mcp-session-id");
  if (session == nullptr) {
    return next_.handle(request, connection);
  }
  std::size_t& open = streams_per_session_[session->value];
  if (open >= limits_.max_streams_per_session) {
    refuse(connection, 429, "streams_per_session", "Too many streams for this session",
           "the session already holds " + std::to_string(open) +
               " GET streams (limits.max_streams_per_session)",
           "overload");
    return nullptr;
  }
  ++open;
  stream_sessions_.emplace(&connection, session->value);
  return next_.handle(request, connection);
}

void RequestGate::requestEnded(ClientConnection& connection) {
  next_.requestEnded(connection);
  const auto held = stream_sessions_.find(&connection);
  if (held == stream_sessions_.end()) {
    return;
  }
  const auto count = streams_per_session_.find(held->second);
  if (count != streams_per_session_.end() && --count->second == 0) {
    streams_per_session_.erase(count);
  }
  stream_sessions_.erase(held);
}

void RequestGate::refuse(ClientConnection& connection, int status, std::string_view limit,
                         std::string_view message, std::string_view detail,
                         std::string_view error_class) {
  const std::string peer = connection.peerAddress();
  reportLimitHit(&metrics_, {"data", limit, status, detail, peer});
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{jsonrpc::kInvalidRequest, message, detail, error_class, 0, {}});
  connection.sendSimpleResponse(status, "application/json", body);
}

}  // namespace bulwark
