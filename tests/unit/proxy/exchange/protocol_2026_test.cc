// The exchange with 2026-07-28 answers (issue #16): a JSON body of several messages one per line,
// the revision's error codes, and headers that disagree with the body. The integration test
// (tests/integration/protocol_2026.test.mjs) covers the rest against a real fixture server.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/proxy/exchange/exchange_bench.h"

namespace bulwark::testing {
namespace {

constexpr std::string_view kCall =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
constexpr std::string_view kProgress =
    R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}})";
constexpr std::string_view kAnswer = R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})";

constexpr std::string_view kFastRetries = R"(
defaults:
  retry: {max_attempts: 3, backoff: {base: 0ms, multiplier: 1, max: 0ms}}
methods:
  tools/call: {idempotent: true}
)";

TEST_CASE("a JSON body of several messages one per line is forwarded as it is") {
  const std::string body = std::string(kProgress) + "\n" + std::string(kAnswer) + "\n";
  ExchangeBench bench(kFastRetries, {Reply::json(200, body)});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == body);
  CHECK(bench.upstream().requests().size() == 1);
  CHECK(familyTotal(bench.metrics(), "bulwark_errors_total") == 0);
  CHECK(bench.close() == 0);
}

TEST_CASE("several messages whose last does not answer the request are malformed") {
  const std::string body = std::string(kAnswer) + "\n" + std::string(kProgress) + "\n";
  ExchangeBench bench(kFastRetries, std::vector<Reply>(3, Reply::json(200, body)));
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
  CHECK(bodyOf(response).find("-32603") != std::string::npos);
  CHECK(bench.close() == 0);
}

TEST_CASE("after an SSE attempt, a later body of several messages becomes one event each") {
  const std::string body = std::string(kProgress) + "\r\n" + std::string(kAnswer);
  ExchangeBench bench(kFastRetries, {Reply::sse(200, {std::string(kProgress)}),
                                     Reply::json(200, body)});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  const std::string events = bodyOf(response);
  CHECK(events.find("event: message\ndata: " + std::string(kAnswer) + "\n\n") !=
        std::string::npos);
  CHECK(familyTotal(bench.metrics(), "bulwark_errors_total") == 0);
  CHECK(bench.close() == 0);
}

TEST_CASE("-32021 in a 400 is answered at once, even for a call safe to repeat") {
  const std::string error =
      R"({"jsonrpc":"2.0","id":7,"error":{"code":-32021,"message":"missing capability"}})";
  ExchangeBench bench(kFastRetries, std::vector<Reply>(3, Reply::json(400, error)));
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(bench.upstream().requests().size() == 1);
  CHECK(bench.close() == 0);
}

TEST_CASE("Mcp-Name that disagrees with the body: 400 with -32020, nothing sent upstream") {
  ExchangeBench bench(kFastRetries, {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response =
      bench.send(mcpPost(kCall, "Mcp-Method: tools/call\r\nMcp-Name: other\r\n"));
  CHECK(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(bodyOf(response).find("-32020") != std::string::npos);
  CHECK(bodyOf(response).find(R"("id":7)") != std::string::npos);
  CHECK(bench.upstream().requests().empty());
  CHECK(bench.close() == 0);
}

TEST_CASE("Mcp-Name in the Base64 form that matches the body passes") {
  ExchangeBench bench(kFastRetries, {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response =
      bench.send(mcpPost(kCall, "Mcp-Method: tools/call\r\nMcp-Name: =?base64?ZWNobw==?=\r\n"));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bench.upstream().requests().size() == 1);
  CHECK(bench.close() == 0);
}

}  // namespace
}  // namespace bulwark::testing
