#include "proxy/http/request_target.h"

#include <cstdint>

#include "proxy/http/headers.h"

namespace bulwark {
namespace {

// What a lenient server might do to a path that the RFC 3986 normalisation does not: one bit
// each, so that the refusal can say which one made the target ambiguous.
enum Leniency : std::uint32_t {
  kFragment = 1U << 0,
  kControl = 1U << 1,
  kDoubleEncoded = 1U << 2,
  kEncodedReserved = 1U << 3,
  kBackslash = 1U << 4,
  kParameters = 1U << 5,
  kRepeatedSlash = 1U << 6,
};

// In the order a refusal names them when several apply.
struct LeniencyReason {
  Leniency leniency;
  std::string_view reason;
};
constexpr LeniencyReason kLeniencyReasons[] = {
    {kFragment, "the request-target for the MCP path has a fragment (#)"},
    {kControl, "the MCP path is spelled with a control character (e.g. %00)"},
    {kDoubleEncoded, "the MCP path is spelled with a percent-encoded percent sign (e.g. %256d)"},
    {kEncodedReserved,
     "the MCP path is spelled with a percent-encoded character that is not unreserved "
     "(e.g. %2F, %3B, %5C)"},
    {kBackslash, "the MCP path is spelled with a backslash"},
    {kParameters, "the MCP path is spelled with path parameters (;)"},
    {kRepeatedSlash, "the MCP path is spelled with repeated slashes"},
};
constexpr std::string_view kCaseReason =
    "the path differs from the MCP path in letter case (paths are case-sensitive)";
constexpr std::string_view kAmbiguousReason = "the path is an ambiguous spelling of the MCP path";

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// The byte a "%HH" at `at` encodes, or -1 when there is none there.
int percentDecodedAt(std::string_view text, std::size_t at) {
  if (text[at] != '%' || at + 2 >= text.size()) {
    return -1;
  }
  const int high = hexValue(text[at + 1]);
  const int low = hexValue(text[at + 2]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

// RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
bool isUnreserved(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 5.2.4 on an absolute path, segment by segment: "." goes, ".." takes the segment
// before it; either one as the last segment leaves a trailing slash.
void appendWithoutDotSegments(std::string& out, std::string_view path) {
  const std::size_t base = out.size();
  std::size_t at = path.empty() ? 0 : 1;  // past the leading "/"
  while (at <= path.size()) {
    std::size_t end = path.find('/', at);
    const bool last = end == std::string_view::npos;
    end = last ? path.size() : end;
    const std::string_view segment = path.substr(at, end - at);
    if (segment == "." || segment == "..") {
      if (segment == ".." && out.size() > base) {
        out.resize(out.rfind('/'));
      }
      if (last) {
        out.push_back('/');
      }
    } else {
      out.push_back('/');
      out.append(segment);
    }
    at = end + 1;
  }
  if (out.size() == base) {
    out.push_back('/');
  }
}

// Tier 1 form: normalised, then without one trailing slash after a non-empty last segment ("/"
// stays, "//" stays: an empty segment is not a trailing slash).
std::string canonicalPath(std::string_view path) {
  std::string out = normalizedPath(path);
  if (out.size() > 1 && out.back() == '/' && out[out.size() - 2] != '/') {
    out.pop_back();
  }
  return out;
}

// Tier 2 form: `path` as the most lenient server would route it (case kept), with the
// leniencies that were needed in `used`.
std::string lenientPath(std::string_view path, std::uint32_t& used) {
  std::string text(path);
  for (int round = 0; round < 3; ++round) {
    std::string decoded;
    bool changed = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const int c = percentDecodedAt(text, i);
      if (c < 0) {
        decoded.push_back(text[i]);
        continue;
      }
      used |= round > 0 ? kDoubleEncoded : isUnreserved(c) ? 0U : kEncodedReserved;
      decoded.push_back(static_cast<char>(c));
      changed = true;
      i += 2;
    }
    if (!changed) {
      break;
    }
    text = std::move(decoded);
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      used |= kControl;
      text.resize(i);
      break;
    }
    if (c == '?' || c == '#') {  // decoded from %3F or %23, already counted
      text.resize(i);
      break;
    }
    if (c == '\\') {
      used |= kBackslash;
      text[i] = '/';
    }
  }
  std::string out;
  std::size_t at = text.starts_with('/') ? 1 : 0;
  while (at <= text.size()) {
    std::size_t end = text.find('/', at);
    const bool last = end == std::string::npos;
    end = last ? text.size() : end;
    std::string_view segment = std::string_view(text).substr(at, end - at);
    at = end + 1;
    if (const std::size_t semicolon = segment.find(';'); semicolon != std::string_view::npos) {
      used |= kParameters;
      segment = segment.substr(0, semicolon);
    }
    if (segment.empty()) {
      used |= last ? 0U : kRepeatedSlash;
    } else if (segment == "..") {
      out.resize(out.empty() ? 0 : out.rfind('/'));
    } else if (segment != ".") {
      out.push_back('/');
      out.append(segment);
    }
  }
  if (out.empty()) {
    out.push_back('/');
  }
  return out;
}

// Why `path` (the path of a target that is not the MCP endpoint) is refused, or empty when it is
// simply another path.
std::string_view whyAmbiguous(std::string_view path, std::string_view mcp_path,
                              std::uint32_t used) {
  std::uint32_t ignored = 0;
  const std::string lenient_mcp = lenientPath(mcp_path, ignored);
  const std::string lenient = lenientPath(path, used);
  const bool same = lenient == lenient_mcp;
  if (!same && !equalsIgnoreCase(lenient, lenient_mcp)) {
    return {};
  }
  for (const LeniencyReason& entry : kLeniencyReasons) {
    if ((used & entry.leniency) != 0) {
      return entry.reason;
    }
  }
  return same ? kAmbiguousReason : kCaseReason;
}

// An authority or Host value without a default or empty port, for comparing the two.
std::string_view withoutDefaultPort(std::string_view authority, bool https) {
  const std::string_view default_port = https ? ":443" : ":80";
  if (authority.ends_with(default_port)) {
    authority.remove_suffix(default_port.size());
  } else if (authority.ends_with(':')) {
    authority.remove_suffix(1);
  }
  return authority;
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool isScheme(std::string_view text) {
  if (text.empty() || !isAlpha(text[0])) {
    return false;
  }
  for (const char c : text) {
    if (!isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

TargetVerdict refused(std::string_view reason) {
  return {TargetClass::kRefused, {}, reason};
}

}  // namespace

std::string normalizedPath(std::string_view path) {
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const int c = percentDecodedAt(path, i);
    if (c < 0) {
      decoded.push_back(path[i]);
    } else if (isUnreserved(c)) {
      decoded.push_back(static_cast<char>(c));
      i += 2;
    } else {
      constexpr char kHex[] = "0123456789ABCDEF";
      decoded.push_back('%');
      decoded.push_back(kHex[c / 16]);
      decoded.push_back(kHex[c % 16]);
      i += 2;
    }
  }
  std::string out;
  out.reserve(decoded.size());
  appendWithoutDotSegments(out, decoded);
  return out;
}

TargetVerdict classifyRequestTarget(std::string_view target, std::string_view mcp_path,
                                    std::string_view host) {
  if (mcp_path.empty()) {
    mcp_path = "/";
  }
  // The request path of nearly every request: the MCP path as configured, maybe with a query.
  if (target.starts_with(mcp_path) &&
      (target.size() == mcp_path.size() || target[mcp_path.size()] == '?')) {
    return {TargetClass::kMcpEndpoint, {}, {}};
  }
  if (target == "*") {
    return {};  // OPTIONS * (asterisk-form) names the server, not a path
  }
  std::string_view rest = target;  // from the path on
  if (!target.starts_with('/')) {
    const std::size_t colon = target.find(':');
    if (colon == std::string_view::npos || !isScheme(target.substr(0, colon)) ||
        !target.substr(colon + 1).starts_with("//")) {
      return refused("the request-target is neither origin-form (/path) nor absolute-form "
                     "(http://host/path)");
    }
    const std::string_view scheme = target.substr(0, colon);
    const bool https = equalsIgnoreCase(scheme, "https");
    if (!https && !equalsIgnoreCase(scheme, "http")) {
      return refused("the absolute-form request-target has a scheme other than http or https");
    }
    const std::size_t authority_at = colon + 3;
    const std::size_t authority_end = target.find_first_of("/?#", authority_at);
    const std::string_view authority = target.substr(authority_at, authority_end - authority_at);
    if (authority.find('@') != std::string_view::npos) {
      return refused("the absolute-form request-target has userinfo (user@host)");
    }
    if (authority.empty() || host.empty() ||
        !equalsIgnoreCase(withoutDefaultPort(authority, https), withoutDefaultPort(host, https))) {
      return refused("the authority of the absolute-form request-target is not the Host field");
    }
    rest = authority_end == std::string_view::npos ? std::string_view{}
                                                   : target.substr(authority_end);
  }
  const std::size_t path_end = rest.find_first_of("?#");
  const std::string_view path = rest.substr(0, path_end);
  const bool fragment = rest.find('#') != std::string_view::npos;
  const std::string_view query = path_end == std::string_view::npos || rest[path_end] == '#'
                                     ? std::string_view{}
                                     : rest.substr(path_end);
  // An absolute-form target with an empty path asks for "/" (RFC 9112 3.2.2).
  const std::string_view effective_path = path.empty() ? std::string_view("/") : path;
  if (!fragment && canonicalPath(effective_path) == canonicalPath(mcp_path)) {
    TargetVerdict verdict{TargetClass::kMcpEndpoint, std::string(mcp_path), {}};
    verdict.upstream_target.append(query);
    return verdict;
  }
  const std::string_view why = whyAmbiguous(effective_path, mcp_path, fragment ? kFragment : 0U);
  if (!why.empty()) {
    return refused(why);
  }
  return {};
}

}  // namespace bulwark
