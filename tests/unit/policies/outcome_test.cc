#include "policies/outcome.h"

#include <doctest/doctest.h>
#include <string>

using namespace bulwark::policies;

namespace {

struct Row {
  const char* signal;
  Outcome outcome;
  FailureClass expected;
};

// One row per signal of design.md's failure-class table, plus the ambiguous cases we decided.
const Row kRows[] = {
    {"success", Outcome::success(), FailureClass::kNone},
    {"connect refused (never sent)", Outcome::connectFailed(), FailureClass::kUpstream},
    {"reset/EOF before any response byte", Outcome::resetBeforeResponse(), FailureClass::kUpstream},
    {"reset after partial response", Outcome::resetAfterPartialResponse(), FailureClass::kUpstream},
    {"per-try timeout", Outcome::perTryTimeout(), FailureClass::kTimeout},
    {"overall deadline", Outcome::deadlineExceeded(), FailureClass::kTimeout},
    {"result.isError", Outcome::toolError(), FailureClass::kToolError},
    {"malformed reply", Outcome::malformedReply(), FailureClass::kProtocol},
    {"session unknown", Outcome::sessionUnknown(), FailureClass::kSessionLost},
    // HTTP statuses
    {"HTTP 200", Outcome::httpStatus(200), FailureClass::kNone},
    {"HTTP 202", Outcome::httpStatus(202), FailureClass::kNone},
    {"HTTP 400", Outcome::httpStatus(400), FailureClass::kInvalidInput},
    {"HTTP 400 with session sent, body not about the session",
     Outcome::httpStatus(400, true, false, false), FailureClass::kInvalidInput},
    {"HTTP 400 naming the session, but none sent", Outcome::httpStatus(400, false, false, true),
     FailureClass::kInvalidInput},
    {"HTTP 400 naming an unknown session", Outcome::httpStatus(400, true, false, true),
     FailureClass::kSessionLost},
    {"HTTP 401", Outcome::httpStatus(401), FailureClass::kPermission},
    {"HTTP 403", Outcome::httpStatus(403), FailureClass::kPermission},
    {"HTTP 404 with session sent", Outcome::httpStatus(404, true), FailureClass::kSessionLost},
    {"HTTP 404 without session", Outcome::httpStatus(404), FailureClass::kProtocol},
    {"HTTP 405", Outcome::httpStatus(405), FailureClass::kInvalidInput},
    {"HTTP 408", Outcome::httpStatus(408), FailureClass::kTimeout},
    {"HTTP 413", Outcome::httpStatus(413), FailureClass::kInvalidInput},
    {"HTTP 429", Outcome::httpStatus(429), FailureClass::kOverload},
    {"HTTP 429 with Retry-After", Outcome::httpStatus(429, false, true), FailureClass::kOverload},
    {"HTTP 500", Outcome::httpStatus(500), FailureClass::kUpstream},
    {"HTTP 502", Outcome::httpStatus(502), FailureClass::kUpstream},
    {"HTTP 503", Outcome::httpStatus(503), FailureClass::kUpstream},
    {"HTTP 503 with Retry-After", Outcome::httpStatus(503, false, true), FailureClass::kOverload},
    {"HTTP 504", Outcome::httpStatus(504), FailureClass::kUpstream},
    {"HTTP 599", Outcome::httpStatus(599), FailureClass::kUpstream},
    {"HTTP 302", Outcome::httpStatus(302), FailureClass::kProtocol},
    {"HTTP 101", Outcome::httpStatus(101), FailureClass::kProtocol},
    {"HTTP 0 (nonsense)", Outcome::httpStatus(0), FailureClass::kProtocol},
    // JSON-RPC codes
    {"-32700 parse error", Outcome::jsonRpcError(-32700), FailureClass::kInvalidInput},
    {"-32600 invalid request", Outcome::jsonRpcError(-32600), FailureClass::kInvalidInput},
    {"-32602 invalid params", Outcome::jsonRpcError(-32602), FailureClass::kInvalidInput},
    {"-32601 method not found", Outcome::jsonRpcError(-32601), FailureClass::kResource},
    {"-32002 resource not found", Outcome::jsonRpcError(-32002), FailureClass::kResource},
    {"-32603 internal error", Outcome::jsonRpcError(-32603), FailureClass::kUpstream},
    {"-32000 connection closed", Outcome::jsonRpcError(-32000), FailureClass::kUpstream},
    {"-32099 server error range", Outcome::jsonRpcError(-32099), FailureClass::kUpstream},
    {"-32001 request timeout", Outcome::jsonRpcError(-32001), FailureClass::kTimeout},
    {"-32042 URL elicitation required", Outcome::jsonRpcError(-32042), FailureClass::kPermission},
    {"-32100 reserved, undefined", Outcome::jsonRpcError(-32100), FailureClass::kProtocol},
    {"-32768 reserved, undefined", Outcome::jsonRpcError(-32768), FailureClass::kProtocol},
    {"-31999 application code", Outcome::jsonRpcError(-31999), FailureClass::kToolError},
    {"42 application code", Outcome::jsonRpcError(42), FailureClass::kToolError},
    {"-40000 application code", Outcome::jsonRpcError(-40000), FailureClass::kToolError},
};

} // namespace

