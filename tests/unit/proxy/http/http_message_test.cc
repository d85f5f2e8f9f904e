#include "proxy/http/http_message.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

namespace bulwark {
namespace {

struct Message {
  HttpHead head;
  std::string body;
  bool complete = false;
};

// Records every message; can pause after a head or a message, or abort in a body.
class RecordingSink final : public HttpMessageSink {
public:
  bool onHead(HttpHead& head) override {
    messages.push_back({head, {}, false});
    return !pause_on_head;
  }
  bool onBody(std::string_view bytes) override {
    body_calls += 1;
    messages.back().body.append(bytes);
    return !abort_in_body;
  }
  bool onMessageComplete() override {
    messages.back().complete = true;
    return !pause_on_complete;
  }

  std::vector<Message> messages;
  int body_calls = 0;
  bool pause_on_head = false;
  bool pause_on_complete = false;
  bool abort_in_body = false;
};

constexpr std::size_t kLimit = 64 * 1024;

void checkSameHead(const HttpHead& a, const HttpHead& b) {
  CHECK(a.method == b.method);
  CHECK(a.target == b.target);
  CHECK(a.status == b.status);
  CHECK(a.reason == b.reason);
  CHECK(a.version_major == b.version_major);
  CHECK(a.version_minor == b.version_minor);
  CHECK(a.content_length == b.content_length);
  CHECK(a.chunked == b.chunked);
  CHECK(a.keep_alive == b.keep_alive);
  REQUIRE(a.headers.size() == b.headers.size());
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    CHECK(a.headers[i].name == b.headers[i].name);
    CHECK(a.headers[i].value == b.headers[i].value);
  }
}

// Feeds all of `bytes` at once, expecting every byte taken.
RecordingSink parseWhole(llhttp_type_t type, std::string_view bytes) {
  RecordingSink sink;
  HttpParser parser(type, sink, kLimit);
  const ParseOutcome outcome = parser.execute(bytes);
  INFO("reason: ", parser.errorReason());
  CHECK(outcome.status == ParseStatus::kOk);
  CHECK(outcome.consumed == bytes.size());
  return sink;
}

// The parser's verdict on `bytes` fed at once; kError must come with a reason.
ParseStatus verdict(llhttp_type_t type, std::string_view bytes, std::string* reason = nullptr) {
  RecordingSink sink;
  HttpParser parser(type, sink, kLimit);
  const ParseOutcome outcome = parser.execute(bytes);
  if (outcome.status == ParseStatus::kError) {
    CHECK(outcome.consumed == 0);
    CHECK_FALSE(parser.errorReason().empty());
  }
  if (reason != nullptr) {
    *reason = std::string(parser.errorReason());
  }
  return outcome.status;
}

const std::string kRequest = "POST /mcp?session=abc%20d HTTP/1.1\r\n"
                             "Host: 127.0.0.1:8080\r\n"
                             "Content-Type: application/json\r\n"
                             "Accept: application/json, text/event-stream\r\n"
                             "X-Padded:  \t padded value\r\n"
                             "Mcp-Session-Id: 1868a90c\r\n"
                             "Content-Length: 11\r\n"
                             "\r\n"
                             "{\"id\":1234}";

TEST_CASE("a request head and Content-Length body") {
  const RecordingSink sink = parseWhole(HTTP_REQUEST, kRequest);
  REQUIRE(sink.messages.size() == 1);
  const Message& m = sink.messages[0];
  CHECK(m.complete);
  CHECK(m.head.method == "POST");
  CHECK(m.head.target == "/mcp?session=abc%20d");
  CHECK(m.head.status == 0);
  CHECK(m.head.version_major == 1);
  CHECK(m.head.version_minor == 1);
  CHECK(m.head.keep_alive);
  CHECK_FALSE(m.head.chunked);
  CHECK(m.head.content_length == std::optional<std::uint64_t>(11));
  REQUIRE(m.head.headers.size() == 6);
  CHECK(m.head.headers[0].name == "Host");
  CHECK(m.head.headers[0].value == "127.0.0.1:8080");
  CHECK(m.head.headers[2].value == "application/json, text/event-stream");
  // Leading whitespace is not part of the value (RFC 9112 section 5.1, OWS).
  CHECK(m.head.headers[3].name == "X-Padded");
  CHECK(m.head.headers[3].value == "padded value");
  CHECK(m.head.headers[5].name == "Content-Length");
  CHECK(m.head.headers[5].value == "11");
  CHECK(m.body == "{\"id\":1234}");
}

TEST_CASE("a head delivered in fragments of every size gives the same HttpHead and body") {
  const RecordingSink whole = parseWhole(HTTP_REQUEST, kRequest);
  REQUIRE(whole.messages.size() == 1);
  for (std::size_t size = 1; size <= kRequest.size(); ++size) {
    INFO("fragment size: ", size);
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, kLimit);
    for (std::size_t at = 0; at < kRequest.size(); at += size) {
      const std::string_view piece = std::string_view(kRequest).substr(at, size);
      const ParseOutcome outcome = parser.execute(piece);
      REQUIRE(outcome.status == ParseStatus::kOk);
      CHECK(outcome.consumed == piece.size());
      CHECK(parser.inMessage() == (at + piece.size() < kRequest.size()));
    }
    REQUIRE(sink.messages.size() == 1);
    checkSameHead(sink.messages[0].head, whole.messages[0].head);
    CHECK(sink.messages[0].body == whole.messages[0].body);
    CHECK(sink.messages[0].complete);
  }
}

