#include "proxy/mcp/sse_writer.h"

namespace bulwark {

void appendSseMessageEvent(std::string& out, std::string_view json) {
  out.reserve(out.size() + json.size() + 24);
  out += "event: message\n";
  std::size_t line_start = 0;
  while (true) {
    const std::size_t line_end = json.find_first_of("\r\n", line_start);
    out += "data: ";
    if (line_end == std::string_view::npos) {
      out += json.substr(line_start);
      out += '\n';
      break;
    }
    out += json.substr(line_start, line_end - line_start);
    out += '\n';
    line_start = line_end + 1;
    if (json[line_end] == '\r' && line_start < json.size() && json[line_start] == '\n') {
      ++line_start;  // \r\n is one line end
    }
  }
  out += '\n';
}

std::string sseMessageEvent(std::string_view json) {
  std::string event;
  appendSseMessageEvent(event, json);
  return event;
}

}  // namespace bulwark
