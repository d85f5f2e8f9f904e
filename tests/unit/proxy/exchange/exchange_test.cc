// The exchange on a fresh loop, between a one-request client and a scripted upstream: retries,
// giving up, the deadline, SSE continuation, oversized answers, cache and fallback. Each test
// ends with the loop closing with no handle left.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/proxy/exchange/exchange_harness.h"

namespace bulwark::testing {
namespace {

constexpr std::string_view kCall =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
constexpr std::string_view kAnswer = R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})";

// Fast retries, so that a test never waits on a real backoff.
constexpr std::string_view kFastRetries = R"(
defaults:
  retry: {max_attempts: 3, backoff: {base: 0ms, multiplier: 1, max: 0ms}}
methods:
  tools/call: {idempotent: true}
)";

// The response body, its chunked framing (if any) undone.
std::string bodyOf(const std::string& response) {
  const std::size_t at = response.find("\r\n\r\n");
  if (at == std::string::npos) {
    return {};
  }
  if (response.substr(0, at).find("Transfer-Encoding: chunked") == std::string::npos) {
    return response.substr(at + 4);
  }
  std::string body;
  std::size_t next = at + 4;
  while (next < response.size()) {
    const std::size_t line_end = response.find("\r\n", next);
    const std::size_t size = std::stoul(response.substr(next, line_end - next), nullptr, 16);
    if (size == 0) {
      break;
    }
    body += response.substr(line_end + 2, size);
    next = line_end + 2 + size + 2;
  }
  return body;
}

// The value of a metric line that starts with `series` (0 when absent).
double metricValue(const std::string& metrics, std::string_view series) {
  std::size_t at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') {
      const std::size_t space = metrics.find(' ', at + series.size());
      return std::stod(metrics.substr(space + 1, metrics.find('\n', space) - space - 1));
    }
    at += series.size();
  }
  return 0;
}

// The sum of every line of a family (all label sets).
double familyTotal(const std::string& metrics, std::string_view family) {
  double total = 0;
  std::size_t at = 0;
  while ((at = metrics.find(family, at)) != std::string::npos) {
    if ((at == 0 || metrics[at - 1] == '\n') &&
        (metrics[at + family.size()] == '{' || metrics[at + family.size()] == ' ')) {
      const std::size_t end = metrics.find('\n', at);
      const std::size_t space = metrics.rfind(' ', end);
      total += std::stod(metrics.substr(space + 1, end - space - 1));
    }
    at += family.size();
  }
  return total;
}

TEST_CASE("a 502 is retried and the second attempt's answer is delivered") {
  ExchangeBench bench(kFastRetries, {UpstreamStep::respond(httpResponse(502, "text/plain", "down")),
                                     UpstreamStep::respond(httpResponse(200, "application/json",
                                                                        kAnswer))});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == kAnswer);
  CHECK(bench.upstream().requestsSeen() == 2);
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 0);
  CHECK(familyTotal(metrics, "bulwark_retries_total") == 1);
  CHECK(bench.closeCleanly());
}

TEST_CASE("attempts exhausted: Bulwark answers 502 with a JSON-RPC error for the request") {
  ExchangeBench bench(kFastRetries, {UpstreamStep::respond(httpResponse(503, "text/plain", "a")),
                                     UpstreamStep::respond(httpResponse(503, "text/plain", "b")),
                                     UpstreamStep::respond(httpResponse(503, "text/plain", "c"))});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(bench.upstream().requestsSeen() == 3);
  // The upstream's own last error goes to the client untouched.
  CHECK(response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 1);
  CHECK(bench.closeCleanly());
}

TEST_CASE("a request that times out is answered 504 Gateway Timeout") {
  ExchangeBench bench(R"(
defaults:
  timeout: 100ms
  per_try_timeout: 50ms
  retry: {max_attempts: 1}
)",
                      {UpstreamStep::neverAnswer()});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"));
  CHECK(bodyOf(response).find(R"("id":7)") != std::string::npos);
  CHECK(bench.closeCleanly());
}

TEST_CASE("the deadline ends a request whose attempts keep failing") {
  ExchangeBench bench(R"(
defaults:
  timeout: 150ms
  per_try_timeout: 40ms
  retry: {max_attempts: 100, backoff: {base: 0ms, multiplier: 1, max: 0ms}}
methods:
  tools/call: {idempotent: true}
)",
                      {UpstreamStep::neverAnswer(), UpstreamStep::neverAnswer(),
                       UpstreamStep::neverAnswer(), UpstreamStep::neverAnswer(),
                       UpstreamStep::neverAnswer(), UpstreamStep::neverAnswer(),
                       UpstreamStep::neverAnswer(), UpstreamStep::neverAnswer()});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"));
  CHECK(bench.upstream().requestsSeen() >= 2);
  CHECK(bench.closeCleanly());
}

