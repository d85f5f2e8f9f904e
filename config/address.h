// Listen addresses (HOST:PORT) and upstream URLs (http://HOST[:PORT]/PATH) as typed values,
// parsed once: by the config loader (errors at file:line:column:key) and for the command-line
// flags --listen, --admin and --upstream. Pure: no sockets, no name resolution (proxy/net does
// that with resolveHostPort).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark::config {

struct HostPort {
  std::string host; // without IPv6 brackets
  std::uint16_t port = 0;

  // "127.0.0.1:8080", "[::1]:8080": the form parseHostPort reads back.
  std::string text() const;
  bool operator==(const HostPort&) const = default;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:0". The host is a name, an IPv4 address or a
// bracketed IPv6 address (letters, digits, '.', '-', '_'; ':' and '%' inside brackets). Returns
// nullopt and sets `error` (a sentence naming the text) otherwise.
std::optional<HostPort> parseHostPort(std::string_view text, std::string& error);

struct UpstreamUrl {
  std::string text; // as the user wrote it (logs, --check-config)
  HostPort origin;  // port 80 when the URL has none
  std::string path; // the MCP endpoint with its query, e.g. "/mcp"; "/" when the URL has none
  std::string host_header; // "host:port" as the Host header of a direct request would carry

  // True when the URL names no endpoint ("http://h:3000" or "http://h:3000/"): MCP servers serve
  // /mcp, so every client request would then miss the MCP path and pass through unjudged.
  bool hasRootPath() const;
  bool operator==(const UpstreamUrl&) const = default;
};

// Only plain http:// is accepted: the sidecar reaches its server over loopback. Returns nullopt
// and sets `error` otherwise.
std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string& error);

// The start-up warning for an upstream URL without an MCP path (see config/README.md), or
// nullopt when the path is set.
std::optional<std::string> rootPathWarning(const UpstreamUrl& url);

} // namespace bulwark::config
