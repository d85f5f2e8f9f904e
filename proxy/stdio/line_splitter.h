// Newline-delimited framing of a child's output (MCP stdio: one JSON-RPC message per line, no
// embedded newlines). Pure: bytes in, complete lines out. A line longer than the cap is not
// buffered without limit: its first `max_line_bytes` are reported as truncated and the rest of
// it is dropped up to the next newline.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace bulwark::stdio {

class LineSplitter {
public:
  // `truncated` is true when the line exceeded the cap and `line` holds only its first bytes.
  using OnLine = std::function<void(std::string_view line, bool truncated)>;

  explicit LineSplitter(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Calls `on_line` inline for every line completed by `bytes`, without its "\n" (or "\r\n").
  // Empty lines are skipped. The view is valid only during the call.
  void feed(std::string_view bytes, const OnLine& on_line);

  // The bytes of an unfinished last line (reported by the owner at end of stream if wanted).
  std::string_view pending() const { return partial_; }
  void clear();

private:
  void emit(std::string_view line, bool truncated, const OnLine& on_line);

  std::size_t max_line_bytes_;
  std::string partial_;
  bool overflowed_ = false;  // dropping the rest of an over-long line
};

}  // namespace bulwark::stdio
