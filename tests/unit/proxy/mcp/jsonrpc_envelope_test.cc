#include "proxy/mcp/jsonrpc_envelope.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {
namespace {

// Parses one message that must be valid and returns its envelope.
Envelope parseOne(EnvelopeParser& parser, std::string_view json) {
  EnvelopeResult result = parser.parse(json);
  INFO("input: ", json, "  detail: ", result.detail);
  REQUIRE(result.error == EnvelopeError::kNone);
  REQUIRE_FALSE(result.parsed.batch);
  REQUIRE(result.parsed.messages.size() == 1);
  return result.parsed.messages[0];
}

std::string nested(int depth, std::string_view inner) {
  return std::string(static_cast<std::size_t>(depth), '[') + std::string(inner) +
         std::string(static_cast<std::size_t>(depth), ']');
}

TEST_CASE("a request carries its method and id") {
  EnvelopeParser parser;
  const Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})");
  CHECK(e.kind == MessageKind::kRequest);
  CHECK(e.method == "tools/list");
  CHECK(e.id == "7");
  CHECK(e.tool.empty());
  CHECK(e.progress_token.empty());
  CHECK_FALSE(e.error_code.has_value());
  CHECK_FALSE(e.is_error);
}

TEST_CASE("a notification has a method and no id") {
  EnvelopeParser parser;
  const Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(e.kind == MessageKind::kNotification);
  CHECK(e.method == "notifications/initialized");
  CHECK(e.id.empty());
}

TEST_CASE("ids of every allowed type keep their JSON text") {
  EnvelopeParser parser;
  struct Case {
    const char* id;
    const char* expected;
  };
  const Case cases[] = {
      {"7", "7"},
      {"0", "0"},
      {"-12", "-12"},
      {"1.5", "1.5"},
      {"1e3", "1e3"},
      // Too large for 64 bits, still valid JSON: echoed exactly rather than rejected or rounded.
      {"123456789012345678901234567890", "123456789012345678901234567890"},
      {R"("abc")", R"("abc")"},
      {R"("")", R"("")"},
      // Escapes stay as the client wrote them, so the echo is byte-identical.
      {R"("a\"b\u00e9")", R"("a\"b\u00e9")"},
      {"  42  ", "42"},
  };
  for (const Case& c : cases) {
    const std::string json = std::string(R"({"jsonrpc":"2.0","method":"ping","id":)") + c.id + "}";
    const Envelope e = parseOne(parser, json);
    CHECK(e.kind == MessageKind::kRequest);
    CHECK(e.id == c.expected);
  }
}

TEST_CASE("a tools/call names its tool and a request may carry a progress token") {
  EnvelopeParser parser;
  Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","id":"r1","method":"tools/call",
      "params":{"_meta":{"progressToken":"tok-1"},"name":"get_weather","arguments":{"name":"x"}}})");
  CHECK(e.kind == MessageKind::kRequest);
  CHECK(e.method == "tools/call");
  CHECK(e.id == R"("r1")");
  CHECK(e.tool == "get_weather");
  CHECK(e.progress_token == R"("tok-1")");

  e = parseOne(parser, R"({"jsonrpc":"2.0","id":2,"method":"tools/call",
      "params":{"name":"echo","_meta":{"progressToken":17}}})");
  CHECK(e.tool == "echo");
  CHECK(e.progress_token == "17");

  // The tool name is only read from tools/call; other methods' params.name means something else.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"p",
      "_meta":{"progressToken":"t"}}})");
  CHECK(e.tool.empty());
  CHECK(e.progress_token == R"("t")");

  // Missing or odd pieces leave the fields empty; the upstream judges the arguments.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}})");
  CHECK(e.tool.empty());
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":[1,2]})");
  CHECK(e.tool.empty());
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":6,"method":"tools/call",
      "params":{"name":"a","_meta":{"progressToken":{"x":1}}}})");
  CHECK(e.tool == "a");
  CHECK(e.progress_token.empty());
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a"}})");
  CHECK(e.progress_token.empty());
  // A progressToken elsewhere is not the request's.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":8,"method":"tools/call",
      "params":{"name":"a","arguments":{"_meta":{"progressToken":1}}}})");
  CHECK(e.progress_token.empty());
}

