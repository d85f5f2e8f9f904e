// Shared by the stdio bridge and session tests: a tiny stdio MCP server in Node (one child per
// session), a bridge on a fresh loop running it, and one-request HTTP helpers.
//
// The server answers `initialize`; `echo` with {"childId": <the id it saw>, "params": ...};
// `progress` with a notifications/progress for params._meta.progressToken before its answer;
// `count` with how many initialize requests this child has seen; `die` by exiting (status 3);
// `hang` never. Notifications are not answered.
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/deferred_queue.h"
#include "proxy/net/address.h"
#include "proxy/stdio/stdio_bridge.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_loop.h"

namespace bulwark::stdio::test {

inline constexpr const char* kServerScript = R"js(
const rl = require('readline').createInterface({ input: process.stdin });
let initializes = 0;
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined || m.method === undefined) return;
  switch (m.method) {
    case 'initialize':
      initializes++;
      send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-06-18', capabilities: {},
             serverInfo: { name: 'stdio-test', version: '1' } } });
      break;
    case 'echo':
      send({ jsonrpc: '2.0', id: m.id, result: { childId: m.id, params: m.params } });
      break;
    case 'count': send({ jsonrpc: '2.0', id: m.id, result: { initializes } }); break;
    case 'progress':
      send({ jsonrpc: '2.0', method: 'notifications/progress',
             params: { progressToken: m.params._meta.progressToken, progress: 1 } });
      send({ jsonrpc: '2.0', id: m.id, result: {} });
      break;
    case 'die': process.exit(3);
    case 'hang': break;
    default: send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no' } });
  }
});
)js";

inline constexpr const char* kInitialize =
    R"({"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{)"
    R"("protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";

inline BridgeSettings nodeServer() {
  BridgeSettings settings;
  settings.command.argv = {"node", "-e", kServerScript};
  settings.command.stop_grace = std::chrono::milliseconds(200);
  settings.restart.backoff = {std::chrono::milliseconds(10), 2.0, std::chrono::milliseconds(50)};
  return settings;
}

struct Reply {
  bool ended = false;
  std::string text;
  std::string header(const std::string& name) const {
    const auto at = text.find("\r\n" + name + ": ");
    if (at == std::string::npos) {
      return {};
    }
    const auto start = at + name.size() + 4;
    return text.substr(start, text.find("\r\n", start) - start);
  }
  std::string body() const {
    const auto at = text.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : text.substr(at + 4);
  }
  bool status(int code) const { return text.starts_with("HTTP/1.1 " + std::to_string(code)); }
};

// A bridge on its own loop; request() sends one request and waits for the connection to end.
struct BridgeFixture {
  testing::QuietLogs quiet;  // destroyed last
  testing::TestLoop loop;
  Metrics metrics;
  DeferredQueue deferred{loop};
  StdioBridge bridge;
  std::uint16_t port = 0;

  explicit BridgeFixture(BridgeSettings settings = nodeServer())
      : bridge(loop, deferred, metrics, std::move(settings)) {}

  void start() {
    const std::string error = bridge.start();
    REQUIRE_MESSAGE(error.empty(), error);
    std::string parse_error;
    port = config::parseHostPort(bridge.address(), parse_error)->port;
  }

  Reply request(const std::string& method, const std::string& body, const std::string& session,
                const std::string& accept = "application/json, text/event-stream") {
    std::string bytes = method + " /mcp HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
    bytes += "Accept: " + accept + "\r\n";
    if (!session.empty()) {
      bytes += "Mcp-Session-Id: " + session + "\r\n";
    }
    if (!body.empty()) {
      bytes += "Content-Type: application/json\r\n";
    }
    bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    testing::RawClient client(loop, port, bytes);
    Reply reply;
    reply.ended = loop.runUntil([&] { return client.ended(); });
    reply.text = client.received();
    return reply;
  }

  std::string initialize() {
    const Reply reply = request("POST", kInitialize, "");
    CHECK(reply.status(200));
    const std::string session = reply.header("Mcp-Session-Id");
    CHECK_FALSE(session.empty());
    return session;
  }

  int close() {
    bridge.close();
    deferred.close();
    CHECK(loop.runToEnd());
    return loop.close();
  }
};

}  // namespace bulwark::stdio::test