TEST_CASE("a response head delivered byte by byte gives the same HttpHead") {
  const std::string response =
      "HTTP/1.1 404 Not Found Here\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-B: 2\r\n"
      "Content-Length: 4\r\n\r\nnope";
  const RecordingSink whole = parseWhole(HTTP_RESPONSE, response);
  REQUIRE(whole.messages.size() == 1);
  CHECK(whole.messages[0].head.status == 404);
  CHECK(whole.messages[0].head.reason == "Not Found Here");
  CHECK(whole.messages[0].head.method.empty());
  CHECK(whole.messages[0].body == "nope");

  RecordingSink sink;
  HttpParser parser(HTTP_RESPONSE, sink, kLimit);
  for (const char c : response) {
    REQUIRE(parser.execute(std::string_view(&c, 1)).status == ParseStatus::kOk);
  }
  REQUIRE(sink.messages.size() == 1);
  checkSameHead(sink.messages[0].head, whole.messages[0].head);
  CHECK(sink.messages[0].body == "nope");
  CHECK(sink.messages[0].complete);
}

TEST_CASE("an empty header value does not merge its name with the next field's") {
  const RecordingSink sink =
      parseWhole(HTTP_REQUEST, "GET / HTTP/1.1\r\nX-Empty:\r\nX-Next: 1\r\nX-Blank:   \r\n"
                               "X-Last: 2\r\n\r\n");
  REQUIRE(sink.messages.size() == 1);
  const HeaderList& headers = sink.messages[0].head.headers;
  REQUIRE(headers.size() == 4);
  CHECK(headers[0].name == "X-Empty");
  CHECK(headers[0].value.empty());
  CHECK(headers[1].name == "X-Next");
  CHECK(headers[1].value == "1");
  CHECK(headers[2].name == "X-Blank");
  CHECK(headers[2].value.empty());
  CHECK(headers[3].name == "X-Last");
  CHECK(headers[3].value == "2");
}

TEST_CASE("an empty header value split across fragments still ends its field") {
  const std::string request = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Next: 1\r\n\r\n";
  RecordingSink sink;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);
  for (const char c : request) {
    REQUIRE(parser.execute(std::string_view(&c, 1)).status == ParseStatus::kOk);
  }
  REQUIRE(sink.messages.size() == 1);
  const HeaderList& headers = sink.messages[0].head.headers;
  REQUIRE(headers.size() == 2);
  CHECK(headers[0].name == "X-Empty");
  CHECK(headers[1].name == "X-Next");
}

