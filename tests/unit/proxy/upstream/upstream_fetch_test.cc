// Bulwark's own upstream requests (upstream_fetch) against the scripted upstream on a fresh loop:
// the answer's status, session id and body; the callback never runs inline; timeouts, resets and
// a connect that libuv refuses to start become results with an error, never a stall.
#include "proxy/upstream/upstream_fetch.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "tests/support/upstream_fixture.h"

namespace bulwark {
namespace {

using testing::Reply;
using testing::UpstreamFixture;

const std::string kPost = ownJsonRpcPost("/mcp", R"({"jsonrpc":"2.0","id":1,"method":"ping"})",
                                         "", OwnRequestHeaders{"up:1", "", ""});

}  // namespace

TEST_CASE("fetch: status, session id and body of a JSON answer; the callback runs later") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})",
                              {{"Mcp-Session-Id", "s-42"}}));
  std::optional<FetchResult> result;
  const std::string error =
      fetchFromUpstream(f.loop, f.pool, f.metrics, kPost, std::chrono::milliseconds(5000),
                        [&](FetchResult&& r) { result = std::move(r); });
  CHECK(error.empty());
  CHECK_FALSE(result.has_value());  // never inside the call
  CHECK(f.loop.runUntil([&] { return result.has_value(); }));
  REQUIRE(result.has_value());
  CHECK(result->complete);
  CHECK(result->status == 200);
  CHECK(result->session_id == "s-42");
  CHECK(result->body == R"({"jsonrpc":"2.0","id":1,"result":{}})");
  CHECK(result->error.empty());
  REQUIRE(f.upstream.requests().size() == 1);
  CHECK(f.upstream.requests()[0].method == "POST");
  CHECK(f.upstream.requests()[0].target == "/mcp");
  CHECK(f.upstream.requests()[0].header("host") == "up:1");
  CHECK(f.upstream.requests()[0].body == R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(f.close() == 0);
}

TEST_CASE("fetch: an SSE answer arrives whole, in several writes") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::sse(200, {R"({"a":1})", R"({"b":2})"}, std::chrono::milliseconds(5)));
  std::optional<FetchResult> result;
  static_cast<void>(fetchFromUpstream(f.loop, f.pool, f.metrics, kPost,
                                      std::chrono::milliseconds(5000),
                                      [&](FetchResult&& r) { result = std::move(r); }));
  CHECK(f.loop.runUntil([&] { return result.has_value(); }));
  REQUIRE(result.has_value());
  CHECK(result->complete);
  CHECK(result->body == "event: message\ndata: {\"a\":1}\n\nevent: message\ndata: {\"b\":2}\n\n");
  CHECK(f.close() == 0);
}

TEST_CASE("fetch: no answer in time is an error result, and the connection is dropped") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::never());
  std::optional<FetchResult> result;
  static_cast<void>(fetchFromUpstream(f.loop, f.pool, f.metrics, kPost,
                                      std::chrono::milliseconds(20),
                                      [&](FetchResult&& r) { result = std::move(r); }));
  CHECK(f.loop.runUntil([&] { return result.has_value(); }));
  REQUIRE(result.has_value());
  CHECK_FALSE(result->complete);
  CHECK(result->error == "no complete answer in time");
  CHECK(f.loop.runUntil([&] { return f.pool.openCount() == 0; }));
  CHECK(f.close() == 0);
}

TEST_CASE("fetch: a reset before the head is an error result naming it") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::resetBeforeHead());
  std::optional<FetchResult> result;
  static_cast<void>(fetchFromUpstream(f.loop, f.pool, f.metrics, kPost,
                                      std::chrono::milliseconds(5000),
                                      [&](FetchResult&& r) { result = std::move(r); }));
  CHECK(f.loop.runUntil([&] { return result.has_value(); }));
  REQUIRE(result.has_value());
  CHECK_FALSE(result->complete);
  CHECK(result->error.starts_with("reset_before_response"));
  CHECK(f.close() == 0);
}

TEST_CASE("fetch: a connect libuv refuses to start (invalid address) is an error result") {
  const testing::QuietLogs quiet;
  testing::TestLoop loop;
  Metrics metrics;
  ResolvedAddress invalid;  // AF_UNSPEC: uv_tcp_connect returns an error at once
  UpstreamPool pool(loop, invalid, UpstreamPoolOptions{});
  std::optional<FetchResult> result;
  const std::string error = fetchFromUpstream(loop, pool, metrics, kPost,
                                              std::chrono::milliseconds(5000),
                                              [&](FetchResult&& r) { result = std::move(r); });
  CHECK(error.empty());
  CHECK_FALSE(result.has_value());
  CHECK(loop.runUntil([&] { return result.has_value(); }));
  REQUIRE(result.has_value());
  CHECK_FALSE(result->complete);
  CHECK(result->error.starts_with("connect_failed: uv_tcp_connect: "));
  pool.close();
  CHECK(loop.runToEnd());
  CHECK(loop.close() == 0);
}

TEST_CASE("fetch: ownJsonRpcPost carries the session, version and credential only as told") {
  const std::string with_session = ownJsonRpcPost(
      "/mcp", "{}", "s1", OwnRequestHeaders{"h:1", "Bearer t", "2025-06-18"});
  CHECK(with_session.starts_with("POST /mcp HTTP/1.1\r\nHost: h:1\r\n"));
  CHECK(with_session.find("Mcp-Session-Id: s1\r\n") != std::string::npos);
  CHECK(with_session.find("MCP-Protocol-Version: 2025-06-18\r\n") != std::string::npos);
  CHECK(with_session.find("Authorization: Bearer t\r\n") != std::string::npos);
  CHECK(with_session.ends_with("Content-Length: 2\r\n\r\n{}"));
  const std::string bare =
      ownJsonRpcPost("/mcp", "{}", "", OwnRequestHeaders{"", "", "2025-06-18"});
  CHECK(bare.find("Host:") == std::string::npos);
  CHECK(bare.find("Mcp-Session-Id") == std::string::npos);
  CHECK(bare.find("MCP-Protocol-Version") == std::string::npos);  // only with a session
}

}  // namespace bulwark
