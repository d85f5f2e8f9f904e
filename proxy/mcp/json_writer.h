// JSON text that Bulwark writes itself (log lines, error replies, fallback answers, cache keys),
// and the JSON number grammar shared by the reader and the config loader. This is the one place
// that escapes JSON strings: config/ (YAML fallback results) and proxy/ both use it, and policies/
// hands over plain data. Reading JSON lives in jsonrpc_envelope.cc.
#pragma once

#include <string>
#include <string_view>

namespace bulwark {

// Appends `value` as a quoted JSON string: escapes '"', '\\' and every control character below
// 0x20 (\b \f \n \r \t, others as \u00XX); every other byte, UTF-8 included, is copied as it is.
// Invalid UTF-8 is passed through byte for byte: callers quote our own text or bytes that came
// in as JSON, so a lossy repair here would only hide where the bytes came from.
void appendJsonString(std::string& out, std::string_view value);
std::string jsonString(std::string_view value);

// RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(std::string_view text);

// A configured text fallback as a CallToolResult with one text item:
// {"content":[{"type":"text","text":"<text, JSON-escaped>"}]}
std::string fallbackTextResult(std::string_view text);

}  // namespace bulwark
