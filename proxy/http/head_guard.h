// What llhttp 8 lets through in a request head and a proxy must not: a bare LF as a line end
// (RFC 9112 2.2 allows it, but parsers that disagree about it are how requests get smuggled),
// a bare CR, and obsolete line folding (RFC 9112 5.2: reject or replace; Bulwark forwards field
// values as they came, so it rejects), and a field line with an empty name (RFC 9110 5.1).
// Scans the head bytes of each request as they arrive,
// before the parser sees them; the body is not scanned.
#pragma once

#include <string_view>

namespace bulwark {

class HeadGuard {
public:
  // Scans the next bytes of the connection; stops at the end of the current head. Returns
  // nullptr, or why the head is refused (a static string).
  const char* scan(std::string_view bytes);
  // The message ended: the next byte begins another request's head.
  void nextMessage() { *this = HeadGuard(); }

private:
  bool in_head_ = true;
  bool started_ = false;     // a byte other than CR or LF has been seen in this head
  bool after_cr_ = false;    // the last byte was a CR
  bool line_start_ = true;   // at the beginning of a line
  bool first_line_ = true;   // still in the request line
};

}  // namespace bulwark
