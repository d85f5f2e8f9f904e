#include "proxy/mcp/message_lines.h"

namespace bulwark {

namespace {

std::string_view trimmed(std::string_view line) {
  constexpr std::string_view kSpace = " \t\r";
  const std::size_t first = line.find_first_not_of(kSpace);
  if (first == std::string_view::npos)
    return {};
  return line.substr(first, line.find_last_not_of(kSpace) - first + 1);
}

// Calls `on_line(line)` for each non-blank line, trimmed; stops when it returns false.
template <typename OnLine>
void forEachLine(std::string_view body, OnLine&& on_line) {
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos)
      end = body.size();
    const std::string_view line = trimmed(body.substr(start, end - start));
    if (!line.empty() && !on_line(line))
      return;
    start = end + 1;
  }
}

} // namespace

std::vector<std::string_view> splitMessageLines(std::string_view body) {
  std::vector<std::string_view> lines;
  forEachLine(body, [&](std::string_view line) {
    lines.push_back(line);
    return true;
  });
  return lines;
}

bool hasSeveralLines(std::string_view body) {
  int lines = 0;
  forEachLine(body, [&](std::string_view) { return ++lines < 2; });
  return lines >= 2;
}

MessageLines parseMessageLines(EnvelopeParser& parser, std::string_view body) {
  MessageLines out;
  forEachLine(body, [&](std::string_view line) {
    ++out.count;
    out.last = parser.parse(line);
    if (out.last.error == EnvelopeError::kNone && out.last.parsed.batch) {
      out.last.error = EnvelopeError::kInvalidMessage;
      out.last.detail = "a batch inside a body of one message per line";
    }
    if (out.last.error != EnvelopeError::kNone) {
      out.last.detail = "line " + std::to_string(out.count) + ": " + out.last.detail;
      return false;
    }
    out.last_line = line;
    return true;
  });
  if (out.count == 0) {
    out.last.error = EnvelopeError::kInvalidJson;
    out.last.detail = "empty body";
  }
  return out;
}

} // namespace bulwark
