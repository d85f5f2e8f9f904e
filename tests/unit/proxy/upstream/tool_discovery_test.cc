// Tool discovery against the scripted upstream on a fresh loop: a 2026 server listed statelessly
// over two pages with the configured header; a refusal (401) that sends a waiting retry decision
// on to a listing in the caller's own session with its credentials; a malformed page that leaves
// the catalog as it was; a server without tools (tools/list is method not found) listed as empty,
// any other error a failure tried again.
#include "policies/tool_knowledge.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/upstream/tool_discovery.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/upstream_fixture.h"

#include <doctest/doctest.h>

namespace bulwark {
namespace {

using testing::Reply;
using testing::UpstreamFixture;

struct RecordingWaiter final : HintsWaiter {
  int calls = 0;
  void onHintsListed() override { ++calls; }
};

DiscoverySettings atStart() {
  DiscoverySettings settings; // at_start by default
  settings.headers = {{"Authorization", "Bearer configured"}};
  return settings;
}

} // namespace

TEST_CASE(
    "discovery: a 2026 server is listed statelessly, every page, with the configured header") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  EnvelopeParser parser;
  ToolCatalog catalog;
  f.upstream.push(Reply::json(
      200, R"({"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28"]}})"));
  f.upstream.push(Reply::json(
      200,
      R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","annotations":{"readOnlyHint":true}}],"nextCursor":"p2"}})"));
  f.upstream.push(Reply::sse(
      200, {R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"}],"ttlMs":60000}})"}));
  ToolDiscovery discovery(f.loop, f.pool, f.metrics, catalog, parser, "up:1", "/mcp");
  CHECK(discovery.start(atStart()).empty());
  CHECK(f.loop.runUntil([&] { return discovery.status().last_result.has_value(); }));
  CHECK(discovery.status().last_result == ToolDiscoveryResult::kSuccess);
  CHECK(discovery.status().pages == 2);
  CHECK(discovery.status().next_in == std::chrono::milliseconds(60000)); // ttlMs shortened it
  CHECK(catalog.size() == 2);
  CHECK(catalog.annotationsOf("a").read_only_hint == true);
  const auto& requests = f.upstream.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].header("mcp-method") == "server/discover");
  CHECK(requests[1].header("mcp-method") == "tools/list");
  CHECK(requests[1].header("mcp-protocol-version") == "2026-07-28");
  CHECK(requests[2].body.find(R"("cursor":"p2")") != std::string::npos);
  for (const auto& request : requests) {
    CHECK(request.header("authorization") == "Bearer configured");
    CHECK(request.header("mcp-session-id").empty());
    CHECK(request.header("host") == "up:1");
  }
  discovery.close();
  CHECK(f.close() == 0);
}

TEST_CASE(
    "discovery: refused, a waiting decision lists in the caller's session with its credentials") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  EnvelopeParser parser;
  ToolCatalog catalog;
  f.upstream.push(Reply::json(
      401, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Unauthorized"}})"));
  f.upstream.push(Reply::sse(
      200,
      {R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"w","annotations":{"idempotentHint":true}}]}})"}));
  ToolDiscovery discovery(f.loop, f.pool, f.metrics, catalog, parser, "up:1", "/mcp");
  DiscoverySettings on_need;
  on_need.at_start = false; // waits to be needed
  CHECK(discovery.start(on_need).empty());
  RecordingWaiter waiter;
  CHECK(discovery.awaitHints({"Bearer caller", "upstream-session-7", "2025-06-18"}, waiter));
  CHECK(f.loop.runUntil([&] { return waiter.calls > 0; }));
  CHECK(waiter.calls == 1);
  CHECK(discovery.status().last_result == ToolDiscoveryResult::kRefused);
  CHECK(discovery.status().caller_listings == 1);
  CHECK(catalog.annotationsOf("w").idempotent_hint == true);
  CHECK(catalog.snapshot()[0].second.source == policies::HintSource::kCallerListing);
  const auto& requests = f.upstream.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].body.find(R"("method":"tools/list")") != std::string::npos);
  CHECK(requests[1].header("authorization") == "Bearer caller");
  CHECK(requests[1].header("mcp-session-id") == "upstream-session-7");
  CHECK(requests[1].header("mcp-protocol-version") == "2025-06-18");
  // Refused stands: the next decision goes to the caller listing at once, not to discovery.
  f.upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})"));
  RecordingWaiter second;
  RecordingWaiter forgotten;
  CHECK(discovery.awaitHints({"Bearer caller", "upstream-session-7", "2025-06-18"}, second));
  CHECK(discovery.awaitHints({"Bearer caller", "upstream-session-7", "2025-06-18"}, forgotten));
  discovery.forget(forgotten);
  CHECK(f.loop.runUntil([&] { return second.calls > 0; }));
  CHECK(forgotten.calls == 0);
  CHECK(f.upstream.requests().size() == 3); // one listing per caller at a time
  CHECK(discovery.status().caller_listings == 2);
  discovery.close();
  CHECK(f.close() == 0);
}

