// What the stdio bridge needs to know about JSON-RPC messages to route them, and where in the
// text their ids are, so that it can rewrite them without re-serializing the message. A thin view
// of the one JSON reader (mcp/jsonrpc_envelope): the bridge's EnvelopeParser reads the text once,
// and this keeps the bridge's own, lenient rule of what it can route.
//
// Lenient: a message the proxy would refuse as -32600 (say, without "jsonrpc") is still routed
// when its method, or its result or error, can be read; the child or the client judges it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/mcp/jsonrpc_envelope.h"

namespace bulwark::stdio {

// A member's value as a span of the scanned text (token text, strings with their quotes).
using TextSpan = JsonSpan;

enum class ScannedKind : std::uint8_t { kRequest, kNotification, kResponse };

struct ScannedMessage {
  ScannedKind kind = ScannedKind::kNotification;
  std::string method;
  TextSpan text;                  // the message within the scanned body (a batch element)
  // The spans below are relative to `text`, i.e. to text.in(body).
  TextSpan id;                    // top-level "id" (a null id is absent: it answers nothing)
  TextSpan progress_token;        // params._meta.progressToken (requests) or params.progressToken
                                  // (notifications/progress), as JSON text
  TextSpan cancelled_request_id;  // params.requestId of notifications/cancelled
};

struct ScannedBody {
  std::vector<ScannedMessage> messages;
  bool batch = false;
};

// Scans a POST body or a line: one JSON object, or a batch (array) of them. nullopt when the text
// is not JSON, or any message is not an object with a string "method" or an "id" together with
// "result" or "error"; an empty batch gives no messages.
std::optional<ScannedBody> scanMessages(EnvelopeParser& parser, std::string_view json);

// One message; nullopt for a batch or anything scanMessages refuses.
std::optional<ScannedMessage> scanMessage(EnvelopeParser& parser, std::string_view json);

// `json` with the bytes of `span` replaced by `replacement`.
std::string replaceSpan(std::string_view json, TextSpan span, std::string_view replacement);

// The id the bridge gives a request it sends to a child: a plain JSON integer, parsed back
// from a response's id text (nullopt when the text is anything else).
std::optional<std::int64_t> parseBridgeId(std::string_view id_text);

}  // namespace bulwark::stdio
