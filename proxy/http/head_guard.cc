#include "proxy/http/head_guard.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace bulwark {
namespace {

// The index of the first CR or LF at or after `from`, or bytes.size(). Inside a line nothing
// else matters, and lines are most of a head, so they are skipped 16 bytes at a time.
std::size_t nextLineEnd(std::string_view bytes, std::size_t from) {
  const char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t i = from;
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; i + 16 <= size; i += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const int hits = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(chunk, cr), _mm_cmpeq_epi8(chunk, lf)));
    if (hits != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
    }
  }
#endif
  while (i < size && data[i] != '\r' && data[i] != '\n') {
    ++i;
  }
  return i;
}

}  // namespace

const char* HeadGuard::scan(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size() && in_head_; ++i) {
    if (!after_cr_ && !line_start_) {
      i = nextLineEnd(bytes, i);  // the rest of the line: no state changes before its end
      if (i == bytes.size()) {
        break;
      }
    }
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
    if (line_start_ && !first_line_ && c == ':') {
      // RFC 9110 5.1: a field name is a token, never empty. llhttp 8 takes the line and glues
      // its value to the previous field's.
      return "a header field with an empty name";
    }
    started_ = true;
    line_start_ = false;
  }
  return nullptr;
}

}  // namespace bulwark
