// Which request-targets are the MCP endpoint. Only a request to the MCP path is judged (parsed,
// held to its policy); anything else streams through untouched. So every spelling that some
// server would route to its MCP handler must either be judged as the MCP path or be refused,
// and nothing forwarded as "another path" may be a variant of the MCP path.
//
// The rule, in three tiers (pure; no allocation when the target is the MCP path as configured):
// 1. The MCP endpoint: the target's path equals the configured path after RFC 3986 6.2.2
//    syntax-based normalisation (percent-encoded unreserved characters decoded, hex digits
//    upper-cased, dot segments removed) and without one trailing slash; in origin-form or in
//    absolute-form whose authority agrees with Host. Such a spelling means the same resource on
//    every server a client reaches, so it is judged, and the upstream gets the configured path
//    (plus the query) rather than the spelling.
// 2. Refused: the path is not that, yet a lenient server could still route it to the MCP handler:
//    it matches after decoding every percent-encoding (repeatedly), a backslash read as a slash,
//    path parameters (";...") cut, repeated slashes merged, trailing slashes dropped, a fragment or
//    a control character cutting the path, or ASCII case folded. Letter case is refused rather
//    than judged: RFC 3986 paths are case-sensitive and a client uses the path it was given, so a
//    case variant is a mistake or an evasion, and judging it would forward "/mcp" to a server that
//    would have answered "/MCP" with 404. Also refused, whatever the path: an absolute-form target
//    whose authority differs from Host (the Host allowlist reads Host, while RFC 9112 3.2.2 has
//    the server use the target's authority), userinfo in it, a scheme other than http(s), and a
//    target that is neither origin-, absolute- nor asterisk-form.
// 3. Another path: forwarded exactly as received.
#pragma once

#include <string>
#include <string_view>

namespace bulwark {

enum class TargetClass {
  kMcpEndpoint,  // judge it; send `upstream_target` when it is not empty
  kOtherPath,    // forward untouched
  kRefused,      // answer 400 with `reason`
};

struct TargetVerdict {
  TargetClass kind = TargetClass::kOtherPath;
  // kMcpEndpoint: what the upstream gets instead of the received target (the configured MCP
  // path and the received query) when the target was spelled otherwise; empty when the target
  // goes as it came.
  std::string upstream_target;
  // kRefused: what was wrong, for the client's error and the log (a static string).
  std::string_view reason;
};

// `target`: the request-target as received. `mcp_path`: the configured MCP path (the upstream
// URL's path, without query; empty means "/"). `host`: the Host field's value (empty if none),
// read only for an absolute-form target.
TargetVerdict classifyRequestTarget(std::string_view target, std::string_view mcp_path,
                                    std::string_view host);

// RFC 3986 6.2.2 normalisation of an absolute path (tier 1 above, before the trailing slash is
// dropped). Exposed for the tests.
std::string normalizedPath(std::string_view path);

}  // namespace bulwark
