// What the stdio bridge needs to know about one JSON-RPC message to route it, and where in the
// text its ids are, so that it can rewrite them without re-serializing the message.
//
// This is not a validator (the proxy's EnvelopeParser validates everything that reaches a
// client); it reads the members that routing needs and reports failure for text that is not a
// JSON object. No simdjson type escapes message_scan.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::stdio {

// A member's value as a span of the scanned text (token text, strings with their quotes).
struct TextSpan {
  std::size_t offset = 0;
  std::size_t length = 0;
  bool present() const { return length > 0; }
  std::string_view in(std::string_view text) const { return text.substr(offset, length); }
};

enum class ScannedKind : std::uint8_t { kRequest, kNotification, kResponse };

struct ScannedMessage {
  ScannedKind kind = ScannedKind::kNotification;
  std::string method;
  TextSpan id;               // top-level "id"
  TextSpan progress_token;   // params._meta.progressToken (requests) or params.progressToken
                             // (notifications/progress), as JSON text
  TextSpan cancelled_request_id;  // params.requestId of notifications/cancelled
};

// Scans one JSON object. nullopt when the text is not a JSON object with a string "method" or
// an "id" together with "result" or "error".
std::optional<ScannedMessage> scanMessage(std::string_view json);

// `json` with the bytes of `span` replaced by `replacement`.
std::string replaceSpan(std::string_view json, TextSpan span, std::string_view replacement);

// The id the bridge gives a request it sends to a child: a plain JSON integer, parsed back
// from a response's id text (nullopt when the text is anything else).
std::optional<std::int64_t> parseBridgeId(std::string_view id_text);

}  // namespace bulwark::stdio

namespace bulwark::stdio {

// The elements of a JSON array as texts (a JSON-RPC batch), or nullopt if `json` is not an
// array. A non-array text gives nullopt too; callers treat that as one message.
std::optional<std::vector<std::string_view>> splitArray(std::string_view json);

}  // namespace bulwark::stdio
