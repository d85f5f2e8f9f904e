#include "proxy/mcp/mcp_headers.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>

namespace bulwark {
namespace {

Envelope request(EnvelopeParser& parser, std::string_view json) {
  EnvelopeResult result = parser.parse(json);
  REQUIRE(result.error == EnvelopeError::kNone);
  REQUIRE(result.parsed.messages.size() == 1);
  return result.parsed.messages[0];
}

TEST_CASE("Base64 sentinel values are decoded; plain values are taken as they are") {
  struct Row {
    std::string_view header;
    std::string_view text;
  };
  // The specification's own examples of the encoding.
  const Row rows[] = {
      {"us-west1", "us-west1"},
      {"=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, \xe4\xb8\x96\xe7\x95\x8c"},
      {"=?base64?IHBhZGRlZCA=?=", " padded "},
      {"=?base64?bGluZTEKbGluZTI=?=", "line1\nline2"},
      {"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?="},
      {"=?base64?IHBhZGRlZCA?=", " padded "}, // padding left out
      {"=?BASE64?eA==?=", "=?BASE64?eA==?="}, // markers are case-sensitive: a plain value
      {"=?base64?\?=", ""}, // empty value
  };
  for (const Row& row : rows) {
    CAPTURE(row.header);
    const std::optional<McpHeaderText> decoded = decodeMcpHeaderValue(row.header);
    REQUIRE(decoded.has_value());
    CHECK(decoded->text() == row.text);
  }
  CHECK_FALSE(decodeMcpHeaderValue("=?base64?not base64!?=").has_value());
  CHECK_FALSE(decodeMcpHeaderValue("=?base64?A?=").has_value()); // impossible length
}

TEST_CASE("headers that match the body pass; absent headers are not required") {
  EnvelopeParser parser;
  const Envelope call = request(
      parser, R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}})");
  CHECK_FALSE(headerMismatch({}, call).has_value());
  CHECK_FALSE(headerMismatch({"tools/call", "get_weather"}, call).has_value());
  CHECK_FALSE(headerMismatch({"tools/call", std::nullopt}, call).has_value());
  CHECK_FALSE(headerMismatch({std::nullopt, "=?base64?Z2V0X3dlYXRoZXI=?="}, call).has_value());

  const Envelope read = request(parser, R"({"jsonrpc":"2.0","id":2,"method":"resources/read",
      "params":{"uri":"file:///projects/caf\u00e9.json"}})");
  CHECK(read.mcpName() == "file:///projects/caf\xc3\xa9.json");
  CHECK_FALSE(
      headerMismatch({"resources/read", "=?base64?ZmlsZTovLy9wcm9qZWN0cy9jYWbDqS5qc29u?="}, read)
          .has_value());

  const Envelope prompt = request(
      parser, R"({"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"greet"}})");
  CHECK_FALSE(headerMismatch({"prompts/get", "greet"}, prompt).has_value());

  // A method that mirrors no name: Mcp-Name is left alone (tasks/* carry the task id there).
  const Envelope task = request(
      parser, R"({"jsonrpc":"2.0","id":4,"method":"tasks/get","params":{"taskId":"t-1"}})");
  CHECK_FALSE(headerMismatch({"tasks/get", "t-1"}, task).has_value());
}

TEST_CASE("a header that disagrees with the body is a mismatch, named in the message") {
  EnvelopeParser parser;
  const Envelope call = request(
      parser, R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bar"}})");
  const std::optional<std::string> name = headerMismatch({"tools/call", "foo"}, call);
  REQUIRE(name.has_value());
  CHECK(*name == "Header mismatch: Mcp-Name header value 'foo' does not match body value 'bar'");
  CHECK(headerMismatch({"tools/list", "bar"}, call).has_value());
  CHECK(headerMismatch({"Tools/Call", "bar"}, call).has_value()); // values are case-sensitive
  CHECK(headerMismatch({"tools/call", "Bar"}, call).has_value());
  CHECK(headerMismatch({"tools/call", "=?base64?Zm9v?="}, call).has_value()); // "foo"
  CHECK(headerMismatch({"tools/call", "=?base64?%%%?="}, call).has_value());  // bad Base64
  CHECK(headerMismatch({"tools/call", ""}, call).has_value());
}

} // namespace
} // namespace bulwark