TEST_CASE("no retry once the deadline has passed on the exchange's clock") {
  ExchangeBench* bench_at = nullptr;
  ExchangeBench bench(kFastRetries,
                      {UpstreamStep::respond(httpResponse(502, "text/plain", "down"), [&] {
                        // The attempt took longer than the whole deadline (30s by default).
                        bench_at->clock().advance(std::chrono::seconds(31));
                      })});
  bench_at = &bench;
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));  // the upstream's own answer
  CHECK(bench.upstream().requestsSeen() == 1);
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_retries_total") == 0);
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 1);
  CHECK(bench.closeCleanly());
}

TEST_CASE("after an SSE attempt, a later multi-line JSON answer reaches the client whole") {
  const std::string pretty = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"result\": {\"content\": []}\n}";
  ExchangeBench bench(
      kFastRetries,
      {// The first attempt streams progress, then its connection breaks before the answer.
       UpstreamStep::respond(sseResponse(
           "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
           "\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")),
       UpstreamStep::respond(httpResponse(200, "application/json", pretty))});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(response.find("text/event-stream") != std::string::npos);
  CHECK(bodyOf(response).find("notifications/progress") != std::string::npos);
  CHECK(bodyOf(response).find("event: message\ndata: {\ndata:   \"jsonrpc\": \"2.0\",\ndata:   \"id\": 7,\n"
                      "data:   \"result\": {\"content\": []}\ndata: }\n\n") != std::string::npos);
  CHECK(familyTotal(bench.metrics(), "bulwark_errors_total") == 0);
  CHECK(bench.closeCleanly());
}

TEST_CASE("an SSE answer too large to inspect is delivered and counted as delivered") {
  // A tool no tools/list named: not known idempotent, so a failure would not be retried.
  std::string big = R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":")";
  big.append(5 * 1024 * 1024, 'x');
  big += R"("}]}})";
  ExchangeBench bench("{}", {UpstreamStep::respond(sseResponse("event: message\ndata: " + big +
                                                                 "\n\n"))});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == "event: message\ndata: " + big + "\n\n");
  CHECK(response.find("without an answer") == std::string::npos);
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 0);
  CHECK(metricValue(metrics,
                    R"(bulwark_requests_total{method="tools/call",outcome="success",tool="other"})") ==
        1);
  CHECK(bench.closeCleanly());
}

TEST_CASE("a fallback answers when the upstream stays down") {
  ExchangeBench bench(R"(
defaults:
  retry: {max_attempts: 1}
tools:
  - match: echo
    fallback: {text: "echo is resting"}
)",
                      {UpstreamStep::respond(httpResponse(502, "text/plain", "down"))});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response).find("echo is resting") != std::string::npos);
  CHECK(bodyOf(response).find("bulwark/fallback") != std::string::npos);
  CHECK(bench.closeCleanly());
}

TEST_CASE("a cached tools/list answers from the cache, then stale when the upstream fails") {
  constexpr std::string_view kList = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
  constexpr std::string_view kTools =
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","inputSchema":{}}]}})";
  ExchangeBench bench(R"(
defaults:
  retry: {max_attempts: 1}
methods:
  tools/list: {cache: {ttl: 0ms, stale_if_error: 1h}}
)",
                      {UpstreamStep::respond(httpResponse(200, "application/json", kTools)),
                       UpstreamStep::respond(httpResponse(502, "text/plain", "down"))});
  REQUIRE(bench.startError().empty());
  CHECK(bodyOf(bench.send(mcpPost(kList))) == kTools);
  const std::string stale = bodyOf(bench.send(mcpPost(kList)));
  CHECK(stale.find(R"("name":"echo")") != std::string::npos);
  CHECK(stale.find("bulwark/stale") != std::string::npos);
  CHECK(bench.upstream().requestsSeen() == 2);
  CHECK(bench.closeCleanly());
}

TEST_CASE("a lost session is re-opened by replaying initialize, then the request goes again") {
  constexpr std::string_view kInit =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
  constexpr std::string_view kInitAnswer =
      R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}})";
  ExchangeBench bench(
      kFastRetries,
      {UpstreamStep::respond(httpResponse(200, "application/json", kInitAnswer,
                                          "Mcp-Session-Id: first\r\n")),
       UpstreamStep::respond(httpResponse(404, "application/json", "{}")),
       // The replayed initialize, its notifications/initialized, then the request again.
       UpstreamStep::respond(httpResponse(200, "application/json", kInitAnswer,
                                          "Mcp-Session-Id: second\r\n")),
       UpstreamStep::respond(httpResponse(202, "", "")),
       UpstreamStep::respond(httpResponse(200, "application/json", kAnswer))});
  REQUIRE(bench.startError().empty());
  const std::string initialized = bench.send(mcpPost(kInit));
  INFO(initialized);
  CHECK(initialized.starts_with("HTTP/1.1 200 OK\r\n"));
  const std::string response = bench.send(mcpPost(kCall, "Mcp-Session-Id: first\r\n"));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == kAnswer);
  REQUIRE(bench.upstream().requests().size() == 5);
  CHECK(bench.upstream().requests()[4].find("Mcp-Session-Id: second\r\n") != std::string::npos);
  CHECK(bench.closeCleanly());
}

}  // namespace
}  // namespace bulwark::testing
