// The exchange and the request-target (proxy/http/request_target.h), on a fresh loop: a spelling
// of the MCP path is judged and reaches the upstream as the MCP path, an ambiguous one is
// refused before the upstream, another path goes as it came.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/proxy/exchange/exchange_bench.h"

namespace bulwark::testing {
namespace {

constexpr std::string_view kCall =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
constexpr std::string_view kAnswer = R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})";

std::string postTo(std::string_view target, std::string_view body,
                   std::string_view host = "127.0.0.1") {
  std::string out = "POST ";
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
         "Connection: close\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
  return out;
}

TEST_CASE("a spelling of the MCP path is judged and reaches the upstream as the MCP path") {
  ExchangeBench bench("{}", {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(postTo("/%6dcp/?x=1", kCall));
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  REQUIRE(bench.upstream().requests().size() == 1);
  CHECK(bench.upstream().requests()[0].target == "/mcp?x=1");
  CHECK(seriesValue(
            bench.metrics(),
            R"(bulwark_requests_total{method="tools/call",outcome="success",tool="other"})") == 1);
  CHECK(bench.close() == 0);
}

TEST_CASE("an absolute-form target agreeing with Host is judged and sent in origin-form") {
  ExchangeBench bench("{}", {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response =
      bench.send(postTo("http://127.0.0.1:8080/mcp", kCall, "127.0.0.1:8080"));
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  REQUIRE(bench.upstream().requests().size() == 1);
  CHECK(bench.upstream().requests()[0].target == "/mcp");
  CHECK(bench.close() == 0);
}

TEST_CASE("an ambiguous spelling of the MCP path is refused with 400 before the upstream") {
  ExchangeBench bench("{}", {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  for (const std::string_view target : {"/MCP", "/mcp;x", "//mcp", "/%2fmcp"}) {
    const std::string response = bench.send(postTo(target, kCall));
    INFO(target, "\n", response);
    CHECK(response.starts_with("HTTP/1.1 400 "));
    CHECK(bodyOf(response).find(R"("code":-32600)") != std::string::npos);
    CHECK(bodyOf(response).find("the MCP path is /mcp") != std::string::npos);
  }
  const std::string response =
      bench.send(postTo("http://evil.example/mcp", kCall, "127.0.0.1:8080"));
  CHECK(response.starts_with("HTTP/1.1 400 "));
  CHECK(bodyOf(response).find("Host") != std::string::npos);
  CHECK(bench.upstream().requests().empty());
  CHECK(familyTotal(bench.metrics(), "bulwark_errors_total") == 5);
  CHECK(bench.close() == 0);
}

TEST_CASE("another path is forwarded as it came, unjudged") {
  ExchangeBench bench("{}", {Reply::json(404, R"({"error":"not found"})")});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(postTo("/other;p/%2F?q=1", "not json"));
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 404 "));
  REQUIRE(bench.upstream().requests().size() == 1);
  CHECK(bench.upstream().requests()[0].target == "/other;p/%2F?q=1");
  CHECK(bench.close() == 0);
}

}  // namespace
}  // namespace bulwark::testing
