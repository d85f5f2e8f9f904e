#include "proxy/exchange/error_answers.h"

#include "proxy/mcp/json_rpc_errors.h"

namespace bulwark {

ErrorAnswer errorAnswerFor(policies::FailureClass failure) {
  using policies::FailureClass;
  switch (failure) {
  case FailureClass::kInvalidInput: return {400, jsonrpc::kInvalidRequest, "Invalid Request"};
  case FailureClass::kTimeout: return {504, jsonrpc::kRequestTimeout, "Upstream timed out"};
  case FailureClass::kOverload: return {503, jsonrpc::kUpstreamUnavailable, "Upstream overloaded"};
  case FailureClass::kSessionLost:
    return {404, jsonrpc::kUpstreamUnavailable, "Session not found"};
  case FailureClass::kProtocol:
    return {502, jsonrpc::kInternalError, "Upstream sent a malformed reply"};
  case FailureClass::kNone:
  case FailureClass::kUpstream:
  case FailureClass::kResource:
  case FailureClass::kPermission:
  case FailureClass::kToolError: break;
  }
  return {502, jsonrpc::kUpstreamUnavailable, "Upstream failed"};
}

}  // namespace bulwark
