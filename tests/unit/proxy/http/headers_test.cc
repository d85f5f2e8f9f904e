#include "proxy/http/headers.h"

#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

std::string endToEnd(const HeaderList& headers,
                     std::initializer_list<std::string_view> also_drop = {}) {
  std::string out;
  appendEndToEndHeaders(out, headers, also_drop);
  return out;
}

TEST_CASE("equalsIgnoreCase folds ASCII letters only") {
  CHECK(equalsIgnoreCase("Content-Length", "content-length"));
  CHECK(equalsIgnoreCase("CONTENT-LENGTH", "content-length"));
  CHECK(equalsIgnoreCase("", ""));
  CHECK_FALSE(equalsIgnoreCase("Content-Length", "Content-Lengt"));
  CHECK_FALSE(equalsIgnoreCase("a", ""));
  CHECK_FALSE(equalsIgnoreCase("x-a", "x_a"));
  // '@' (0x40) and '`' (0x60) differ by the same bit as 'A' and 'a' but are not letters.
  CHECK_FALSE(equalsIgnoreCase("@", "`"));
  CHECK_FALSE(equalsIgnoreCase("[", "{"));
  // Bytes above 0x7f are compared as they are.
  CHECK(equalsIgnoreCase("\xc3\xa9", "\xc3\xa9"));
  CHECK_FALSE(equalsIgnoreCase("\xc3\xa9", "\xc3\x89"));
}

