// What one upstream attempt produced, as plain facts, and its reduction to exactly one
// FailureClass (design.md, "Failure classes"). The proxy fills an Outcome from what it saw on the
// wire; classify() is a pure function of it.
#pragma once

#include "policies/failure_class.h"

#include <cstdint>
#include <string_view>

namespace bulwark::policies {

enum class OutcomeKind : std::uint8_t {
  kSuccess,                   // a well-formed final reply that is not an error
  kConnectFailed,             // no connection: the request was never sent
  kResetBeforeResponse,       // reset or EOF after (part of) the request was sent, no response byte
  kResetAfterPartialResponse, // reset or EOF after some response bytes, before the final reply
  kPerTryTimeout,             // this attempt's own timer fired
  kDeadlineExceeded,          // the request's overall deadline fired during this attempt
  kHttpStatus,                // a non-2xx HTTP status (see http_status and the flags below)
  kJsonRpcError,              // a JSON-RPC error object (see jsonrpc_code)
  kToolError,                 // a tools/call result with isError: true
  kMalformedReply,            // unparseable HTTP, JSON, SSE or JSON-RPC from upstream
  kSessionUnknown,            // the proxy knows for sure the upstream dropped our session
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::kSuccess;
  int http_status = 0;  // kHttpStatus only
  // kJsonRpcError: the error's code. kHttpStatus: the code of the JSON-RPC error the body carried,
  // 0 when it carried none (a 2026-07-28 server answers 404 with -32601 for an unknown method).
  int jsonrpc_code = 0;
  // The request was stateless (2026-07-28, see protocol_era.h): no session exists to lose, so no
  // status is ever read as session_lost.
  bool stateless_request = false;
  // kHttpStatus facts:
  bool session_id_sent = false;       // the attempt carried an Mcp-Session-Id header
  bool retry_after_present = false;   // the response carried a usable Retry-After header
  bool names_unknown_session = false; // the error body speaks of the session (see below)

  static constexpr Outcome success() { return Outcome{}; }
  static constexpr Outcome connectFailed() { return of(OutcomeKind::kConnectFailed); }
  static constexpr Outcome resetBeforeResponse() { return of(OutcomeKind::kResetBeforeResponse); }
  static constexpr Outcome resetAfterPartialResponse() {
    return of(OutcomeKind::kResetAfterPartialResponse);
  }
  static constexpr Outcome perTryTimeout() { return of(OutcomeKind::kPerTryTimeout); }
  static constexpr Outcome deadlineExceeded() { return of(OutcomeKind::kDeadlineExceeded); }
  static constexpr Outcome toolError() { return of(OutcomeKind::kToolError); }
  static constexpr Outcome malformedReply() { return of(OutcomeKind::kMalformedReply); }
  static constexpr Outcome sessionUnknown() { return of(OutcomeKind::kSessionUnknown); }
  static constexpr Outcome jsonRpcError(int code) {
    Outcome o = of(OutcomeKind::kJsonRpcError);
    o.jsonrpc_code = code;
    return o;
  }
  static constexpr Outcome httpStatus(int status, bool session_id_sent = false,
                                      bool retry_after_present = false,
                                      bool names_unknown_session = false) {
    Outcome o = of(OutcomeKind::kHttpStatus);
    o.http_status = status;
    o.session_id_sent = session_id_sent;
    o.retry_after_present = retry_after_present;
    o.names_unknown_session = names_unknown_session;
    return o;
  }

  // The same outcome with the JSON-RPC error code found in an HTTP error body.
  constexpr Outcome withBodyCode(int code) const {
    Outcome o = *this;
    o.jsonrpc_code = code;
    return o;
  }
  // The same outcome, for a stateless (2026-07-28) request.
  constexpr Outcome forStatelessRequest(bool stateless = true) const {
    Outcome o = *this;
    o.stateless_request = stateless;
    return o;
  }

private:
  static constexpr Outcome of(OutcomeKind k) {
    Outcome o;
    o.kind = k;
    return o;
  }
};

// Maps each outcome to exactly one class:
//   kSuccess -> none; connect failed, reset before/after response -> upstream;
//   per-try timeout, deadline -> timeout; isError -> tool_error; malformed -> protocol;
//   session unknown -> session_lost.
//   HTTP: 2xx none; 400 invalid_input, or session_lost when a session id was sent and the body
//   names the session; 404 with a -32601 body resource (2026-07-28: method not found); 404
//   session_lost when a session id was sent, else protocol (the endpoint URL is wrong: nothing
//   to retry, report it loudly); a stateless request is never session_lost (400/404 are then
//   invalid_input/protocol); 401/403 permission; 408 timeout;
//   429 overload; 503 overload with Retry-After, else upstream; 500/502/504 and other 5xx
//   upstream; other 4xx invalid_input; 1xx/3xx and out-of-range statuses protocol.
//   JSON-RPC: -32700/-32600/-32602 invalid_input (2026-07-28 also answers an unknown resource
//   with -32602: answered at once either way); -32020 header mismatch, -32021 missing required
//   client capability, -32022 unsupported protocol version (2026-07-28) invalid_input;
//   -32601/-32002 resource; -32042 (URL elicitation required: the user must act) permission; -32001
//   (SDK request timeout) timeout; -32603 and the rest of the server-error range -32099..-32000
//   upstream (the server failed while handling it: retried only if safe); other reserved codes
//   -32768..-32100 protocol; any application-defined code tool_error (the server chose to answer an
//   error: pass through).
FailureClass classify(const Outcome& outcome);

// False only when the request provably never left Bulwark (connect failed). Every other outcome
// may have run the request upstream.
bool mayHaveReachedUpstream(const Outcome& outcome);

// Whether a 404 or 400 means a lost session (what fills `names_unknown_session`) is
// policies/session_loss.h.

std::string_view outcomeKindName(OutcomeKind kind);

} // namespace bulwark::policies
