// The request-head guard: bare CR, bare LF and obsolete line folding are refused; the body and
// the bytes after the head are never looked at; fragments are handled at every split point.
#include "proxy/http/head_guard.h"

#include <doctest/doctest.h>
#include <string>

using namespace bulwark;

namespace {

// Feeds `bytes` split at every position; every split must give the same verdict.
std::string verdict(const std::string& bytes) {
  std::string whole;
  {
    HeadGuard guard;
    const char* r = guard.scan(bytes);
    whole = r == nullptr ? "ok" : r;
  }
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    HeadGuard guard;
    const char* r = guard.scan(std::string_view(bytes).substr(0, cut));
    if (r == nullptr) {
      r = guard.scan(std::string_view(bytes).substr(cut));
    }
    CHECK_MESSAGE((r == nullptr ? std::string("ok") : std::string(r)) == whole, "split at ", cut);
  }
  return whole;
}

}  // namespace

TEST_CASE("a well-formed head passes, and the body after it is not scanned") {
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\na\nb\r ") == "ok");
  CHECK(verdict("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == "ok");  // a leading empty line
  CHECK(verdict("GET / HTTP/1.1\r\nX: a b\tc\r\n\r\n") == "ok");    // inner whitespace
}

TEST_CASE("bare line ends and folding are refused") {
  CHECK(verdict("GET / HTTP/1.1\nHost: a\r\n\r\n") == "bare LF as a line end in the request head");
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\n\r\n") == "bare LF as a line end in the request head");
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\n\n") == "bare LF as a line end in the request head");
  CHECK(verdict("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") == "bare CR in the request head");
  CHECK(verdict("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n") ==
        "obsolete line folding in the request head");
  CHECK(verdict("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n") ==
        "obsolete line folding in the request head");
}

TEST_CASE("a field line with an empty name is refused") {
  CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n") == "a header field with an empty name");
  CHECK(verdict("GET / HTTP/1.1\r\n:\r\n\r\n") == "a header field with an empty name");
  // A colon elsewhere is no concern of the guard's: in a value, or in the request-target.
  CHECK(verdict("GET http://a:80/ HTTP/1.1\r\nX: ::1\r\n\r\n") == "ok");
}

TEST_CASE("lines longer than the 16-byte blocks the guard skips through") {
  const std::string pad(37, 'v');  // ends line content inside, at, and past block boundaries
  for (std::size_t offset = 0; offset < 20; ++offset) {
    const std::string value = pad.substr(0, 17 + offset);
    const std::string head = "POST /mcp HTTP/1.1\r\nX-Long: " + value;
    CAPTURE(offset);
    CHECK(verdict(head + "\r\nHost: a\r\n\r\n") == "ok");
    CHECK(verdict(head + "\nHost: a\r\n\r\n") == "bare LF as a line end in the request head");
    CHECK(verdict(head + "\rx\r\n\r\n") == "bare CR in the request head");
    CHECK(verdict(head + "\r\n " + value + "\r\n\r\n") ==
          "obsolete line folding in the request head");
  }
}

TEST_CASE("nextMessage starts scanning the following head") {
  HeadGuard guard;
  CHECK(guard.scan("GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\nHost: a\r\n\r\n") == nullptr);
  guard.nextMessage();
  CHECK(std::string(guard.scan("GET /x HTTP/1.1\nHost: a\r\n\r\n")) ==
        "bare LF as a line end in the request head");
}
