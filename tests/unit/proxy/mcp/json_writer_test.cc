// The one JSON string escaper (moved here from policies/recovery with its tests: fallback answers
// stay byte-identical).
#include "proxy/mcp/json_writer.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>

namespace bulwark {
namespace {

TEST_CASE("fallbackTextResult: a CallToolResult with one text item") {
  CHECK(fallbackTextResult("Weather is unavailable right now") ==
        R"({"content":[{"type":"text","text":"Weather is unavailable right now"}]})");
  CHECK(fallbackTextResult("") == R"({"content":[{"type":"text","text":""}]})");
}

TEST_CASE("JSON string escaping: quotes, backslashes, control characters") {
  CHECK(jsonString(R"(say "hi")") == R"("say \"hi\"")");
  CHECK(jsonString(R"(C:\dir\)") == R"("C:\\dir\\")");
  CHECK(jsonString("line 1\nline 2\r\n") == R"("line 1\nline 2\r\n")");
  CHECK(jsonString("a\tb\bc\fd") == R"("a\tb\bc\fd")");
  CHECK(jsonString(std::string_view("\x01\x1f\x00", 3)) == R"("\u0001\u001f\u0000")");
  CHECK(jsonString("\x7f") == "\"\x7f\""); // DEL is allowed as it is
  CHECK(jsonString("/") == R"("/")");      // no needless escapes
  CHECK(fallbackTextResult("He said \"no\"\n") ==
        R"({"content":[{"type":"text","text":"He said \"no\"\n"}]})");
}

TEST_CASE("JSON string escaping: UTF-8 passes through untouched") {
  const std::string text = "Zürich ☀ 日本 😀"; // 2-, 3- and 4-byte sequences
  CHECK(jsonString(text) == "\"" + text + "\"");
  CHECK(fallbackTextResult(text) ==
        std::string(R"({"content":[{"type":"text","text":")") + text + "\"}]}");
}

TEST_CASE("isJsonNumber: the RFC 8259 grammar") {
  for (const char* good : {"0", "-0", "7", "-12", "1.5", "1e3", "1E+3", "1e-3", "0.0e0", "123456789012345678901234567890"}) {
    CHECK_MESSAGE(isJsonNumber(good), good);
  }
  for (const char* bad : {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1 ", "NaN", "Infinity", "1.5.2"}) {
    CHECK_MESSAGE(!isJsonNumber(bad), bad);
  }
}

} // namespace
} // namespace bulwark