TEST_CASE("a result reports isError only when it is literally true") {
  EnvelopeParser parser;
  Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","id":9,"result":{"content":[]}})");
  CHECK(e.kind == MessageKind::kResult);
  CHECK(e.id == "9");
  CHECK(e.method.empty());
  CHECK_FALSE(e.is_error);

  e = parseOne(parser,
               R"({"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"boom"}],
               "isError":true}})");
  CHECK(e.kind == MessageKind::kResult);
  CHECK(e.is_error);

  e = parseOne(parser, R"({"jsonrpc":"2.0","id":9,"result":{"isError":false}})");
  CHECK_FALSE(e.is_error);
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":9,"result":{"isError":"true"}})");
  CHECK_FALSE(e.is_error);
  // Nested isError belongs to something else.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":9,"result":{"structured":{"isError":true}}})");
  CHECK_FALSE(e.is_error);
  // A result need not be an object in JSON-RPC.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":9,"result":null})");
  CHECK(e.kind == MessageKind::kResult);
}

TEST_CASE("an error response carries its code and message") {
  EnvelopeParser parser;
  Envelope e = parseOne(
      parser, R"({"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"Method not found"}})");
  CHECK(e.kind == MessageKind::kError);
  CHECK(e.id == R"("a")");
  REQUIRE(e.error_code.has_value());
  CHECK(*e.error_code == -32601);
  CHECK(e.error_message == "Method not found");

  // A parse error reply has a null id.
  e = parseOne(parser,
               R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
  CHECK(e.kind == MessageKind::kError);
  CHECK(e.id == "null");
  CHECK(e.error_code == -32700);

  // A missing message still leaves a usable code.
  e = parseOne(parser, R"({"jsonrpc":"2.0","id":1,"error":{"code":-32002,"data":{"uri":"x"}}})");
  CHECK(e.error_code == -32002);
  CHECK(e.error_message.empty());

  e = parseOne(parser, R"({"jsonrpc":"2.0","id":1,"error":{"message":"m\nn","code":429}})");
  CHECK(e.error_code == 429);
  CHECK(e.error_message == "m\nn");
}

TEST_CASE("member names are compared after unescaping") {
  EnvelopeParser parser;
  const Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","m\u0065thod":"ping","id":1})");
  CHECK(e.method == "ping");
  CHECK(e.kind == MessageKind::kRequest);
}

TEST_CASE("a batch is an array of messages of any kind") {
  EnvelopeParser parser;
  const EnvelopeResult r = parser.parse(R"([
      {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
      {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}},
      {"jsonrpc":"2.0","id":"x","result":{"isError":true}},
      {"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}
  ])");
  REQUIRE(r.error == EnvelopeError::kNone);
  CHECK(r.parsed.batch);
  REQUIRE(r.parsed.messages.size() == 4);
  CHECK(r.parsed.messages[0].kind == MessageKind::kRequest);
  CHECK(r.parsed.messages[0].tool == "a");
  CHECK(r.parsed.messages[1].kind == MessageKind::kNotification);
  CHECK(r.parsed.messages[1].progress_token.empty()); // not under _meta
  CHECK(r.parsed.messages[2].kind == MessageKind::kResult);
  CHECK(r.parsed.messages[2].is_error);
  CHECK(r.parsed.messages[2].id == R"("x")");
  CHECK(r.parsed.messages[3].kind == MessageKind::kError);
  CHECK(r.parsed.messages[3].error_code == -32600);

  const EnvelopeResult one = parser.parse(R"([{"jsonrpc":"2.0","method":"ping","id":1}])");
  REQUIRE(one.error == EnvelopeError::kNone);
  CHECK(one.parsed.batch);
  CHECK(one.parsed.messages.size() == 1);
}

