// The one SSE framer for JSON-RPC messages Bulwark writes itself (a JSON answer re-framed on a
// stream an earlier attempt opened, its own error and recovery answers, the stdio bridge's
// events). SSE ends a `data:` field at any line break, so a message is framed line by line: a
// pretty-printed (multi-line) JSON answer reaches the client whole.
#pragma once

#include <string>
#include <string_view>

namespace bulwark {

// Appends `json` to `out` as one `message` event: "event: message\n", one "data: " line per line
// of `json` (\n, \r\n and a lone \r all end a line, as an SSE reader sees them), and the blank
// line that dispatches it. `out` is not cleared, so a caller can reuse its storage.
void appendSseMessageEvent(std::string& out, std::string_view json);

// The same event as a new string.
std::string sseMessageEvent(std::string_view json);

}  // namespace bulwark