TEST_CASE("a chunked request body is de-chunked; extensions and trailers are accepted") {
  const std::string request = "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n"
                              "1;ext=value\r\n \r\n"
                              "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                              "0\r\nX-Trailer: t\r\n\r\n";
  const RecordingSink sink = parseWhole(HTTP_REQUEST, request);
  REQUIRE(sink.messages.size() == 1);
  const Message& m = sink.messages[0];
  CHECK(m.complete);
  CHECK(m.head.chunked);
  CHECK_FALSE(m.head.content_length.has_value());
  CHECK(m.body == "hello abcdefghijklmnopqrstuvwxyz");
}

TEST_CASE("a chunked body fed byte by byte arrives whole") {
  const std::string request =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  RecordingSink sink;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);
  for (const char c : request) {
    REQUIRE(parser.execute(std::string_view(&c, 1)).status == ParseStatus::kOk);
  }
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].body == "abcde");
  CHECK(sink.messages[0].complete);
  CHECK_FALSE(parser.inMessage());
}

TEST_CASE("a chunked response body") {
  const RecordingSink sink = parseWhole(
      HTTP_RESPONSE,
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7\r\ndata: 1\r\n0\r\n\r\n");
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].head.status == 200);
  CHECK(sink.messages[0].head.chunked);
  CHECK(sink.messages[0].body == "data: 1");
  CHECK(sink.messages[0].complete);
}

TEST_CASE("Content-Length 0 and a bodiless GET complete at the end of the head") {
  const RecordingSink sink = parseWhole(
      HTTP_REQUEST, "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(sink.messages.size() == 2);
  CHECK(sink.messages[0].complete);
  CHECK_FALSE(sink.messages[0].head.content_length.has_value());
  CHECK(sink.messages[1].complete);
  CHECK(sink.messages[1].head.content_length == std::optional<std::uint64_t>(0));
  CHECK(sink.body_calls == 0);
}

TEST_CASE("HTTP/1.0 and Connection decide keep_alive") {
  struct Case {
    const char* request;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const Case& c : cases) {
    INFO("request: ", c.request);
    const RecordingSink sink = parseWhole(HTTP_REQUEST, c.request);
    REQUIRE(sink.messages.size() == 1);
    CHECK(sink.messages[0].head.keep_alive == c.keep_alive);
  }
  const RecordingSink v10 = parseWhole(HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n");
  CHECK(v10.messages[0].head.version_minor == 0);
}

TEST_CASE("pausing at message end reports the bytes taken; resume parses the next message") {
  const std::string first = "POST /one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second =
      "POST /two HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  const std::string third = "GET /three HTTP/1.1\r\n\r\n";
  const std::string all = first + second + third;

  RecordingSink sink;
  sink.pause_on_complete = true;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);

  ParseOutcome outcome = parser.execute(all);
  REQUIRE(outcome.status == ParseStatus::kPaused);
  CHECK(outcome.consumed == first.size());
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].head.target == "/one");
  CHECK(sink.messages[0].body == "abc");
  CHECK(sink.messages[0].complete);
  CHECK_FALSE(parser.inMessage());

  parser.resume();
  std::string_view rest = std::string_view(all).substr(outcome.consumed);
  outcome = parser.execute(rest);
  REQUIRE(outcome.status == ParseStatus::kPaused);
  CHECK(outcome.consumed == second.size());
  REQUIRE(sink.messages.size() == 2);
  CHECK(sink.messages[1].head.target == "/two");
  CHECK(sink.messages[1].body == "xy");
  CHECK(sink.messages[1].complete);

  parser.resume();
  rest.remove_prefix(outcome.consumed);
  outcome = parser.execute(rest);
  REQUIRE(outcome.status == ParseStatus::kPaused);
  CHECK(outcome.consumed == third.size());
  REQUIRE(sink.messages.size() == 3);
  CHECK(sink.messages[2].head.target == "/three");
  CHECK(sink.messages[2].head.method == "GET");

  // Nothing is left; after resume the parser takes a new message as usual.
  parser.resume();
  sink.pause_on_complete = false;
  outcome = parser.execute("GET /four HTTP/1.1\r\n\r\n");
  CHECK(outcome.status == ParseStatus::kOk);
  REQUIRE(sink.messages.size() == 4);
  CHECK(sink.messages[3].head.target == "/four");
}