TEST_CASE("classify maps every signal of the design table to exactly one class") {
  for (const Row& row : kRows) {
    const std::string signal = row.signal;
    CAPTURE(signal);
    CHECK(failureClassName(classify(row.outcome)) == failureClassName(row.expected));
  }
}

TEST_CASE("only a failed connect proves the request never reached the upstream") {
  CHECK_FALSE(mayHaveReachedUpstream(Outcome::connectFailed()));
  CHECK(mayHaveReachedUpstream(Outcome::resetBeforeResponse()));
  CHECK(mayHaveReachedUpstream(Outcome::resetAfterPartialResponse()));
  CHECK(mayHaveReachedUpstream(Outcome::perTryTimeout()));
  CHECK(mayHaveReachedUpstream(Outcome::httpStatus(503)));
  CHECK(mayHaveReachedUpstream(Outcome::jsonRpcError(-32603)));
}

TEST_CASE("class names round-trip and unknown names are rejected") {
  for (FailureClass c : kAllFailureClasses) {
    auto parsed = parseFailureClass(failureClassName(c));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == c);
  }
  CHECK(failureClassName(FailureClass::kInvalidInput) == "invalid_input");
  CHECK(failureClassName(FailureClass::kToolError) == "tool_error");
  CHECK(failureClassName(FailureClass::kSessionLost) == "session_lost");
  CHECK_FALSE(parseFailureClass("Upstream").has_value());
  CHECK_FALSE(parseFailureClass("").has_value());
  CHECK_FALSE(parseFailureClass("upstream ").has_value());
}

TEST_CASE("FailureClassSet") {
  FailureClassSet set{FailureClass::kTimeout, FailureClass::kUpstream};
  CHECK(set.contains(FailureClass::kUpstream));
  CHECK(set.contains(FailureClass::kTimeout));
  CHECK_FALSE(set.contains(FailureClass::kOverload));
  CHECK(set.toString() == "[upstream, timeout]");
  set.erase(FailureClass::kUpstream);
  CHECK(set.toString() == "[timeout]");
  CHECK(FailureClassSet{}.empty());
  CHECK(FailureClassSet{}.toString() == "[]");
}


TEST_CASE("outcome kind names are distinct") {
  CHECK(outcomeKindName(OutcomeKind::kConnectFailed) == "connect_failed");
  CHECK(outcomeKindName(OutcomeKind::kResetBeforeResponse) == "reset_before_response");
  CHECK(outcomeKindName(OutcomeKind::kDeadlineExceeded) == "deadline_exceeded");
}
