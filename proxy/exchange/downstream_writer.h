// What Bulwark writes to the client itself, in one place: a judged JSON answer (whole, or as the
// last event of an SSE stream an earlier attempt opened), a result it composed (cache, stale,
// fallback) in the framing the client accepts, and its own error answers (status and JSON-RPC
// code from exchange/error_answers). Each function ends the response; the caller then lets go
// of the connection. Responses the upstream sends stream through elsewhere.
#pragma once

#include <string_view>

#include "proxy/exchange/error_answers.h"
#include "proxy/http/client_connection.h"

namespace bulwark {

// `body` with `status`, `reason` and `header_lines` (ignored once the response has started:
// then `body` becomes one SSE `message` event, every line its own data: line).
void sendJsonAnswer(ClientConnection& client, int status, std::string_view reason,
                    std::string_view header_lines, std::string_view body);

// A whole JSON-RPC response Bulwark composed: an SSE event on a started response, else 200 as
// JSON when `accept` allows it (or is empty), else 200 as a one-event SSE stream.
void sendComposedAnswer(ClientConnection& client, std::string_view response_json,
                        std::string_view accept);

// Bulwark's error answer `body` (a JSON-RPC error object): `answer.http_status` with
// `extra_header_lines` when nothing has been sent yet, else an SSE event on the open stream.
void sendErrorAnswer(ClientConnection& client, const ErrorAnswer& answer, std::string_view body,
                     std::string_view extra_header_lines = {});

}  // namespace bulwark
