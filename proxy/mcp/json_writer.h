// Minimal JSON output for log lines and error replies. Reading JSON lives in jsonrpc_envelope.cc.
#pragma once

#include <string>
#include <string_view>

namespace bulwark {

// Appends `value` as a quoted JSON string, escaping quotes, backslashes and control characters.
// Invalid UTF-8 is passed through byte for byte: callers quote our own text or bytes that came
// in as JSON, so a lossy repair here would only hide where the bytes came from.
void appendJsonString(std::string& out, std::string_view value);

}  // namespace bulwark
