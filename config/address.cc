#include "config/address.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace bulwark::config {
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

// Characters a host name, an IPv4 address or (inside brackets) an IPv6 address with a zone
// may hold; anything else (spaces, '/', '@') is a typo or an attempt at something else.
bool validHostCharacters(std::string_view host, bool bracketed) {
  return std::all_of(host.begin(), host.end(), [bracketed](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           (bracketed && (c == ':' || c == '%'));
  });
}

} // namespace

std::string HostPort::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HostPort> parseHostPort(std::string_view text, std::string& error) {
  HostPort result;
  std::string_view port_text;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
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
  if (!validHostCharacters(result.host, bracketed)) {
    error = "invalid host '" + result.host + "' in '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (!parsePort(port_text, result.port)) {
    error = "invalid port '" + std::string(port_text) + "' in '" + std::string(text) + "'";
    return std::nullopt;
  }
  return result;
}

bool UpstreamUrl::hasRootPath() const { return path.substr(0, path.find('?')) == "/"; }

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
  std::string_view path =
      slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  std::string rooted; // "http://h?x=1" means the path "/" with a query
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
    const bool bracketed = !host.empty() && host.front() == '[';
    if (bracketed) {
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
    if (!validHostCharacters(host, bracketed)) {
      error = "upstream URL has an invalid host (got '" + std::string(text) + "')";
      return std::nullopt;
    }
    url.origin = {std::string(host), 80};
  }
  url.text = std::string(text);
  url.path = std::string(path);
  url.host_header = std::string(authority);
  return url;
}

std::optional<std::string> rootPathWarning(const UpstreamUrl& url) {
  if (!url.hasRootPath()) {
    return std::nullopt;
  }
  return "upstream URL " + url.text +
         " has no path: Bulwark treats only requests to / as MCP and passes every other path "
         "through without retries, cache or fallback; MCP servers usually serve /mcp, so write "
         "http://" +
         url.host_header + "/mcp (keep / only if the server's MCP endpoint really is /)";
}

} // namespace bulwark::config
