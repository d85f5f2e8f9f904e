// Listen addresses (HOST:PORT) and upstream URLs (http://HOST[:PORT]/PATH), parsed and resolved.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

struct HostPort {
  std::string host;  // without IPv6 brackets
  std::uint16_t port = 0;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:0". Returns nullopt and sets `error` otherwise.
std::optional<HostPort> parseHostPort(std::string_view text, std::string& error);

struct UpstreamUrl {
  HostPort origin;
  std::string path;         // the MCP endpoint, e.g. "/mcp"; "/" when the URL has none
  std::string host_header;  // "host:port" as the Host header of a direct request would carry
};

// Only plain http:// is accepted: the sidecar reaches its server over loopback.
std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string& error);

struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Resolves synchronously (getaddrinfo). Used at start-up only, before the loop runs.
std::optional<ResolvedAddress> resolveHostPort(const HostPort& where, std::string& error);

// "127.0.0.1:8080" or "[::1]:8080" of a bound or peer address.
std::string formatAddress(const sockaddr* address);

}  // namespace bulwark