TEST_CASE("text that is not JSON is kInvalidJson") {
  EnvelopeParser parser;
  const std::string invalid[] = {
      "",
      "   \n",
      "{",
      "}",
      "[",
      "[1,2",
      R"({"jsonrpc":"2.0",)",
      R"({"jsonrpc" "2.0"})",
      R"({"a":1,})",
      R"({"a":"b":1})",
      R"({"jsonrpc":"2.0","method":"x":"y","id":1})",
      R"(["a":1])",
      // simdjson, skipping a value it was not asked for, takes a string followed by ':' for a
      // key; these would then parse as objects that close early and carry on.
      R"({"a":"b":{}},"c":1})",
      R"({"jsonrpc":"2.0","x":"y":{}},"method":"ping","id":1})",
      R"([1,])",
      R"([1 2])",
      R"({"a":[}])",
      R"({'a':1})",
      R"({a:1})",
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":.5})",
      R"({"a":+1})",
      R"({"a":-})",
      R"({"a":1e})",
      R"({"a":0x10})",
      R"({"a":NaN})",
      R"({"a":Infinity})",
      R"({"a":tru})",
      R"({"a":truex})",
      R"({"a":nul})",
      R"({"a":"\x"})",
      R"({"a":"unterminated})",
      "{\"a\":\"control\x01char\"}",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"\xc3\x28\"}",
      R"({"a":1} x)",
      R"({} {})",
      R"({"a":1}})",
      R"([] [])",
      "nope",
      R"("abc)",
      "42 43",
      "-",
      "01",
      // A syntax error wins over a message that is also wrong, wherever it is.
      R"({"jsonrpc":"1.0","method":7,"x":[1,2,}])",
      R"([1,{"jsonrpc":"2.0","method":"x"},tru])",
      // Broken inside members the envelope reads.
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"progressToken":1.}}})",
      R"({"jsonrpc":"2.0","id":01,"method":"x"})",
      R"({"jsonrpc":"2.0","id":1,"error":{"code":-,"message":"m"}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"isError":tru}})",
  };
  for (const std::string& json : invalid) {
    const EnvelopeResult r = parser.parse(json);
    INFO("input: ", json, "  detail: ", r.detail);
    CHECK(r.error == EnvelopeError::kInvalidJson);
    CHECK_FALSE(r.detail.empty());
    CHECK(r.parsed.messages.empty());
  }
}

TEST_CASE("invalid JSON is located in the detail") {
  EnvelopeParser parser;
  const EnvelopeResult r =
      parser.parse(R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":[1,2,}]}})");
  CHECK(r.error == EnvelopeError::kInvalidJson);
  CHECK(r.detail.find("near byte") != std::string::npos);
}

TEST_CASE("valid JSON that stretches the grammar is accepted") {
  EnvelopeParser parser;
  const Envelope e =
      parseOne(parser, "\t\r\n {\"jsonrpc\" : \"2.0\" ,\n \"id\" : 1 , \"result\" :"
                       " {\"n\":[-0, 0.5e-3, 1E+2, 1e400, -123456789012345678901234567890,"
                       " 1.7976931348623157e309, true, false, null, {}, [], \"\\u00e9\\/\"]}}"
                       " \n");
  CHECK(e.kind == MessageKind::kResult);
  CHECK(e.id == "1");
}

