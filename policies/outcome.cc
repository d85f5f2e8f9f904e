#include "policies/outcome.h"

namespace bulwark::policies {
namespace {

FailureClass classifyHttp(const Outcome& o) {
  const int s = o.http_status;
  if (s >= 200 && s <= 299) {
    return FailureClass::kNone;
  }
  switch (s) {
  case 400:
    return o.session_id_sent && o.names_unknown_session && !o.stateless_request
               ? FailureClass::kSessionLost
               : FailureClass::kInvalidInput;
  case 401:
  case 403:
    return FailureClass::kPermission;
  case 404:
    if (o.jsonrpc_code == -32601) // method not found (2026-07-28 answers it with 404)
      return FailureClass::kResource;
    return o.session_id_sent && !o.stateless_request ? FailureClass::kSessionLost
                                                     : FailureClass::kProtocol;
  case 408:
    return FailureClass::kTimeout;
  case 429:
    return FailureClass::kOverload;
  case 503:
    return o.retry_after_present ? FailureClass::kOverload : FailureClass::kUpstream;
  default:
    break;
  }
  if (s >= 500 && s <= 599) {
    return FailureClass::kUpstream;
  }
  if (s >= 400 && s <= 499) {
    return FailureClass::kInvalidInput;
  }
  return FailureClass::kProtocol;
}

FailureClass classifyJsonRpc(int code) {
  switch (code) {
  case -32700: // parse error
  case -32600: // invalid request
  case -32602: // invalid params (2026-07-28: also resource not found)
  case -32020: // header mismatch (2026-07-28)
  case -32021: // missing required client capability (2026-07-28)
  case -32022: // unsupported protocol version (2026-07-28)
    return FailureClass::kInvalidInput;
  case -32601: // method not found
  case -32002: // MCP resource not found
    return FailureClass::kResource;
  case -32042: // MCP URL elicitation required
    return FailureClass::kPermission;
  case -32001: // MCP SDK request timeout
    return FailureClass::kTimeout;
  case -32603: // internal error: the server failed while handling it
    return FailureClass::kUpstream;
  default:
    break;
  }
  if (code >= -32099 && code <= -32000) { // implementation-defined server errors
    return FailureClass::kUpstream;
  }
  if (code >= -32768 && code <= -32100) { // reserved by JSON-RPC, undefined
    return FailureClass::kProtocol;
  }
  return FailureClass::kToolError;
}

} // namespace

FailureClass classify(const Outcome& o) {
  switch (o.kind) {
  case OutcomeKind::kSuccess:
    return FailureClass::kNone;
  case OutcomeKind::kConnectFailed:
  case OutcomeKind::kResetBeforeResponse:
  case OutcomeKind::kResetAfterPartialResponse:
    return FailureClass::kUpstream;
  case OutcomeKind::kPerTryTimeout:
  case OutcomeKind::kDeadlineExceeded:
    return FailureClass::kTimeout;
  case OutcomeKind::kHttpStatus:
    return classifyHttp(o);
  case OutcomeKind::kJsonRpcError:
    return classifyJsonRpc(o.jsonrpc_code);
  case OutcomeKind::kToolError:
    return FailureClass::kToolError;
  case OutcomeKind::kMalformedReply:
    return FailureClass::kProtocol;
  case OutcomeKind::kSessionUnknown:
    return FailureClass::kSessionLost;
  }
  return FailureClass::kProtocol;
}

bool mayHaveReachedUpstream(const Outcome& o) { return o.kind != OutcomeKind::kConnectFailed; }

std::string_view outcomeKindName(OutcomeKind kind) {
  switch (kind) {
  case OutcomeKind::kSuccess:
    return "success";
  case OutcomeKind::kConnectFailed:
    return "connect_failed";
  case OutcomeKind::kResetBeforeResponse:
    return "reset_before_response";
  case OutcomeKind::kResetAfterPartialResponse:
    return "reset_after_partial_response";
  case OutcomeKind::kPerTryTimeout:
    return "per_try_timeout";
  case OutcomeKind::kDeadlineExceeded:
    return "deadline_exceeded";
  case OutcomeKind::kHttpStatus:
    return "http_status";
  case OutcomeKind::kJsonRpcError:
    return "jsonrpc_error";
  case OutcomeKind::kToolError:
    return "tool_error";
  case OutcomeKind::kMalformedReply:
    return "malformed_reply";
  case OutcomeKind::kSessionUnknown:
    return "session_unknown";
  }
  return "unknown";
}

} // namespace bulwark::policies
