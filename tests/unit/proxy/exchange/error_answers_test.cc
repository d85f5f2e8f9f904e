#include "proxy/exchange/error_answers.h"

#include <doctest/doctest.h>

#include "proxy/http/status_text.h"
#include "proxy/mcp/json_rpc_errors.h"

namespace bulwark {
namespace {

using policies::FailureClass;

TEST_CASE("one table: failure class -> HTTP status, JSON-RPC code and message") {
  struct Case {
    FailureClass failure;
    int status;
    int code;
    std::string_view message;
  };
  const Case cases[] = {
      {FailureClass::kInvalidInput, 400, jsonrpc::kInvalidRequest, "Invalid Request"},
      {FailureClass::kUpstream, 502, jsonrpc::kUpstreamUnavailable, "Upstream failed"},
      {FailureClass::kTimeout, 504, jsonrpc::kRequestTimeout, "Upstream timed out"},
      {FailureClass::kOverload, 503, jsonrpc::kUpstreamUnavailable, "Upstream overloaded"},
      {FailureClass::kSessionLost, 404, jsonrpc::kUpstreamUnavailable, "Session not found"},
      {FailureClass::kProtocol, 502, jsonrpc::kInternalError, "Upstream sent a malformed reply"},
      {FailureClass::kResource, 502, jsonrpc::kUpstreamUnavailable, "Upstream failed"},
      {FailureClass::kPermission, 502, jsonrpc::kUpstreamUnavailable, "Upstream failed"},
      {FailureClass::kToolError, 502, jsonrpc::kUpstreamUnavailable, "Upstream failed"},
  };
  for (const Case& c : cases) {
    CAPTURE(policies::failureClassName(c.failure));
    const ErrorAnswer answer = errorAnswerFor(c.failure);
    CHECK(answer.http_status == c.status);
    CHECK(answer.jsonrpc_code == c.code);
    CHECK(answer.message == c.message);
    CHECK(statusText(answer.http_status) != "Error");  // every status it sends has a phrase
  }
}

}  // namespace
}  // namespace bulwark
