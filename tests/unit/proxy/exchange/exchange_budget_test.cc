// The global buffer budget (limits.max_buffered_bytes) seen from the exchange: a full budget
// refuses new requests with 503 until it drains, and an answer larger than one window streams
// instead of being held. Everything charged is given back once the loop closes.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "proxy/net/buffer_budget.h"
#include "tests/unit/proxy/exchange/exchange_bench.h"

namespace bulwark::testing {
namespace {

constexpr std::string_view kCall =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
constexpr std::string_view kAnswer = R"({"jsonrpc":"2.0","id":7,"result":{"content":[]}})";

constexpr std::string_view kSmallBudget = R"(
limits: {max_buffered_bytes: 64KiB}
defaults:
  retry: {max_attempts: 3, backoff: {base: 0ms, multiplier: 1, max: 0ms}}
methods:
  tools/call: {idempotent: true}
)";

// Puts the process's account back as the next test expects it (a Server sets the limit).
struct RestoreBudgetLimit {
  ~RestoreBudgetLimit() { BufferBudget::process().setLimit(BufferBudget::kDefaultLimit); }
};

std::string digits(std::size_t bytes) {
  std::string text;
  text.reserve(bytes);
  for (std::size_t i = 0; text.size() < bytes; ++i) {
    text += std::to_string(i % 10);
  }
  return text;
}

}  // namespace

TEST_CASE("a full buffer budget refuses with 503, Retry-After and class overload, then admits") {
  RestoreBudgetLimit restore;
  ExchangeBench bench(kSmallBudget, {Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::size_t before = BufferBudget::process().used();
  {
    BufferShare hog;  // what slow readers would hold
    hog.set(64 * 1024);
    const std::string refused = bench.send(mcpPost(kCall));
    INFO(refused);
    CHECK(refused.starts_with("HTTP/1.1 503 "));
    CHECK(refused.find("\r\nRetry-After: 1\r\n") != std::string::npos);
    const std::string body = bodyOf(refused);
    CHECK(body.find(R"("class":"overload")") != std::string::npos);
    CHECK(body.find(R"("code":-32000)") != std::string::npos);
    CHECK(bench.upstream().requests().empty());  // nothing reached the upstream
  }
  // Drained: the same request is admitted and answered.
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == kAnswer);
  const std::string metrics = bench.metrics();
  CHECK(seriesValue(metrics, R"(bulwark_limit_rejections_total{limit="memory"})") == 1);
  CHECK(familyTotal(metrics, "bulwark_requests_total") == 1);  // the refusal is no request
  CHECK(metrics.find("bulwark_buffered_bytes ") != std::string::npos);
  CHECK(bench.close() == 0);
  CHECK(BufferBudget::process().used() == before);
}

TEST_CASE("with the budget full, an answer over one window streams: judged, not retried") {
  RestoreBudgetLimit restore;
  // -32000 held whole would be retried; past the window of a full budget it is committed like
  // one past max_held_answer_bytes, and still counts as an error.
  const std::string big = R"({"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":")" +
                          digits(512 * 1024) + R"("}})";
  ExchangeBench bench(kSmallBudget, {Reply::json(200, big), Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response) == big);
  CHECK(bench.upstream().requests().size() == 1);
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_retries_total") == 0);
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 1);
  CHECK(bench.close() == 0);
  CHECK(BufferBudget::process().used() == 0);
}

TEST_CASE(
    "with the budget full, an SSE answer event over one window streams, judged from its start") {
  RestoreBudgetLimit restore;
  // isError held whole would be judged a tool error all the same; a -32000 error would be
  // retried. Past the window of a full budget the event is forwarded as it arrives (framing
  // intact) and judged from its beginning: an error, not retried.
  const std::string big = R"({"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":")" +
                          digits(512 * 1024) + R"("}})";
  ExchangeBench bench(kSmallBudget, {Reply::sse(200, {big}), Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  const std::string response = bench.send(mcpPost(kCall));
  CHECK(response.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(bodyOf(response).find("data: " + big + "\n\n") != std::string::npos);
  CHECK(bench.upstream().requests().size() == 1);
  const std::string metrics = bench.metrics();
  CHECK(familyTotal(metrics, "bulwark_retries_total") == 0);
  CHECK(familyTotal(metrics, "bulwark_errors_total") == 1);
  CHECK(bench.close() == 0);
  CHECK(BufferBudget::process().used() == 0);
}

TEST_CASE("a small answer is still held and judged whole under a full budget: retried") {
  RestoreBudgetLimit restore;
  Reply busy =
      Reply::json(200, R"({"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"busy"}})");
  busy.writes.front().delay = std::chrono::milliseconds(100);  // after the budget fills
  ExchangeBench bench(kSmallBudget, {busy, Reply::json(200, kAnswer)});
  REQUIRE(bench.startError().empty());
  auto client = bench.begin(mcpPost(kCall));
  // Exhausted only once the request was admitted: the answer (one window at most) is held.
  REQUIRE(bench.loop().runUntil([&] { return bench.upstream().requests().size() == 1; }));
  BufferShare hog;
  hog.set(64 * 1024);
  CHECK(bench.loop().runUntil([&] { return client->ended(); }));
  hog.set(0);
  CHECK(bodyOf(client->received()) == kAnswer);
  CHECK(bench.upstream().requests().size() == 2);
  client.reset();
  CHECK(bench.close() == 0);
}

}  // namespace bulwark::testing
