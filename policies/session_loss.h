// May this upstream answer mean that the upstream lost the client's MCP session?
//
// Session recovery (replaying the client's initialize upstream and mapping its session id onto
// the new one) is costly and visible upstream: it opens a session. So only the answers that the
// session protocol (2025-03-26 .. 2025-11-25) gives for an unknown session start it:
//   - HTTP 404 to a POST or GET on the MCP endpoint that carried Mcp-Session-Id (the spec's
//     signal), unless the body is a JSON-RPC "method not found" (-32601) or "resource not found"
//     (-32002) error: the server knows the session and refuses the request;
//   - HTTP 400 in the same case whose error message says the session is unknown, not found or
//     invalid (the TypeScript SDK's example servers and server-everything answer a restarted
//     server's unknown session with 400 "Bad Request: No valid session ID provided"). A 400 that
//     merely mentions a session ("invalid params: session_name") is not one.
// Never: a request without a session id, a request to another path or with another method (a
// server answering PUT /mcp with 404 does not handle PUT; it did not lose anything), a DELETE
// (the session is ending anyway), or a request of the stateless era (MCP-Protocol-Version
// 2026-07-28 or later: no sessions there).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark::policies {

struct SessionLossFacts {
  int http_status = 0;
  bool session_id_sent = false;      // the request carried Mcp-Session-Id
  bool mcp_endpoint = false;         // the request's path is the MCP endpoint
  std::string_view http_method;      // the request's method, e.g. "POST"
  std::string_view protocol_version; // the request's MCP-Protocol-Version ("" when absent)
  // What the answer's body says, read by the proxy: the JSON-RPC error's code and message, or
  // for a body that is not JSON, no code and the body's text as the message.
  std::optional<std::int64_t> jsonrpc_code;
  std::string_view error_message;
};

enum class SessionLossVerdict : std::uint8_t {
  kLost,               // the session may be lost: recover it
  kNotASessionSignal,  // a status other than 404 or 400
  kNoSessionSent,      // the request carried no session id
  kStatelessEra,       // 2026-07-28 or later: there are no sessions
  kNotMcpEndpoint,     // another path than the MCP endpoint
  kMethodNotHandled,   // not POST or GET (PUT, PATCH, ... or DELETE)
  kMethodNotFound,     // a 404 carrying JSON-RPC -32601 or -32002
  kNotAboutTheSession, // a 400 whose error does not say the session is unknown
};

// Whether the answer could be a lost session, judged from everything but the body (the body
// fields of `facts` are ignored). When true, the proxy reads the body (bounded) and asks
// judgeSessionLoss(); when false, the answer is no lost session whatever its body says.
bool couldMeanLostSession(const SessionLossFacts& facts);

SessionLossVerdict judgeSessionLoss(const SessionLossFacts& facts);

inline bool mayMeanLostSession(const SessionLossFacts& facts) {
  return judgeSessionLoss(facts) == SessionLossVerdict::kLost;
}

// True for a version of the stateless era: a well-formed YYYY-MM-DD date on or after 2026-07-28.
bool isStatelessProtocolVersion(std::string_view protocol_version);

// True when an error message says that a session is unknown, not found or invalid (ASCII case
// insensitive): "No valid session ID provided", "Session not found", "Session abc not found",
// "Unknown session", "Invalid session ID", "session id is invalid".
bool saysSessionUnknown(std::string_view message);

std::string_view sessionLossVerdictName(SessionLossVerdict verdict);

} // namespace bulwark::policies
