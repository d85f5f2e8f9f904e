#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/jsonrpc_envelope.h"

#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

// Parses `body` with the proxy's own JSON reader: it must be one valid JSON-RPC error response.
Envelope parseError(EnvelopeParser& parser, const std::string& body) {
  EnvelopeResult result = parser.parse(body);
  INFO("body: ", body, "  detail: ", result.detail);
  REQUIRE(result.error == EnvelopeError::kNone);
  REQUIRE_FALSE(result.parsed.batch);
  REQUIRE(result.parsed.messages.size() == 1);
  const Envelope& envelope = result.parsed.messages[0];
  CHECK(envelope.kind == MessageKind::kError);
  REQUIRE(envelope.error_code.has_value());
  return envelope;
}

TEST_CASE("an error body is a JSON-RPC error response with the given code and message") {
  EnvelopeParser parser;
  const std::string body =
      jsonRpcErrorBody("7", ProxyError{jsonrpc::kUpstreamUnavailable, "Upstream unavailable",
                                       "connect: ECONNREFUSED", "connect_failed", 3, "attempts"});
  const Envelope envelope = parseError(parser, body);
  CHECK(*envelope.error_code == -32000);
  CHECK(envelope.error_message == "Upstream unavailable");
  CHECK(envelope.id == "7");
  CHECK(body ==
        R"({"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"Upstream unavailable",)"
        R"("data":{"source":"bulwark","class":"connect_failed","detail":"connect: ECONNREFUSED",)"
        R"("attempts":3,"gaveUp":"attempts"}}})");
}

TEST_CASE("every code Bulwark answers with comes back as that code") {
  EnvelopeParser parser;
  for (const int code : {jsonrpc::kParseError, jsonrpc::kInvalidRequest, jsonrpc::kInternalError,
                         jsonrpc::kUpstreamUnavailable, jsonrpc::kRequestTimeout}) {
    INFO("code: ", code);
    const Envelope envelope =
        parseError(parser, jsonRpcErrorBody("1", ProxyError{code, "m", {}, {}, 0, {}}));
    CHECK(*envelope.error_code == code);
  }
}

TEST_CASE("optional data members are left out when empty or zero") {
  EnvelopeParser parser;
  const std::string body =
      jsonRpcErrorBody("1", ProxyError{jsonrpc::kInvalidRequest, "Invalid Request", {}, {}, 0, {}});
  parseError(parser, body);
  CHECK(body == R"({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid Request",)"
                R"("data":{"source":"bulwark"}}})");
}

TEST_CASE("the id is echoed exactly, whatever its type; empty means null") {
  EnvelopeParser parser;
  struct Case {
    const char* id_json;
    const char* expected;
  };
  const Case cases[] = {
      {"7", "7"},
      {"0", "0"},
      {"-3", "-3"},
      {"1.5", "1.5"},
      {"1e3", "1e3"},
      {"123456789012345678901234567890", "123456789012345678901234567890"},
      {R"("abc")", R"("abc")"},
      {R"("")", R"("")"},
      {R"("a\"b\\c\u00e9")", R"("a\"b\\c\u00e9")"},
      {"null", "null"},
      {"", "null"},
  };
  for (const Case& c : cases) {
    INFO("id: ", c.id_json);
    const std::string body = jsonRpcErrorBody(
        c.id_json, ProxyError{jsonrpc::kRequestTimeout, "Request timed out", {}, {}, 0, {}});
    const Envelope envelope = parseError(parser, body);
    CHECK(envelope.id == c.expected);
    CHECK(*envelope.error_code == jsonrpc::kRequestTimeout);
  }
}

TEST_CASE("quotes, backslashes, newlines and control characters in text are escaped") {
  EnvelopeParser parser;
  const std::string detail =
      std::string("say \"hi\"\\ \n\r\t end ") + '\x01' + '\x1f' + '\0' + " \x7f caf\xc3\xa9";
  const std::string body =
      jsonRpcErrorBody(R"("x")", ProxyError{jsonrpc::kInternalError, "bad \"message\"\n", detail,
                                            "class\"q", 1, "give\nup"});
  const Envelope envelope = parseError(parser, body);
  CHECK(*envelope.error_code == jsonrpc::kInternalError);
  CHECK(envelope.error_message == "bad \"message\"\n"); // decoded back to the original text
  CHECK(envelope.id == R"("x")");
  // No raw control byte survives in the JSON text.
  for (const char c : body) {
    CHECK(static_cast<unsigned char>(c) >= 0x20);
  }
  CHECK(body.find(R"("detail":"say \"hi\"\\ \n\r\t end \u0001\u001f\u0000 )"
                  "\x7f caf\xc3\xa9\"") != std::string::npos);
  CHECK(body.find(R"("class":"class\"q")") != std::string::npos);
  CHECK(body.find(R"("gaveUp":"give\nup")") != std::string::npos);
  CHECK(body.find(R"("message":"bad \"message\"\n")") != std::string::npos);
}

TEST_CASE("text that looks like JSON stays inside its string") {
  EnvelopeParser parser;
  const std::string body = jsonRpcErrorBody(
      "2",
      ProxyError{
          jsonrpc::kInternalError, R"(x"},"id":99,"y":{")", R"("}}],"jsonrpc":"1.0)", {}, 0, {}});
  const Envelope envelope = parseError(parser, body);
  CHECK(envelope.id == "2");
  CHECK(envelope.error_message == R"(x"},"id":99,"y":{")");
}

} // namespace
} // namespace bulwark