TEST_CASE("discovery: a malformed page leaves the catalog as it was") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  EnvelopeParser parser;
  ToolCatalog catalog;
  catalog.learn({ToolHints{"kept", true, std::nullopt}});
  f.upstream.push(Reply::json(
      400, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"No session"}})"));
  f.upstream.push(
      Reply::json(200, R"({"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"2025-06-18"}})",
                  {{"Mcp-Session-Id", "own"}}));
  f.upstream.push(Reply::empty(202));
  f.upstream.push(Reply::json(
      200,
      R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"kept","annotations":{"readOnlyHint":false}}])"));
  f.upstream.push(Reply::empty(200)); // the DELETE of Bulwark's own session
  ToolDiscovery discovery(f.loop, f.pool, f.metrics, catalog, parser, "up:1", "/mcp");
  CHECK(discovery.start(atStart()).empty());
  CHECK(f.loop.runUntil([&] { return f.upstream.requests().size() == 5; }));
  CHECK(discovery.status().last_result == ToolDiscoveryResult::kMalformed);
  CHECK(catalog.annotationsOf("kept").read_only_hint == true);
  const auto& requests = f.upstream.requests();
  CHECK(requests[1].body.find(R"("method":"initialize")") != std::string::npos);
  CHECK(requests[3].header("mcp-session-id") == "own");
  CHECK(requests[3].header("mcp-protocol-version") == "2025-06-18");
  CHECK(requests[4].method == "DELETE");
  CHECK(requests[4].header("mcp-session-id") == "own");
  discovery.close();
  CHECK(f.close() == 0);
}

TEST_CASE("discovery: a server without tools (tools/list is method not found) is listed, empty") {
  // A resources-only server: its answer is the whole list, so discovery waits the interval
  // instead of trying again after 1 s, 2 s, ... and logging a failure each time.
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  EnvelopeParser parser;
  ToolCatalog catalog;
  f.upstream.push(Reply::json(
      200, R"({"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28"]}})"));
  f.upstream.push(Reply::json(
      404, R"({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}})"));
  ToolDiscovery discovery(f.loop, f.pool, f.metrics, catalog, parser, "up:1", "/mcp");
  DiscoverySettings settings = atStart();
  settings.interval = std::chrono::minutes(7);
  CHECK(discovery.start(settings).empty());
  CHECK(f.loop.runUntil([&] { return discovery.status().last_result.has_value(); }));
  CHECK(discovery.status().last_result == ToolDiscoveryResult::kSuccess);
  CHECK(discovery.status().tools == 0);
  CHECK(discovery.status().next_in == std::chrono::minutes(7));
  CHECK(catalog.size() == 0);
  CHECK(f.upstream.requests().size() == 2);
  discovery.close();
  CHECK(f.close() == 0);
}

TEST_CASE("discovery: any other JSON-RPC error to tools/list is a failed listing, tried again") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  EnvelopeParser parser;
  ToolCatalog catalog;
  f.upstream.push(Reply::json(
      200, R"({"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28"]}})"));
  f.upstream.push(Reply::json(
      200, R"({"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error"}})"));
  ToolDiscovery discovery(f.loop, f.pool, f.metrics, catalog, parser, "up:1", "/mcp");
  CHECK(discovery.start(atStart()).empty());
  CHECK(f.loop.runUntil([&] { return discovery.status().last_result.has_value(); }));
  CHECK(discovery.status().last_result == ToolDiscoveryResult::kMalformed);
  CHECK(discovery.status().next_in == policies::kMinRefresh);
  discovery.close();
  CHECK(f.close() == 0);
}

} // namespace bulwark
