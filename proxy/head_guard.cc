#include "proxy/head_guard.h"

namespace bulwark {

const char* HeadGuard::scan(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size() && in_head_; ++i) {
    const char c = bytes[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c != '\n') {
        return "bare CR in the request head";
      }
      if (!started_) {
        continue;  // empty lines before the request line are ignored (RFC 9112 2.2)
      }
      if (line_start_) {
        in_head_ = false;  // the empty line: the head is complete
        return nullptr;
      }
      line_start_ = true;
      first_line_ = false;
      continue;
    }
    if (c == '\r') {
      after_cr_ = true;
      continue;
    }
    if (c == '\n') {
      return "bare LF as a line end in the request head";
    }
    if (line_start_ && !first_line_ && (c == ' ' || c == '\t')) {
      return "obsolete line folding in the request head";
    }
    started_ = true;
    line_start_ = false;
  }
  return nullptr;
}

}  // namespace bulwark