TEST_CASE("findHeader returns the first field of that name, whatever its case") {
  const HeaderList headers = {
      {"Host", "example"}, {"set-cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"X-Empty", ""}};
  const HeaderField* host = findHeader(headers, "HOST");
  REQUIRE(host != nullptr);
  CHECK(host == &headers[0]);
  const HeaderField* cookie = findHeader(headers, "Set-Cookie");
  REQUIRE(cookie != nullptr);
  CHECK(cookie == &headers[1]);
  CHECK(cookie->value == "a=1");
  const HeaderField* empty = findHeader(headers, "x-empty");
  REQUIRE(empty != nullptr);
  CHECK(empty->value.empty());
  CHECK(findHeader(headers, "Hos") == nullptr);
  CHECK(findHeader(headers, "Hostname") == nullptr);
  CHECK(findHeader({}, "Host") == nullptr);
}

TEST_CASE("headerHasToken splits on commas, trims spaces and tabs, ignores case") {
  CHECK(headerHasToken("close", "close"));
  CHECK(headerHasToken("Close", "close"));
  CHECK(headerHasToken("keep-alive, Upgrade", "upgrade"));
  CHECK(headerHasToken("keep-alive,Upgrade", "UPGRADE"));
  CHECK(headerHasToken("  keep-alive  ,\tupgrade\t", "keep-alive"));
  CHECK(headerHasToken("  keep-alive  ,\tupgrade\t", "upgrade"));
  CHECK(headerHasToken("a,,b", "b"));
  CHECK(headerHasToken("x-one, x-two, x-three", "x-two"));
  // Whole tokens only: no prefix, suffix or substring matches.
  CHECK_FALSE(headerHasToken("keep-alive", "keep"));
  CHECK_FALSE(headerHasToken("keep-alive", "alive"));
  CHECK_FALSE(headerHasToken("closed", "close"));
  CHECK_FALSE(headerHasToken("x-close-y", "close"));
  CHECK_FALSE(headerHasToken("", "close"));
  CHECK_FALSE(headerHasToken(",", "close"));
  // Inner whitespace is part of the token.
  CHECK_FALSE(headerHasToken("keep alive", "keep"));
}

TEST_CASE("appendEndToEndHeaders drops the fixed hop-by-hop set and Content-Length") {
  const HeaderList headers = {{"Connection", "keep-alive"},
                              {"Keep-Alive", "timeout=5"},
                              {"Proxy-Connection", "close"},
                              {"TE", "trailers"},
                              {"Trailer", "X-Sum"},
                              {"Transfer-Encoding", "chunked"},
                              {"Upgrade", "h2c"},
                              {"Content-Length", "12"},
                              {"Content-Type", "application/json"}};
  CHECK(endToEnd(headers) == "Content-Type: application/json\r\n");
}

TEST_CASE("hop-by-hop names match whatever their case") {
  const HeaderList headers = {
      {"CONNECTION", "close"},  {"keep-alive", "1"},     {"PROXY-connection", "close"},
      {"te", "trailers"},       {"TRAILER", "x"},        {"transfer-ENCODING", "chunked"},
      {"upgrade", "websocket"}, {"content-LENGTH", "0"}, {"Accept", "*/*"}};
  CHECK(endToEnd(headers) == "Accept: */*\r\n");
}

TEST_CASE("names that only resemble hop-by-hop fields are kept") {
  const HeaderList headers = {{"Connections", "1"},      {"X-Connection", "close"},
                              {"Content-Length-X", "5"}, {"Content-Type", "text/plain"},
                              {"Tea", "green"},          {"Upgrade-Insecure-Requests", "1"},
                              {"Trailers", "x"}};
  CHECK(endToEnd(headers) ==
        "Connections: 1\r\nX-Connection: close\r\nContent-Length-X: 5\r\n"
        "Content-Type: text/plain\r\nTea: green\r\nUpgrade-Insecure-Requests: 1\r\n"
        "Trailers: x\r\n");
}

TEST_CASE("fields named by Connection are dropped, from any Connection field") {
  const HeaderList headers = {
      {"X-Before", "1"}, {"Connection", "X-Hop-A, x-hop-b"}, {"X-Hop-A", "a"}, {"Accept", "*/*"},
      {"X-HOP-B", "b"},  {"connection", "\tx-hop-c "},       {"X-Hop-C", "c"}, {"X-Hop", "kept"},
      {"X-After", "2"}};
  CHECK(endToEnd(headers) == "X-Before: 1\r\nAccept: */*\r\nX-Hop: kept\r\nX-After: 2\r\n");
}

TEST_CASE("a Connection token may name an end-to-end field, which is then dropped") {
  // RFC 9110 section 7.6.1: the sender lists the fields meant for the next hop only.
  const HeaderList headers = {
      {"Connection", "Authorization"}, {"Authorization", "Bearer t"}, {"Host", "h"}};
  CHECK(endToEnd(headers) == "Host: h\r\n");
}

TEST_CASE("without a Connection field nothing else is dropped") {
  const HeaderList headers = {{"Close", "x"}, {"Keep", "y"}};
  CHECK(endToEnd(headers) == "Close: x\r\nKeep: y\r\n");
}

TEST_CASE("also_drop removes more names, case-insensitively") {
  const HeaderList headers = {
      {"Host", "upstream:80"}, {"mcp-session-id", "abc"}, {"Accept", "*/*"}, {"HOST", "dup"}};
  CHECK(endToEnd(headers, {"host"}) == "mcp-session-id: abc\r\nAccept: */*\r\n");
  CHECK(endToEnd(headers, {"Host", "Mcp-Session-Id"}) == "Accept: */*\r\n");
  CHECK(endToEnd(headers, {"Hos"}) ==
        "Host: upstream:80\r\nmcp-session-id: abc\r\nAccept: */*\r\nHOST: dup\r\n");
}

TEST_CASE("end-to-end fields keep their order, bytes and duplicates") {
  const HeaderList headers = {{"Set-Cookie", "a=1; Path=/; HttpOnly"},
                              {"x-MiXeD-case", "  value with  inner  spaces \t"},
                              {"Transfer-Encoding", "chunked"},
                              {"Set-Cookie", "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT"},
                              {"X-Empty", ""},
                              {"Cache-Control", "no-cache, no-store"},
                              {"X-Utf8", "\xc3\xa9t\xc3\xa9"}};
  CHECK(endToEnd(headers) == "Set-Cookie: a=1; Path=/; HttpOnly\r\n"
                             "x-MiXeD-case:   value with  inner  spaces \t\r\n"
                             "Set-Cookie: b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                             "X-Empty: \r\n"
                             "Cache-Control: no-cache, no-store\r\n"
                             "X-Utf8: \xc3\xa9t\xc3\xa9\r\n");
}

TEST_CASE("appendEndToEndHeaders appends after what `out` already holds") {
  std::string out = "HTTP/1.1 200 OK\r\n";
  appendEndToEndHeaders(out, {{"A", "1"}, {"Connection", "close"}, {"B", "2"}});
  CHECK(out == "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n");
  std::string unchanged = "x";
  appendEndToEndHeaders(unchanged, {});
  CHECK(unchanged == "x");
}

} // namespace
} // namespace bulwark

