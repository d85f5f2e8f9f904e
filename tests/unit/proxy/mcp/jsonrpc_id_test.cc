// Ids compared as values (issue #20 item 2): a server answers with its own spelling of an id.
#include "proxy/mcp/jsonrpc_envelope.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>

namespace bulwark {
namespace {

std::string keyOf(std::string_view id_json) {
  const auto canonical = canonicalIdText(id_json);
  return canonical ? *canonical : std::string(id_json);
}

Envelope answerWithId(EnvelopeParser& parser, std::string_view id_json) {
  const std::string json = R"({"jsonrpc":"2.0","id":)" + std::string(id_json) + R"(,"result":{}})";
  EnvelopeResult result = parser.parse(json);
  REQUIRE(result.error == EnvelopeError::kNone);
  REQUIRE(result.parsed.messages.size() == 1);
  return result.parsed.messages[0];
}

TEST_CASE("canonical ids: common ids are their own key, without a copy") {
  CHECK_FALSE(canonicalIdText("7"));
  CHECK_FALSE(canonicalIdText("-12"));
  CHECK_FALSE(canonicalIdText("0"));
  CHECK_FALSE(canonicalIdText(R"("abc")"));
  CHECK_FALSE(canonicalIdText(R"("550e8400-e29b-41d4-a716-446655440000")"));
  CHECK_FALSE(canonicalIdText(R"("é")"));
  CHECK_FALSE(canonicalIdText("null"));
  CHECK_FALSE(canonicalIdText(""));
}

TEST_CASE("canonical ids: strings compare by their unescaped value") {
  CHECK(keyOf(R"("a\/b")") == R"("a/b")");
  CHECK(keyOf(R"("\u00e9")") == "\"\xC3\xA9\"");
  CHECK(keyOf(R"("\u00E9")") == "\"\xC3\xA9\"");
  CHECK(keyOf(R"("\ud83d\ude00")") == "\"\xF0\x9F\x98\x80\""); // a surrogate pair
  CHECK(keyOf(R"("x\u0041")") == R"("xA")");
  CHECK(keyOf(R"("\"q\"")") == R"("\"q\"")");     // necessary escapes stay as they are
  CHECK(keyOf(R"("\u0022q\u005c")") == R"("\"q\\")");
  CHECK(keyOf(R"("tab\u0009")") == R"("tab\t")");
  CHECK(keyOf(R"("a\\b")") == R"("a\\b")");
  CHECK(keyOf(R"("a\u005cb")") == R"("a\\b")");
}

TEST_CASE("canonical ids: numbers compare by their numeric value") {
  CHECK(keyOf("1.0") == "1");
  CHECK(keyOf("1e0") == "1");
  CHECK(keyOf("1E+0") == "1");
  CHECK(keyOf("10e-1") == "1");
  CHECK(keyOf("0.1e1") == "1");
  CHECK(keyOf("-0") == "0");
  CHECK(keyOf("-0.0e7") == "0");
  CHECK(keyOf("7E+1") == "70");
  CHECK(keyOf("1e22") == "10000000000000000000000");
  CHECK(keyOf("1.5") == "15e-1");
  CHECK(keyOf("1.50") == "15e-1");
  CHECK(keyOf("0.15e1") == "15e-1");
  CHECK(keyOf("-2.5") == "-25e-1");
  CHECK(keyOf("1e400") == "1e400");
  CHECK(keyOf("1e-400") == "1e-400");
  // Big integers stay exact: no rounding through a double.
  CHECK(keyOf("123456789012345678901234567890") == "123456789012345678901234567890");
  CHECK(keyOf("123456789012345678901234567890.0") == "123456789012345678901234567890");
  CHECK(keyOf("12345678901234567890123456789e1") == "123456789012345678901234567890");
  CHECK(keyOf("123456789012345678901234567891") != keyOf("123456789012345678901234567890"));
  CHECK(keyOf("9007199254740993") != keyOf("9007199254740992"));
  // Past 40 digits an integer is written with an exponent, whichever way it was spelled.
  const std::string big = "1" + std::string(45, '0');
  CHECK(keyOf(big) == "1e45");
  CHECK(keyOf("1e45") == "1e45");
  CHECK(keyOf("-" + big) == "-1e45");
}

TEST_CASE("canonical ids: a string never equals a number") {
  CHECK(keyOf(R"("1")") != keyOf("1"));
  CHECK(keyOf(R"("1")") != keyOf("1.0"));
  CHECK(keyOf(R"("1e0")") != keyOf("1e0"));
  CHECK(keyOf(R"("null")") != keyOf("null"));
}

TEST_CASE("the envelope gives each id its key; sameId matches spellings of one value") {
  EnvelopeParser parser;
  const Envelope plain = answerWithId(parser, "7");
  CHECK(plain.id_key.empty()); // the common id costs no second string
  CHECK(plain.idKey() == "7");
  CHECK(sameId(plain, "7"));
  CHECK(sameId(plain, "7.0"));
  CHECK(sameId(plain, "0.7e1"));
  CHECK_FALSE(sameId(plain, "8"));
  CHECK_FALSE(sameId(plain, R"("7")"));
  CHECK_FALSE(sameId(plain, ""));

  const Envelope one = answerWithId(parser, "1.0");
  CHECK(one.id == "1.0"); // the text as sent, ready to echo
  CHECK(one.idKey() == "1");
  CHECK(sameId(one, "1"));
  CHECK(sameId(one, "1e0"));
  CHECK(sameId(one, "1.0"));

  const Envelope slash = answerWithId(parser, R"("a\/b")");
  CHECK(slash.idKey() == R"("a/b")");
  CHECK(sameId(slash, R"("a/b")"));
  CHECK_FALSE(sameId(slash, R"("a\\/b")"));

  const Envelope accent = answerWithId(parser, "\"\xC3\xA9\"");
  CHECK(sameId(accent, R"("\u00e9")"));
  CHECK(sameId(answerWithId(parser, "0"), "-0"));

  const Envelope big = answerWithId(parser, "123456789012345678901234567890");
  CHECK(sameId(big, "123456789012345678901234567890"));
  CHECK(sameId(big, "1.2345678901234567890123456789e29"));
  CHECK_FALSE(sameId(big, "123456789012345678901234567891"));

  // A notification has no id; it answers nothing.
  const EnvelopeResult note = parser.parse(R"({"jsonrpc":"2.0","method":"notifications/x"})");
  REQUIRE(note.parsed.messages.size() == 1);
  CHECK_FALSE(sameId(note.parsed.messages[0], "1"));
}

} // namespace
} // namespace bulwark
