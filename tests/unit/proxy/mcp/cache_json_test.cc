#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/jsonrpc_envelope.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>

namespace bulwark {
namespace {

TEST_CASE("canonical params ignore key order, whitespace and the top-level _meta") {
  CacheJson json;
  const auto a = json.canonicalParams(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"b":[1,{"y":2,"x":1}],"a":"s"}}})");
  const auto b = json.canonicalParams(R"({ "params" : { "_meta": {"progressToken": 9},
      "arguments": { "a": "s", "b": [ 1, { "x": 1, "y": 2 } ] }, "name": "t" }, "id": 2,
      "method": "tools/call", "jsonrpc": "2.0" })");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(*a == *b);
  CHECK(*a == R"({"arguments":{"a":"s","b":[1,{"x":1,"y":2}]},"name":"t"})");
  // A _meta inside the arguments is data, not transport: it stays.
  const auto c = json.canonicalParams(R"({"params":{"arguments":{"_meta":1}}})");
  CHECK(*c == R"({"arguments":{"_meta":1}})");
}

TEST_CASE("canonical params: none, an array, and input that is not an object") {
  CacheJson json;
  CHECK(json.canonicalParams(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})") == "{}");
  CHECK(json.canonicalParams(R"({"params":[3, "x"]})") == R"([3,"x"])");
  CHECK_FALSE(json.canonicalParams("[1]").has_value());
  CHECK_FALSE(json.canonicalParams("{nope").has_value());
}

TEST_CASE("successResult from the envelope: the answer is not parsed again") {
  EnvelopeParser parser;
  const auto from = [&](const std::string& message) {
    const EnvelopeResult parsed = parser.parse(message);
    REQUIRE(parsed.error == EnvelopeError::kNone);
    REQUIRE(parsed.parsed.messages.size() == 1);
    return CacheJson::successResult(parsed.parsed.messages[0], message);
  };
  const auto ok = from(R"({"jsonrpc":"2.0","id":"r1","result" : { "content": [ ],
      "ttlMs":1500,"cacheScope":"public"} ,"x":1})");
  REQUIRE(ok.has_value());
  CHECK(ok->result_json == R"({"content":[],"ttlMs":1500,"cacheScope":"public"})"); // minified
  CHECK(ok->ttl_ms == std::optional<std::int64_t>(1500));
  CHECK(ok->cache_scope == "public");
  const auto last = from(R"({"jsonrpc":"2.0","id":1,"result":{"a":"}"}})");
  REQUIRE(last.has_value());
  CHECK(last->result_json == R"({"a":"}"})");
  CHECK_FALSE(last->ttl_ms);
  CHECK(last->cache_scope.empty());
  CHECK_FALSE(from(R"({"jsonrpc":"2.0","id":1,"result":{"isError":true}})"));
  CHECK_FALSE(from(R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m"}})"));
  CHECK_FALSE(from(R"({"jsonrpc":"2.0","id":1,"result":{"ttlMs":-4}})")->ttl_ms);
  CHECK_FALSE(from(R"({"jsonrpc":"2.0","id":1,"result":{"ttlMs":1.5}})")->ttl_ms);
  // In a batch the spans point into the whole text.
  const std::string batch = R"([{"jsonrpc":"2.0","id":1,"result":{"n":1}}, {"jsonrpc":"2.0","id":2,"result":{"n":2}}])";
  const EnvelopeResult parsed = parser.parse(batch);
  REQUIRE(parsed.parsed.messages.size() == 2);
  CHECK(CacheJson::successResult(parsed.parsed.messages[1], batch)->result_json == R"({"n":2})");
}

// What the exchange does with an upstream answer: the envelope's id is matched to the request's
// (sameId), then the result is taken from the envelope.
std::optional<CacheableResult> resultFor(EnvelopeParser& parser, const std::string& message,
                                         std::string_view request_id) {
  const EnvelopeResult parsed = parser.parse(message);
  if (parsed.error != EnvelopeError::kNone || parsed.parsed.messages.size() != 1 ||
      !sameId(parsed.parsed.messages[0], request_id)) {
    return std::nullopt;
  }
  return CacheJson::successResult(parsed.parsed.messages[0], message);
}

TEST_CASE("successResult takes only a successful result for the right id") {
  EnvelopeParser parser;
  const auto ok = resultFor(
      parser,
      R"({"jsonrpc":"2.0","id":"r1","result":{"content":[],"ttlMs":1500,"cacheScope":"public"}})",
      R"("r1")");
  REQUIRE(ok.has_value());
  CHECK(ok->result_json == R"({"content":[],"ttlMs":1500,"cacheScope":"public"})");
  CHECK(ok->ttl_ms == std::optional<std::int64_t>(1500));
  CHECK(ok->cache_scope == "public");
  CHECK_FALSE(resultFor(parser, R"({"jsonrpc":"2.0","id":"r2","result":{}})", R"("r1")"));
  CHECK_FALSE(resultFor(parser, R"({"jsonrpc":"2.0","id":1,"result":{"isError":true}})", "1"));
  CHECK_FALSE(resultFor(parser, R"({"jsonrpc":"2.0","id":1,"error":{"code":-1}})", "1"));
  CHECK_FALSE(resultFor(parser, R"({"jsonrpc":"2.0","id":1,"result":{"ttlMs":-4}})", "1")->ttl_ms);
}

TEST_CASE("successResult compares ids as values") {
  EnvelopeParser parser;
  CHECK(resultFor(parser, R"({"jsonrpc":"2.0","id":1,"result":{}})", "1.0"));
  CHECK(resultFor(parser, R"({"jsonrpc":"2.0","id":"a/b","result":{}})", R"("a\/b")"));
  CHECK_FALSE(resultFor(parser, R"({"jsonrpc":"2.0","id":"1","result":{}})", "1"));
}

TEST_CASE("withMetaFlag adds the flag, keeps other _meta members and the rest of the result") {
  CacheJson json;
  CHECK(CacheJson::withMetaFlag(R"({"content":[{"type":"text","text":"hi"}]})", "bulwark/stale", json) ==
        R"({"_meta":{"bulwark/stale":true},"content":[{"type":"text","text":"hi"}]})");
  CHECK(CacheJson::withMetaFlag(R"({"a":1,"_meta":{"k":"v","bulwark/stale":false}})", "bulwark/stale",
                                json) == R"({"_meta":{"k":"v","bulwark/stale":true},"a":1})");
  CHECK(CacheJson::withMetaFlag("[1]", "f", json) == "[1]");  // not an object: left alone
}

TEST_CASE("responseFor frames a result for the client's own id") {
  CHECK(CacheJson::responseFor(R"("x")", "{}") == R"({"jsonrpc":"2.0","id":"x","result":{}})");
}

}  // namespace
}  // namespace bulwark
