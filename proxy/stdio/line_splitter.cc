#include "proxy/stdio/line_splitter.h"

namespace bulwark::stdio {

void LineSplitter::emit(std::string_view line, bool truncated, const OnLine& on_line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (!line.empty()) {
    on_line(line, truncated);
  }
}

void LineSplitter::feed(std::string_view bytes, const OnLine& on_line) {
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline);
    if (overflowed_) {
      // The head of this line was already reported; skip to its end.
    } else if (partial_.size() + piece.size() > max_line_bytes_) {
      partial_.append(piece.substr(0, max_line_bytes_ - partial_.size()));
      emit(partial_, true, on_line);
      partial_.clear();
      overflowed_ = true;
    } else if (newline != std::string_view::npos && partial_.empty()) {
      emit(piece, false, on_line);  // the common case: a whole line in one read, no copy
    } else {
      partial_.append(piece);
      if (newline != std::string_view::npos) {
        emit(partial_, false, on_line);
        partial_.clear();
      }
    }
    if (newline == std::string_view::npos) {
      return;
    }
    overflowed_ = false;
    bytes.remove_prefix(newline + 1);
  }
}

void LineSplitter::clear() {
  partial_.clear();
  overflowed_ = false;
}

}  // namespace bulwark::stdio