TEST_CASE("JSON that is not a JSON-RPC message is kInvalidMessage") {
  EnvelopeParser parser;
  struct Case {
    const char* json;
    const char* detail;
  };
  const Case cases[] = {
      {"42", "not a JSON object or array"},
      {R"("text")", "not a JSON object or array"},
      {"null", "not a JSON object or array"},
      {" true ", "not a JSON object or array"},
      {"{}", R"(missing "jsonrpc": "2.0")"},
      {R"({"method":"ping","id":1})", R"(missing "jsonrpc": "2.0")"},
      {R"({"jsonrpc":"1.0","method":"ping","id":1})", R"("jsonrpc" must be "2.0")"},
      {R"({"jsonrpc":2.0,"method":"ping","id":1})", R"("jsonrpc" must be "2.0")"},
      {R"({"jsonrpc":"2.0"})", R"(missing "method", "result" or "error")"},
      {R"({"jsonrpc":"2.0","id":1})", R"(missing "method", "result" or "error")"},
      {R"({"jsonrpc":"2.0","method":7,"id":1})", R"("method" must be a string)"},
      {R"({"jsonrpc":"2.0","method":"x","id":{}})", R"("id" must be a string, number or null)"},
      {R"({"jsonrpc":"2.0","method":"x","id":[1]})", R"("id" must be a string, number or null)"},
      {R"({"jsonrpc":"2.0","method":"x","id":true})", R"("id" must be a string, number or null)"},
      {R"({"jsonrpc":"2.0","method":"x","id":null})", R"(request "id" is null)"},
      {R"({"jsonrpc":"2.0","method":"x","id":1,"params":3})", R"("params" must be an object)"},
      {R"({"jsonrpc":"2.0","method":"x","id":1,"result":{}})", R"("method" together with)"},
      {R"({"jsonrpc":"2.0","result":{}})", R"(response without "id")"},
      {R"({"jsonrpc":"2.0","id":null,"result":{}})", R"(result "id" is null)"},
      {R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}})",
       R"(both "result" and "error")"},
      {R"({"jsonrpc":"2.0","id":1,"error":"bad"})", R"("error" must be an object)"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"message":"m"}})", R"("error.code" must be an integer)"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":"1"}})", R"("error.code" must be an integer)"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":1.5}})", R"("error.code" must be an integer)"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":99999999999999999999}})",
       R"("error.code" must be an integer)"},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":2}})",
       R"("error.message" must be a string)"},
      // Parsers disagree on which duplicate wins, so none is chosen.
      {R"({"jsonrpc":"2.0","method":"a","method":"b","id":1})", R"(duplicate "method")"},
      {R"({"jsonrpc":"2.0","method":"a","id":1,"id":2})", R"(duplicate "id")"},
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}})",
       R"(duplicate "params.name")"},
      {"[]", "empty batch"},
      {" [ ] ", "empty batch"},
      {"[1]", "batch element 0 is not an object"},
      {"[[]]", "batch element 0 is not an object"},
      {R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"},"c"])",
       "batch element 2 is not an object"},
      {R"([{"jsonrpc":"2.0","method":"ok"},{"jsonrpc":"1.0","method":"x"}])",
       R"(batch element 1: "jsonrpc" must be "2.0")"},
  };
  for (const Case& c : cases) {
    const EnvelopeResult r = parser.parse(c.json);
    INFO("input: ", c.json, "  detail: ", r.detail);
    CHECK(r.error == EnvelopeError::kInvalidMessage);
    CHECK(r.detail.find(c.detail) != std::string::npos);
  }
}

TEST_CASE("an invalid message still yields its id for the error reply") {
  EnvelopeParser parser;
  EnvelopeResult r = parser.parse(R"({"jsonrpc":"1.0","id":"req-5","method":"ping"})");
  CHECK(r.error == EnvelopeError::kInvalidMessage);
  REQUIRE(r.parsed.messages.size() == 1);
  CHECK(r.parsed.messages[0].id == R"("req-5")");

  r = parser.parse(R"({"jsonrpc":"2.0","id":{"no":1},"method":"ping"})");
  CHECK(r.error == EnvelopeError::kInvalidMessage);
  REQUIRE(r.parsed.messages.size() == 1);
  CHECK(r.parsed.messages[0].id.empty()); // unusable: the reply echoes null
}

TEST_CASE("a message of several MiB is parsed, with members after the bulk") {
  EnvelopeParser parser;
  std::string json = R"({"jsonrpc":"2.0","id":314,"result":{"content":[)";
  const std::string item = R"({"type":"text","text":"lorem ipsum \u00e9 \"quoted\" dolor"},)";
  while (json.size() < 9u * 1024 * 1024)
    json += item;
  json += R"({"type":"text","text":"end"}],"isError":true}})";
  for (int round = 0; round < 2; ++round) { // the second round reuses the grown buffers
    const Envelope e = parseOne(parser, json);
    CHECK(e.kind == MessageKind::kResult);
    CHECK(e.id == "314");
    CHECK(e.is_error);
  }
  // Truncating it anywhere in the bulk makes it invalid JSON.
  const EnvelopeResult cut = parser.parse(std::string_view(json).substr(0, json.size() / 2));
  CHECK(cut.error == EnvelopeError::kInvalidJson);
  // And the parser is still good for a small message afterwards.
  const Envelope small = parseOne(parser, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(small.method == "ping");
}