TEST_CASE("pausing after a head: resume and the rest delivers the body") {
  const std::string head = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
  const std::string all = head + "hello";
  RecordingSink sink;
  sink.pause_on_head = true;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);
  ParseOutcome outcome = parser.execute(all);
  REQUIRE(outcome.status == ParseStatus::kPaused);
  CHECK(outcome.consumed == head.size());
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].body.empty());
  CHECK_FALSE(sink.messages[0].complete);
  CHECK(parser.inMessage());

  parser.resume();
  outcome = parser.execute(std::string_view(all).substr(head.size()));
  CHECK(outcome.status == ParseStatus::kOk);
  CHECK(sink.messages[0].body == "hello");
  CHECK(sink.messages[0].complete);
}

TEST_CASE("a sink that refuses a body aborts the message with an error") {
  RecordingSink sink;
  sink.abort_in_body = true;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);
  const ParseOutcome outcome = parser.execute("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(outcome.status == ParseStatus::kError);
  REQUIRE(sink.messages.size() == 1);
  CHECK_FALSE(sink.messages[0].complete);
}

TEST_CASE("max_head_bytes is enforced on requests and responses") {
  SUBCASE("a long header value") {
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, 100);
    const std::string request = "GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n";
    CHECK(parser.execute(request).status == ParseStatus::kError);
    CHECK(parser.errorReason() == "header section larger than 100 bytes");
    CHECK(sink.messages.empty());
  }
  SUBCASE("a long target") {
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, 100);
    CHECK(parser.execute("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n").status ==
          ParseStatus::kError);
    CHECK(sink.messages.empty());
  }
  SUBCASE("many small fields") {
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, 100);
    std::string request = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 40; ++i) {
      request += "A: b\r\n";
    }
    request += "\r\n";
    CHECK(parser.execute(request).status == ParseStatus::kError);
    CHECK(sink.messages.empty());
  }
  SUBCASE("an oversized head fed byte by byte") {
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, 100);
    const std::string request = "GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n";
    ParseStatus status = ParseStatus::kOk;
    for (std::size_t i = 0; i < request.size() && status == ParseStatus::kOk; ++i) {
      status = parser.execute(std::string_view(request).substr(i, 1)).status;
    }
    CHECK(status == ParseStatus::kError);
    CHECK(sink.messages.empty());
  }
  SUBCASE("a long reason phrase in a response") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, 100);
    CHECK(parser.execute("HTTP/1.1 200 " + std::string(200, 'r') + "\r\n\r\n").status ==
          ParseStatus::kError);
    CHECK(sink.messages.empty());
  }
  SUBCASE("the body does not count, and each message has its own budget") {
    RecordingSink sink;
    HttpParser parser(HTTP_REQUEST, sink, 100);
    const std::string one = "POST /a HTTP/1.1\r\nX-Pad: " + std::string(50, 'p') +
                            "\r\nContent-Length: 300\r\n\r\n" + std::string(300, 'b');
    const ParseOutcome outcome = parser.execute(one + one + one);
    INFO("reason: ", parser.errorReason());
    CHECK(outcome.status == ParseStatus::kOk);
    REQUIRE(sink.messages.size() == 3);
    CHECK(sink.messages[2].body.size() == 300);
  }
}

