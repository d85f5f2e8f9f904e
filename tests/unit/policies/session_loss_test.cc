#include "policies/session_loss.h"

#include <doctest/doctest.h>
#include <optional>
#include <string>

using namespace bulwark::policies;

namespace {

// A request in a session, on the MCP endpoint, of the session era: the usual candidate.
SessionLossFacts inSession(int status, std::optional<std::int64_t> code = std::nullopt,
                           std::string_view message = "") {
  SessionLossFacts facts;
  facts.http_status = status;
  facts.session_id_sent = true;
  facts.mcp_endpoint = true;
  facts.http_method = "POST";
  facts.protocol_version = "2025-06-18";
  facts.jsonrpc_code = code;
  facts.error_message = message;
  return facts;
}

struct Row {
  const char* what;
  SessionLossFacts facts;
  SessionLossVerdict expected;
};

SessionLossFacts with(SessionLossFacts facts, auto change) {
  change(facts);
  return facts;
}

const Row kRows[] = {
    // The signals of a lost session.
    {"404 without a body (the spec's signal)", inSession(404), SessionLossVerdict::kLost},
    {"404 -32001 Session not found (TypeScript SDK)", inSession(404, -32001, "Session not found"),
     SessionLossVerdict::kLost},
    {"404 with a plain-text body", inSession(404, std::nullopt, "Not Found"),
     SessionLossVerdict::kLost},
    {"GET stream answered 404", with(inSession(404), [](auto& f) { f.http_method = "GET"; }),
     SessionLossVerdict::kLost},
    {"400 -32000 No valid session ID provided (server-everything)",
     inSession(400, -32000, "Bad Request: No valid session ID provided"),
     SessionLossVerdict::kLost},
    {"400 plain text No valid session ID provided (older Python SDK)",
     inSession(400, std::nullopt, "Bad Request: No valid session ID provided"),
     SessionLossVerdict::kLost},
    {"400 Session not found", inSession(400, -32001, "Session not found"),
     SessionLossVerdict::kLost},
    {"400 Invalid session ID", inSession(400, -32000, "Invalid session ID"),
     SessionLossVerdict::kLost},
    {"400 Unknown session", inSession(400, -32000, "Unknown session"), SessionLossVerdict::kLost},
    {"400 Session abc-123 not found", inSession(400, -32000, "Session abc-123 not found"),
     SessionLossVerdict::kLost},
    {"400 mcp-session-id is invalid", inSession(400, -32600, "Mcp-Session-Id is invalid"),
     SessionLossVerdict::kLost},
    {"no protocol version header (2025-03-26 clients)",
     with(inSession(404), [](auto& f) { f.protocol_version = ""; }), SessionLossVerdict::kLost},

    // Not a lost session.
    {"200", inSession(200), SessionLossVerdict::kNotASessionSignal},
    {"401", inSession(401), SessionLossVerdict::kNotASessionSignal},
    {"405", inSession(405), SessionLossVerdict::kNotASessionSignal},
    {"500", inSession(500), SessionLossVerdict::kNotASessionSignal},
    {"404 without a session id", with(inSession(404), [](auto& f) { f.session_id_sent = false; }),
     SessionLossVerdict::kNoSessionSent},
    {"404 to a 2026-07-28 request",
     with(inSession(404), [](auto& f) { f.protocol_version = "2026-07-28"; }),
     SessionLossVerdict::kStatelessEra},
    {"400 No valid session to a 2026-07-28 request",
     with(inSession(400, -32000, "Bad Request: No valid session ID provided"),
          [](auto& f) { f.protocol_version = "2026-07-28"; }),
     SessionLossVerdict::kStatelessEra},
    {"404 to a later stateless version",
     with(inSession(404), [](auto& f) { f.protocol_version = "2027-01-15"; }),
     SessionLossVerdict::kStatelessEra},
    {"404 to PUT /mcp (fastmcp does not handle PUT)",
     with(inSession(404), [](auto& f) { f.http_method = "PUT"; }),
     SessionLossVerdict::kMethodNotHandled},
    {"404 to PATCH", with(inSession(404), [](auto& f) { f.http_method = "PATCH"; }),
     SessionLossVerdict::kMethodNotHandled},
    {"404 to DELETE (the session ends anyway)",
     with(inSession(404), [](auto& f) { f.http_method = "DELETE"; }),
     SessionLossVerdict::kMethodNotHandled},
    {"404 on another path", with(inSession(404), [](auto& f) { f.mcp_endpoint = false; }),
     SessionLossVerdict::kNotMcpEndpoint},
    {"404 -32601 method not found", inSession(404, -32601, "Method not found"),
     SessionLossVerdict::kMethodNotFound},
    {"404 -32002 resource not found", inSession(404, -32002, "Resource not found"),
     SessionLossVerdict::kMethodNotFound},
    {"400 that merely mentions a session", inSession(400, -32000, "session_name is required"),
     SessionLossVerdict::kNotAboutTheSession},
    {"400 about the session's tool", inSession(400, -32000, "this session may not call delete"),
     SessionLossVerdict::kNotAboutTheSession},
    {"400 invalid params naming a session", inSession(400, -32602, "Invalid session ID format"),
     SessionLossVerdict::kNotAboutTheSession},
    {"400 Mcp-Session-Id header is required",
     inSession(400, -32000, "Bad Request: Mcp-Session-Id header is required"),
     SessionLossVerdict::kNotAboutTheSession},
    {"400 without any message", inSession(400), SessionLossVerdict::kNotAboutTheSession},
    {"400 malformed arguments", inSession(400, -32602, "Bad Request: malformed arguments"),
     SessionLossVerdict::kNotAboutTheSession},
};

} // namespace