TEST_CASE("deep nesting is refused without crashing") {
  EnvelopeParser parser;
  const std::string shallow =
      R"({"jsonrpc":"2.0","id":1,"result":{"deep":)" + nested(998, "1") + "}}";
  CHECK(parser.parse(shallow).error == EnvelopeError::kNone);
  const std::string limit =
      R"({"jsonrpc":"2.0","id":1,"result":{"deep":)" + nested(999, "1") + "}}";
  EnvelopeResult r = parser.parse(limit);
  CHECK(r.error == EnvelopeError::kInvalidJson);
  CHECK(r.detail.find("deeper than 1000") != std::string::npos);

  const std::string deep =
      R"({"jsonrpc":"2.0","id":1,"result":{"deep":)" + nested(5000, "1") + "}}";
  r = parser.parse(deep);
  CHECK(r.error == EnvelopeError::kInvalidJson);
  CHECK(r.detail.find("deeper") != std::string::npos);

  r = parser.parse(nested(200000, ""));
  CHECK(r.error == EnvelopeError::kInvalidJson);
  r = parser.parse(std::string(200000, '['));
  CHECK(r.error == EnvelopeError::kInvalidJson);
  std::string objects;
  for (int i = 0; i < 100000; ++i)
    objects += R"({"a":)";
  r = parser.parse(objects);
  CHECK(r.error == EnvelopeError::kInvalidJson);
}

TEST_CASE("the input need not be padded or terminated") {
  EnvelopeParser parser;
  // Only the view is parsed; the garbage after it is never read.
  const std::string text = R"({"jsonrpc":"2.0","id":1,"method":"ping"}GARBAGE)";
  const std::string_view view = std::string_view(text).substr(0, text.size() - 7);
  const Envelope e = parseOne(parser, view);
  CHECK(e.method == "ping");
  // A number at the very end of the view is not extended by the byte after it: "1" is JSON (if
  // not a message), "1x" is not.
  const std::string number = "1x";
  CHECK(parser.parse(number).error == EnvelopeError::kInvalidJson);
  CHECK(parser.parse(std::string_view(number).substr(0, 1)).error ==
        EnvelopeError::kInvalidMessage);
}

TEST_CASE("one parser serves many calls and results do not leak between them") {
  EnvelopeParser parser;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = std::to_string(i);
    switch (i % 5) {
    case 0: {
      const Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","id":)" + id +
                                              R"(,"method":"tools/call","params":{"name":"t)" + id +
                                              R"(","_meta":{"progressToken":"p)" + id + R"("}}})");
      CHECK(e.kind == MessageKind::kRequest);
      CHECK(e.id == id);
      CHECK(e.tool == "t" + id);
      CHECK(e.progress_token == "\"p" + id + "\"");
      break;
    }
    case 1: {
      const Envelope e = parseOne(parser, R"({"jsonrpc":"2.0","method":"notifications/x"})");
      CHECK(e.kind == MessageKind::kNotification);
      CHECK(e.id.empty());
      CHECK(e.tool.empty());
      CHECK(e.progress_token.empty());
      break;
    }
    case 2: {
      const Envelope e =
          parseOne(parser, R"({"jsonrpc":"2.0","id":")" + id + R"(","error":{"code":-)" + id +
                               R"(,"message":"m"}})");
      CHECK(e.kind == MessageKind::kError);
      CHECK(e.id == "\"" + id + "\"");
      CHECK(e.error_code == -i);
      CHECK_FALSE(e.is_error);
      break;
    }
    case 3: {
      const EnvelopeResult r = parser.parse(R"({"jsonrpc":"2.0","id":)" + id + ",");
      CHECK(r.error == EnvelopeError::kInvalidJson);
      CHECK(r.parsed.messages.empty());
      break;
    }
    default: {
      const Envelope e =
          parseOne(parser, R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":{"isError":)" +
                               (i % 2 ? "true" : "false") + "}}");
      CHECK(e.kind == MessageKind::kResult);
      CHECK(e.is_error == (i % 2 == 1));
      CHECK_FALSE(e.error_code.has_value());
      CHECK(e.error_message.empty());
      break;
    }
    }
  }
}

} // namespace
} // namespace bulwark