TEST_CASE("an error is sticky: later bytes are refused too") {
  RecordingSink sink;
  HttpParser parser(HTTP_REQUEST, sink, kLimit);
  CHECK(parser.execute("NOT HTTP AT ALL\r\n\r\n").status == ParseStatus::kError);
  const std::string reason(parser.errorReason());
  CHECK_FALSE(reason.empty());
  CHECK(parser.execute("GET / HTTP/1.1\r\n\r\n").status == ParseStatus::kError);
  CHECK(parser.errorReason() == reason);
  CHECK(sink.messages.empty());
}

TEST_CASE("request smuggling vectors are refused") {
  std::string reason;
  SUBCASE("Content-Length together with Transfer-Encoding: chunked") {
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "0\r\n\r\n",
                  &reason) == ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                  "0\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("two different Content-Length values") {
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                  &reason) == ParseStatus::kError);
  }
  SUBCASE("two equal Content-Length values (llhttp refuses any repeat)") {
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc") ==
          ParseStatus::kError);
  }
  SUBCASE("a Content-Length list") {
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc") ==
          ParseStatus::kError);
  }
  SUBCASE("a Content-Length that is not a number") {
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab") ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na") ==
          ParseStatus::kError);
  }
  SUBCASE("Transfer-Encoding whose last coding is not chunked") {
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                                "0\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("an invalid chunk size") {
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                  &reason) == ParseStatus::kError);
    CHECK(reason.starts_with("HPE_INVALID_CHUNK_SIZE"));
    CHECK(
        verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n") ==
        ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "fffffffffffffffffff\r\n") == ParseStatus::kError);
  }
  SUBCASE("a chunk with more data than its size") {
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "2\r\nabc\r\n0\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("whitespace between a framing field's name and its colon") {
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", &reason) ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length\t: 3\r\n\r\nabc") ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n"
                                "Content-Length: 3\r\n\r\nabc") == ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"
                                "3\r\nabc\r\n0\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("whitespace before the first field") {
    CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1\r\n Host: h\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("Transfer-Encoding repeated, or not ending in chunked") {
    CHECK(verdict(HTTP_REQUEST,
                  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\nabc") ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"
                                "0\r\n\r\n") == ParseStatus::kError);
  }
  SUBCASE("a NUL or CR inside a header value") {
    CHECK(verdict(HTTP_REQUEST, std::string("GET / HTTP/1.1\r\nX-A: a") + '\0' + "b\r\n\r\n") ==
          ParseStatus::kError);
    CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n") == ParseStatus::kError);
  }
  INFO("reason: ", reason);
}

TEST_CASE("responses with conflicting framing are refused") {
  CHECK(verdict(HTTP_RESPONSE,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok") ==
        ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "x\r\n") == ParseStatus::kError);
}

// llhttp 8.1 as built here (LLHTTP_STRICT_MODE 0; strict mode behaves the same for these) takes
// an obs-fold and unfolds it: the CRLF is dropped, the folding whitespace stays. RFC 9112
// section 5.2 allows that instead of a 400, provided no CR or LF reaches the value.
TEST_CASE("obsolete line folding is unfolded: no CR or LF reaches the value") {
  const RecordingSink sink = parseWhole(
      HTTP_REQUEST,
      "GET / HTTP/1.1\r\nX-Folded: one\r\n two\r\nX-Tab: a\r\n\tb\r\nX-After: 1\r\n\r\n");
  REQUIRE(sink.messages.size() == 1);
  const HeaderList& headers = sink.messages[0].head.headers;
  REQUIRE(headers.size() == 3);
  CHECK(headers[0].name == "X-Folded");
  CHECK(headers[0].value == "one two");
  CHECK(headers[1].name == "X-Tab");
  CHECK(headers[1].value == "a\tb");
  CHECK(headers[2].name == "X-After");
  for (const HeaderField& field : headers) {
    CHECK(field.value.find_first_of("\r\n") == std::string::npos);
  }
}

