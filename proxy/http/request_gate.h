// Admission checks in front of the data plane's handler, before any byte reaches the upstream:
// the Host and Origin allowlists (the MCP spec's DNS-rebinding protection, which many servers
// lack) and the number of GET streams open at once per MCP session.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "proxy/http/client_connection.h"

namespace bulwark {

class Metrics;

// An allowlist of Host or Origin values. Patterns: "*" (anything), an exact value
// ("https://app.example.com", "mcp.example.com:8443"), or a value ending in ":*" (that host
// with any port or none). Case-insensitive, as host names and schemes are.
class Allowlist {
public:
  explicit Allowlist(std::vector<std::string> patterns = {"*"});
  bool allows(std::string_view value) const;
  bool allowsAll() const { return allow_all_; }

private:
  std::vector<std::string> patterns_;
  bool allow_all_ = false;
};

// The lists used when the configuration names none: loopback names only when the listener is on
// a loopback address (a local server is what DNS rebinding attacks), else anything.
std::vector<std::string> defaultAllowedHosts(bool loopback_listener);
std::vector<std::string> defaultAllowedOrigins(bool loopback_listener);
// "127.0.0.1", "::1", "localhost" and the rest of 127.0.0.0/8.
bool isLoopbackHost(std::string_view host);

class RequestGate final : public RequestHandler {
public:
  RequestGate(RequestHandler& next, Metrics& metrics, const ServerLimits& limits,
              bool loopback_listener);

  // Puts `security` in force for the requests that arrive from now on (start and reload).
  void configure(const config::SecurityConfig& security);

  ClientStream* handle(Request& request, ClientConnection& connection) override;
  void requestEnded(ClientConnection& connection) override;

private:
  void refuse(ClientConnection& connection, int status, std::string_view limit,
              std::string_view message, std::string_view detail, std::string_view error_class);

  RequestHandler& next_;
  Metrics& metrics_;
  const ServerLimits& limits_;
  bool loopback_listener_;
  Allowlist hosts_;
  Allowlist origins_;
  // Open GET streams per Mcp-Session-Id value, and which connection holds which.
  std::unordered_map<std::string, std::size_t> streams_per_session_;
  std::unordered_map<ClientConnection*, std::string> stream_sessions_;
};

}  // namespace bulwark
