// Bulwark's own error answers to a proxied request, from ONE table: failure class -> HTTP
// status, JSON-RPC error code and message. (Upstream answers pass through untouched; this is
// only for what Bulwark says itself when it gives up, refuses, or cannot read the request.)
#pragma once

#include <string_view>

#include "policies/failure_class.h"

namespace bulwark {

struct ErrorAnswer {
  int http_status;           // when the client has no response head yet
  int jsonrpc_code;          // the JSON-RPC error object's code
  std::string_view message;  // its short, stable message (the detail follows it)
};

// invalid_input 400/-32600, upstream 502/-32000, timeout 504/-32001, overload 503/-32000,
// session_lost 404/-32000 (the spec's signal for a client to start a new session), protocol
// 502/-32603; any other class 502/-32000.
ErrorAnswer errorAnswerFor(policies::FailureClass failure);

}  // namespace bulwark
