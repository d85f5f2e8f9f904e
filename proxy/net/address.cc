#include "proxy/net/address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>

namespace bulwark {
namespace {

bool parsePort(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::optional<HostPort> parseHostPort(std::string_view text, std::string& error) {
  HostPort result;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "expected [IPV6]:PORT, got '" + std::string(text) + "'";
      return std::nullopt;
    }
    result.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      error = "expected HOST:PORT, got '" + std::string(text) + "'";
      return std::nullopt;
    }
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (result.host.empty()) {
    error = "missing host in '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (!parsePort(port_text, result.port)) {
    error = "invalid port '" + std::string(port_text) + "' in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return result;
}

std::optional<UpstreamUrl> parseUpstreamUrl(std::string_view text, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  bool scheme_ok = text.size() >= kScheme.size();
  for (std::size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    scheme_ok = lower(text[i]) == kScheme[i];
  }
  if (!scheme_ok) {
    error = "upstream URL must start with http:// (got '" + std::string(text) + "')";
    return std::nullopt;
  }
  std::string_view rest = text.substr(kScheme.size());
  const auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  std::string rooted;  // "http://h?x=1" means the path "/" with a query
  if (!path.empty() && path.front() == '?') {
    rooted = "/" + std::string(path);
    path = rooted;
  } else if (!path.empty() && path.front() == '#') {
    path = "/";
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "upstream URL must not carry credentials";
    return std::nullopt;
  }
  if (const auto fragment = path.find('#'); fragment != std::string_view::npos) {
    path = path.substr(0, fragment);
  }
  if (path.empty() || path.front() != '/') {
    error = "upstream URL path must start with '/' (got '" + std::string(text) + "')";
    return std::nullopt;
  }
  UpstreamUrl url;
  const bool has_port = authority.size() > 0 && authority.back() != ']' &&
                        authority.rfind(':') != std::string_view::npos;
  if (has_port) {
    auto origin = parseHostPort(authority, error);
    if (!origin) {
      error = "upstream URL: " + error;
      return std::nullopt;
    }
    url.origin = *origin;
  } else {
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
      if (host.size() < 3 || host.back() != ']') {
        error = "upstream URL has a malformed IPv6 host (got '" + std::string(text) + "')";
        return std::nullopt;
      }
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
      error = "upstream URL has no host (got '" + std::string(text) + "')";
      return std::nullopt;
    }
    url.origin = {std::string(host), 80};
  }
  url.path = std::string(path);
  url.host_header = std::string(authority);
  return url;
}

std::optional<ResolvedAddress> resolveHostPort(const HostPort& where, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(where.port);
  const int rc = ::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    error = "cannot resolve '" + where.host + "': " + ::gai_strerror(rc);
    return std::nullopt;
  }
  ResolvedAddress address;
  std::memcpy(&address.storage, found->ai_addr, found->ai_addrlen);
  address.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return address;
}

std::string formatAddress(const sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  return "unknown";
}

}  // namespace bulwark