// What llhttp 8.1 does with a bare LF (the same with and without LLHTTP_STRICT_MODE): a field
// line ending in LF alone is refused; a bare LF ending the request line or the header section
// is taken as a line end, which RFC 9112 section 2.2 permits.
TEST_CASE("bare LF: refused after a field line, taken after the start line and the head") {
  std::string reason;
  CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n", &reason) ==
        ParseStatus::kError);
  CHECK(reason.starts_with("HPE_INVALID_HEADER_TOKEN"));
  CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\n\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok") == ParseStatus::kError);
  // Bare LF inside a chunked body's framing is refused too.
  CHECK(verdict(HTTP_REQUEST, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\nabc\n0\n\n") == ParseStatus::kError);

  const RecordingSink after_start = parseWhole(HTTP_REQUEST, "GET /a HTTP/1.1\nHost: h\r\n\r\n");
  REQUIRE(after_start.messages.size() == 1);
  CHECK(after_start.messages[0].head.target == "/a");
  REQUIRE(after_start.messages[0].head.headers.size() == 1);
  CHECK(after_start.messages[0].head.headers[0].value == "h");

  const RecordingSink after_head =
      parseWhole(HTTP_REQUEST, "GET /b HTTP/1.1\r\nHost: h\r\n\nGET /c HTTP/1.1\r\n\r\n");
  REQUIRE(after_head.messages.size() == 2);
  CHECK(after_head.messages[0].head.target == "/b");
  CHECK(after_head.messages[1].head.target == "/c");
}

TEST_CASE("malformed start lines are refused") {
  CHECK(verdict(HTTP_REQUEST, "GET\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_REQUEST, "GET / HTTP/9.9\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_REQUEST, "get / HTTP/1.1\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_REQUEST, "GET / HTTP/1.1 extra\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE, "HTTP/1.1 2000 OK\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE, "HTTP/1.1 OK\r\n\r\n") == ParseStatus::kError);
  CHECK(verdict(HTTP_RESPONSE, "HTTX/1.1 200 OK\r\n\r\n") == ParseStatus::kError);
}

TEST_CASE("a HEAD response with expectNoBody completes without its announced body") {
  RecordingSink sink;
  HttpParser parser(HTTP_RESPONSE, sink, kLimit);
  parser.expectNoBody(true);
  const ParseOutcome outcome =
      parser.execute("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(outcome.status == ParseStatus::kOk);
  REQUIRE(sink.messages.size() == 2);
  CHECK(sink.messages[0].head.content_length == std::optional<std::uint64_t>(10));
  CHECK(sink.messages[0].complete);
  CHECK(sink.messages[0].body.empty());
  CHECK(sink.messages[1].complete);
  CHECK(sink.messages[1].body.empty());
  CHECK(sink.body_calls == 0);
  CHECK_FALSE(parser.inMessage());
}

TEST_CASE("without expectNoBody the same response waits for its body") {
  RecordingSink sink;
  HttpParser parser(HTTP_RESPONSE, sink, kLimit);
  CHECK(parser.execute("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n").status == ParseStatus::kOk);
  REQUIRE(sink.messages.size() == 1);
  CHECK_FALSE(sink.messages[0].complete);
  CHECK(parser.inMessage());
}

TEST_CASE("a close-delimited response completes on finish()") {
  RecordingSink sink;
  HttpParser parser(HTTP_RESPONSE, sink, kLimit);
  CHECK(parser.execute("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ").status ==
        ParseStatus::kOk);
  CHECK(parser.execute("world").status == ParseStatus::kOk);
  REQUIRE(sink.messages.size() == 1);
  CHECK_FALSE(sink.messages[0].complete);
  CHECK(parser.inMessage());
  CHECK_FALSE(sink.messages[0].head.keep_alive); // only the close can end it
  CHECK(parser.finish() == ParseStatus::kOk);
  CHECK(sink.messages[0].complete);
  CHECK(sink.messages[0].body == "hello world");
  CHECK_FALSE(parser.inMessage());
}

TEST_CASE("finish() on a sink that pauses at completion is still a clean end") {
  RecordingSink sink;
  sink.pause_on_complete = true;
  HttpParser parser(HTTP_RESPONSE, sink, kLimit);
  CHECK(parser.execute("HTTP/1.0 200 OK\r\n\r\nbody").status == ParseStatus::kOk);
  CHECK(parser.finish() == ParseStatus::kOk);
  REQUIRE(sink.messages.size() == 1);
  CHECK(sink.messages[0].complete);
  CHECK(sink.messages[0].body == "body");
}

TEST_CASE("finish() reports a response cut short") {
  SUBCASE("idle: nothing was cut") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    CHECK(parser.finish() == ParseStatus::kOk);
  }
  SUBCASE("after a complete response") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    CHECK(parser.execute("HTTP/1.1 204 No Content\r\n\r\n").status == ParseStatus::kOk);
    CHECK(parser.finish() == ParseStatus::kOk);
  }
  SUBCASE("in the head") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    CHECK(parser.execute("HTTP/1.1 200 OK\r\nContent-Le").status == ParseStatus::kOk);
    CHECK(parser.finish() == ParseStatus::kError);
  }
  SUBCASE("short of its Content-Length") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    CHECK(parser.execute("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").status ==
          ParseStatus::kOk);
    CHECK(parser.finish() == ParseStatus::kError);
    REQUIRE(sink.messages.size() == 1);
    CHECK_FALSE(sink.messages[0].complete);
  }
  SUBCASE("before its last chunk") {
    RecordingSink sink;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    CHECK(parser.execute("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
              .status == ParseStatus::kOk);
    CHECK(parser.finish() == ParseStatus::kError);
  }
}

TEST_CASE("1xx interim responses come before the final one") {
  SUBCASE("100 Continue") {
    const RecordingSink sink =
        parseWhole(HTTP_RESPONSE,
                   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    REQUIRE(sink.messages.size() == 2);
    CHECK(sink.messages[0].head.status == 100);
    CHECK(sink.messages[0].complete);
    CHECK(sink.messages[0].body.empty());
    CHECK(sink.messages[1].head.status == 200);
    CHECK(sink.messages[1].body == "ok");
    CHECK(sink.messages[1].complete);
  }
  SUBCASE("two 103 Early Hints with fields, then a chunked answer") {
    const RecordingSink sink =
        parseWhole(HTTP_RESPONSE,
                   "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n"
                   "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    REQUIRE(sink.messages.size() == 3);
    CHECK(sink.messages[0].head.status == 103);
    REQUIRE(sink.messages[0].head.headers.size() == 1);
    CHECK(sink.messages[0].head.headers[0].value == "</a.css>; rel=preload");
    CHECK(sink.messages[1].head.headers[0].value == "</b.js>; rel=preload");
    CHECK(sink.messages[2].head.status == 201);
    // Fields of an interim response do not leak into the final head.
    REQUIRE(sink.messages[2].head.headers.size() == 1);
    CHECK(sink.messages[2].head.headers[0].name == "Transfer-Encoding");
    CHECK(sink.messages[2].body == "x");
  }
  SUBCASE("a pausing sink stops after the interim response") {
    RecordingSink sink;
    sink.pause_on_complete = true;
    HttpParser parser(HTTP_RESPONSE, sink, kLimit);
    const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
    const std::string final_response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ParseOutcome outcome = parser.execute(interim + final_response);
    REQUIRE(outcome.status == ParseStatus::kPaused);
    CHECK(outcome.consumed == interim.size());
    parser.resume();
    outcome = parser.execute(final_response);
    CHECK(outcome.status == ParseStatus::kPaused);
    CHECK(outcome.consumed == final_response.size());
    REQUIRE(sink.messages.size() == 2);
    CHECK(sink.messages[1].head.status == 200);
  }
}

} // namespace
} // namespace bulwark
