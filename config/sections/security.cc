// `security`: the Host and Origin patterns served (DNS-rebinding protection).
#include "config/sections/sections.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace bulwark::config {
namespace {

// A host name, an IPv4 address or a bracketed IPv6 address, without a port.
bool validHostName(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    return std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// "*", or a host with an optional :port or :* (any port).
bool validHostPattern(std::string_view pattern) {
  if (pattern == "*") {
    return true;
  }
  if (pattern.ends_with(":*")) {
    return validHostName(pattern.substr(0, pattern.size() - 2));
  }
  std::string unused;
  return validHostName(pattern) || parseHostPort(pattern, unused).has_value();
}

// "*", or http(s)://host with an optional :port or :* (any port), no path.
bool validOriginPattern(std::string_view pattern) {
  if (pattern == "*") {
    return true;
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    if (pattern.starts_with(scheme)) {
      const std::string_view rest = pattern.substr(scheme.size());
      return rest != "*" && validHostPattern(rest);
    }
  }
  return false;
}

std::optional<std::vector<std::string>> readPatternList(Reader& reader, const Field& f,
                                                        bool (*valid)(std::string_view),
                                                        std::string_view example) {
  if (f.empty()) {
    reader.error(f.valueLoc(), f.path, "expected a list such as " + std::string(example));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const Field& e : reader.elements(f, "patterns")) {
    auto text = reader.nonEmptyString(e);
    if (!text) {
      ok = false;
    } else if (!valid(*text)) {
      reader.error(e.valueLoc(), e.path,
                   "invalid pattern " + quoted(*text) + " (examples: " + std::string(example) +
                       ")");
      ok = false;
    } else {
      out.push_back(*text);
    }
  }
  if (!ok || !f.value.IsSequence()) {
    return std::nullopt;
  }
  return out;
}

constexpr std::string_view kOriginExamples =
    "[\"https://app.example.com\", \"http://localhost:*\", \"*\"]";
constexpr std::string_view kHostExamples = "[\"mcp.example.com\", \"localhost:*\", \"*\"]";

constexpr auto kSecurityKeys = std::to_array<Key<SecurityConfig>>({
    {"allowed_origins", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SecurityConfig& c) {
       c.allowed_origins = readPatternList(reader, f, &validOriginPattern, kOriginExamples);
     }},
    {"allowed_hosts", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SecurityConfig& c) {
       c.allowed_hosts = readPatternList(reader, f, &validHostPattern, kHostExamples);
     }},
});

} // namespace

void readSecurity(Reader& reader, const Field& f, SecurityConfig& out) {
  readKeys<SecurityConfig>(reader, f, kSecurityKeys, out);
}

void appendSecurityKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<SecurityConfig>(out, "security.", kSecurityKeys);
}

} // namespace bulwark::config
