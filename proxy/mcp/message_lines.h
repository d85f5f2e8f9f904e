// A JSON reply body made of several JSON-RPC messages, one per line (newline-delimited): some
// servers answer a 2026-07-28 request as `application/json` holding a progress notification and
// then the result (the conformance suite's reference server does). A client reads such a body
// message by message, so Bulwark forwards it untouched and judges it on its last message, the one
// that must answer the request. A body where any line is not a JSON-RPC message stays malformed.
#pragma once

#include "proxy/mcp/jsonrpc_envelope.h"

#include <cstddef>
#include <string_view>
#include <vector>

namespace bulwark {

// Whether `body` holds more than one non-blank line (a line ends at '\n'; '\r' and spaces around
// a line are ignored). A single message spread over several lines (pretty-printed JSON) parses
// whole first, so callers try this only when the whole body is not one JSON text.
bool hasSeveralLines(std::string_view body);

// The non-blank lines of `body`, trimmed (to re-frame each message as its own SSE event).
std::vector<std::string_view> splitMessageLines(std::string_view body);

struct MessageLines {
  std::size_t count = 0; // non-blank lines read
  // The last line's parse (its spans are offsets into `last_line`, a view into the body). Holds
  // the first failing line's error instead when a line is not a JSON-RPC message (or a batch).
  EnvelopeResult last;
  std::string_view last_line;
};

// Parses every non-blank line of `body` as one JSON-RPC message (each is validated; a batch on
// a line is refused as kInvalidMessage) and keeps the last. Never throws.
MessageLines parseMessageLines(EnvelopeParser& parser, std::string_view body);

} // namespace bulwark