TEST_CASE("judgeSessionLoss: only a session era request's 404, or its 400 naming an unknown "
          "session, may mean a lost session") {
  for (const Row& row : kRows) {
    CAPTURE(row.what);
    CHECK(sessionLossVerdictName(judgeSessionLoss(row.facts)) ==
          sessionLossVerdictName(row.expected));
    CHECK(mayMeanLostSession(row.facts) == (row.expected == SessionLossVerdict::kLost));
  }
}

TEST_CASE("couldMeanLostSession decides on the head alone: the body can only say no") {
  for (const Row& row : kRows) {
    CAPTURE(row.what);
    const bool head_allows = row.expected == SessionLossVerdict::kLost ||
                             row.expected == SessionLossVerdict::kMethodNotFound ||
                             row.expected == SessionLossVerdict::kNotAboutTheSession;
    CHECK(couldMeanLostSession(row.facts) == head_allows);
  }
}

TEST_CASE("isStatelessProtocolVersion") {
  CHECK(isStatelessProtocolVersion("2026-07-28"));
  CHECK(isStatelessProtocolVersion("2026-12-01"));
  CHECK_FALSE(isStatelessProtocolVersion("2025-11-25"));
  CHECK_FALSE(isStatelessProtocolVersion("2026-07-27"));
  CHECK_FALSE(isStatelessProtocolVersion(""));
  CHECK_FALSE(isStatelessProtocolVersion("zzzz-zz-zz"));
  CHECK_FALSE(isStatelessProtocolVersion("2026-07-28 "));
  CHECK_FALSE(isStatelessProtocolVersion("2026/07/28"));
}

TEST_CASE("saysSessionUnknown is narrow") {
  CHECK(saysSessionUnknown("Bad Request: No valid session ID provided"));
  CHECK(saysSessionUnknown("SESSION NOT FOUND"));
  CHECK(saysSessionUnknown("Session '4f1c-aa' does not exist"));
  CHECK(saysSessionUnknown("session has expired"));
  CHECK(saysSessionUnknown("unknown MCP session"));
  CHECK_FALSE(saysSessionUnknown("Bad Request: Server not initialized"));
  CHECK_FALSE(saysSessionUnknown("No valid arguments for session_summary"));
  CHECK_FALSE(saysSessionUnknown("session"));
  CHECK_FALSE(saysSessionUnknown("the session tool failed: file not found"));
  CHECK_FALSE(saysSessionUnknown(""));
  CHECK_FALSE(saysSessionUnknown(std::string(600, 'x') + " session not found"));
}