namespace bulwark {
namespace {

HeaderList fromFragments() {
  HeaderList headers;
  headers.appendToName("Con");
  headers.appendToName("tent-Type");
  headers.appendToValue("application/");
  headers.appendToValue("json \t");
  headers.appendToName("X-Empty");
  headers.appendToValue("");  // llhttp reports an empty value as an empty span
  headers.appendToName("Accept");
  headers.appendToValue("*/*");
  headers.seal();
  return headers;
}

TEST_CASE("a HeaderList built from fragments joins them and trims each value's end") {
  const HeaderList headers = fromFragments();
  REQUIRE(headers.size() == 3);
  CHECK(headers[0].name == "Content-Type");
  CHECK(headers[0].value == "application/json");
  CHECK(headers[1].name == "X-Empty");
  CHECK(headers[1].value.empty());
  CHECK(headers[2].value == "*/*");
  CHECK(headers.line(0) == "Content-Type: application/json\r\n");
  CHECK(headers.line(1) == "X-Empty: \r\n");
  CHECK(headers.line(2) == "Accept: */*\r\n");
  CHECK(endToEnd(headers) == "Content-Type: application/json\r\nX-Empty: \r\nAccept: */*\r\n");
}

TEST_CASE("HeaderList copies and moves own their bytes: the views follow them") {
  HeaderList original = fromFragments();
  // A long value, so the storage is on the heap and a move could keep the same bytes.
  original.add("X-Long", std::string(200, 'v'));
  const HeaderList copy = original;
  HeaderList assigned;
  assigned.add("Old", "field");
  assigned = copy;
  HeaderList moved = std::move(original);
  original.add("Reused", "after the move");  // NOLINT(bugprone-use-after-move): reuse is allowed
  for (const HeaderList* list : std::initializer_list<const HeaderList*>{&copy, &assigned, &moved}) {
    REQUIRE(list->size() == 4);
    CHECK((*list)[0].value == "application/json");
    CHECK((*list)[3].value == std::string(200, 'v'));
    CHECK(findHeader(*list, "accept")->value == "*/*");
  }
  CHECK(copy[0].name.data() != moved[0].name.data());
  REQUIRE(original.size() == 1);
  CHECK(original[0].value == "after the move");

  HeaderList small;
  small.add("A", "b");  // short enough for the short-string buffer, which a move copies
  const HeaderList small_moved = std::move(small);
  CHECK(small_moved[0].name == "A");
  CHECK(small_moved[0].value == "b");
  CHECK(small_moved.line(0) == "A: b\r\n");
}

TEST_CASE("clear() empties a HeaderList for the next message") {
  HeaderList headers = fromFragments();
  headers.clear();
  CHECK(headers.empty());
  CHECK(findHeader(headers, "accept") == nullptr);
  headers.appendToName("Host");
  headers.appendToValue("h");
  headers.seal();
  REQUIRE(headers.size() == 1);
  CHECK(headers.line(0) == "Host: h\r\n");
}

TEST_CASE("a header value converts to std::string where a copy is wanted") {
  const HeaderList headers = {{"Mcp-Session-Id", "abc"}};
  const HeaderField* field = findHeader(headers, "mcp-session-id");
  REQUIRE(field != nullptr);
  const std::string copied = field == nullptr ? std::string() : field->value;
  CHECK(copied == "abc");
}

}  // namespace
}  // namespace bulwark

namespace bulwark {
namespace {

// equalsIgnoreCase compares eight bytes at a time: check it against the byte-by-byte rule for
// every pair of byte values, at every position of a word and in the tail.
TEST_CASE("equalsIgnoreCase agrees with byte-wise ASCII folding for every byte pair") {
  auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (const std::size_t size : {1U, 7U, 8U, 9U, 16U, 19U}) {
    for (std::size_t at : {std::size_t{0}, size / 2, size - 1}) {
      std::string a(size, 'x');
      std::string b(size, 'X');
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          const bool expected = fold(static_cast<unsigned char>(x)) == fold(static_cast<unsigned char>(y));
          if (equalsIgnoreCase(a, b) != expected) {
            FAIL_CHECK("size " << size << " at " << at << ": bytes " << x << " and " << y);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace bulwark