TEST_CASE("a tools/list result yields each tool's readOnlyHint and idempotentHint") {
  bulwark::EnvelopeParser parser;
  const auto result = parser.parse(R"({"jsonrpc":"2.0","id":3,"result":{"tools":[
      {"name":"read","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},
      {"name":"put","annotations":{"idempotentHint":true,"readOnlyHint":false}},
      {"name":"plain","description":"no hints"},
      {"name":"odd","annotations":{"readOnlyHint":"yes"}},
      7,
      {"description":"no name"}],"nextCursor":"x"}})");
  REQUIRE(result.error == bulwark::EnvelopeError::kNone);
  const auto& tools = result.parsed.messages.at(0).tools;
  REQUIRE(tools.size() == 4);
  CHECK(tools[0].name == "read");
  CHECK(tools[0].read_only == std::optional<bool>(true));
  CHECK_FALSE(tools[0].idempotent.has_value());
  CHECK(tools[1].name == "put");
  CHECK(tools[1].read_only == std::optional<bool>(false));
  CHECK(tools[1].idempotent == std::optional<bool>(true));
  CHECK(tools[2].name == "plain");
  CHECK_FALSE(tools[2].read_only.has_value());
  CHECK(tools[3].name == "odd");
  CHECK_FALSE(tools[3].read_only.has_value());  // a string is no evidence

  // The next parse starts clean.
  const auto next = parser.parse(R"({"jsonrpc":"2.0","id":4,"result":{}})");
  CHECK(next.parsed.messages.at(0).tools.empty());
}

namespace bulwark {
namespace {

TEST_CASE("2026-07-28: resultType, round-trip follow-ups, protocol version, trace context") {
  EnvelopeParser parser;
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":1,"result":{}})").result_kind ==
        policies::ResultKind::kComplete);
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}})")
            .result_kind == policies::ResultKind::kComplete);
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required",
      "inputRequests":{"a":{"method":"elicitation/create"}},"requestState":"s"}})")
            .result_kind == policies::ResultKind::kInputRequired);
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"task",
      "task":{"taskId":"t-1"}}})")
            .result_kind == policies::ResultKind::kTask);
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":1,"result":{"resultType":7}})").result_kind ==
        policies::ResultKind::kOther);

  const std::string_view call = R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{
      "name":"t","arguments":{},"inputResponses":{"a":{"action":"accept"}},
      "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
               "traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}})";
  const Envelope e = parseOne(parser, call);
  CHECK(e.continues_round_trip);
  CHECK(e.protocol_version == "2026-07-28");
  CHECK(e.traceparent_span.in(call) ==
        R"("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")");
  CHECK(e.mcpName() == "t");

  const Envelope state = parseOne(parser, R"({"jsonrpc":"2.0","id":3,"method":"tools/call",
      "params":{"name":"t","requestState":"opaque"}})");
  CHECK(state.continues_round_trip);
  CHECK(state.protocol_version.empty());
  CHECK_FALSE(state.traceparent_span.present());

  const Envelope plain =
      parseOne(parser, R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t"}})");
  CHECK_FALSE(plain.continues_round_trip);
  CHECK(parseOne(parser, R"({"jsonrpc":"2.0","id":5,"method":"resources/read",
      "params":{"uri":"file:///a"}})")
            .mcpName() == "file:///a");
}

} // namespace
} // namespace bulwark
