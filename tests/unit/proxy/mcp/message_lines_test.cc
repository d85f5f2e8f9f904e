#include "proxy/mcp/message_lines.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>

namespace bulwark {
namespace {

constexpr std::string_view kProgress =
    R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}})";
constexpr std::string_view kResult =
    R"({"jsonrpc":"2.0","id":7,"result":{"content":[],"resultType":"complete"}})";

TEST_CASE("a body of one message per line is judged on its last message") {
  EnvelopeParser parser;
  const std::string body = std::string(kProgress) + "\n" + std::string(kResult) + "\n";
  CHECK(parser.parse(body).error == EnvelopeError::kInvalidJson); // not one JSON text
  CHECK(hasSeveralLines(body));
  const MessageLines lines = parseMessageLines(parser, body);
  CHECK(lines.count == 2);
  REQUIRE(lines.last.error == EnvelopeError::kNone);
  REQUIRE(lines.last.parsed.messages.size() == 1);
  const Envelope& last = lines.last.parsed.messages[0];
  CHECK(last.kind == MessageKind::kResult);
  CHECK(sameId(last, "7"));
  // Spans point into the last line, a view into the body.
  CHECK(lines.last_line == kResult);
  CHECK(lines.last_line.data() == body.data() + kProgress.size() + 1);
  CHECK(last.text.in(lines.last_line) == kResult);
  CHECK(last.id_span.in(lines.last_line) == "7");
  CHECK(last.result_span.in(lines.last_line) == R"({"content":[],"resultType":"complete"})");
}

TEST_CASE("ugly but valid: CRLF, blank lines, spaces around lines") {
  EnvelopeParser parser;
  const std::string body =
      "\r\n  " + std::string(kProgress) + "  \r\n\r\n\t" + std::string(kResult) + "\r\n\r\n";
  const MessageLines lines = parseMessageLines(parser, body);
  CHECK(lines.count == 2);
  REQUIRE(lines.last.error == EnvelopeError::kNone);
  CHECK(lines.last_line == kResult);
  const std::vector<std::string_view> split = splitMessageLines(body);
  REQUIRE(split.size() == 2);
  CHECK(split[0] == kProgress);
  CHECK(split[1] == kResult);
}

TEST_CASE("one line, or a pretty-printed message, is not several messages") {
  CHECK_FALSE(hasSeveralLines(std::string(kResult)));
  CHECK_FALSE(hasSeveralLines("\n\n" + std::string(kResult) + "\n"));
  CHECK_FALSE(hasSeveralLines(""));
  CHECK(hasSeveralLines("{\n}"));
}

TEST_CASE("a malformed or truncated line keeps the body malformed") {
  EnvelopeParser parser;
  SUBCASE("truncated last line") {
    const std::string body = std::string(kProgress) + "\n" +
                             std::string(kResult.substr(0, kResult.size() - 5));
    const MessageLines lines = parseMessageLines(parser, body);
    CHECK(lines.last.error == EnvelopeError::kInvalidJson);
    CHECK(lines.last.detail.rfind("line 2: ", 0) == 0);
  }
  SUBCASE("a line that is JSON but not JSON-RPC") {
    const std::string body = "{\"hello\":1}\n" + std::string(kResult);
    CHECK(parseMessageLines(parser, body).last.error == EnvelopeError::kInvalidMessage);
  }
  SUBCASE("a batch on a line") {
    const std::string body = std::string(kProgress) + "\n[" + std::string(kResult) + "]";
    CHECK(parseMessageLines(parser, body).last.error == EnvelopeError::kInvalidMessage);
  }
  SUBCASE("nothing but blank lines") {
    CHECK(parseMessageLines(parser, "\r\n \n").last.error == EnvelopeError::kInvalidJson);
  }
}

} // namespace
} // namespace bulwark
