// The Listener on a fresh loop: it binds 127.0.0.1:0 and reports the port; a port already in use
// is a clear error naming the libuv call (and leaves nothing open once stopAccepting() runs);
// it tracks, drains and closes its connections.
#include "proxy/net/listener.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "proxy/net/deferred_queue.h"
#include "tests/support/raw_client.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

using testing::RawClient;
using testing::TestLoop;

// Answers every request 200 "hi" at once.
class HelloHandler final : public RequestHandler {
public:
  int requests = 0;
  ClientStream* handle(Request&, ClientConnection& connection) override {
    ++requests;
    connection.sendSimpleResponse(200, "text/plain", "hi");
    return nullptr;
  }
};

std::uint16_t portOf(const std::string& address) {
  std::string error;
  const auto parsed = config::parseHostPort(address, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  return parsed->port;
}

}  // namespace

TEST_CASE("listener: a port already in use is an error naming the call; nothing stays open") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  testing::ScriptedUpstream holder(loop);  // holds the port
  HelloHandler handler;
  ServerLimits limits;
  DeferredQueue deferred(loop);
  Listener listener(loop, "test", handler, deferred, limits);
  const std::string error = listener.listen({"127.0.0.1", holder.port()});
  CHECK(error.find("cannot listen on " + holder.address()) == 0);
  CHECK(error.find(": uv_listen: EADDRINUSE") != std::string::npos);
  listener.stopAccepting();
  holder.close();
  deferred.close();
  CHECK(loop.runToEnd());
  CHECK(loop.close() == 0);
}

TEST_CASE("listener: an address that does not resolve is an error before any handle opens") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  HelloHandler handler;
  ServerLimits limits;
  DeferredQueue deferred(loop);
  Listener listener(loop, "test", handler, deferred, limits);
  const std::string error = listener.listen({"no-such-host.invalid", 0});
  CHECK(error.starts_with("cannot listen on no-such-host.invalid:0: "));
  listener.stopAccepting();
  deferred.close();
  CHECK(loop.close() == 0);
}

TEST_CASE("listener: serves connections, counts them, and closes them all") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  HelloHandler handler;
  ServerLimits limits;
  DeferredQueue deferred(loop);
  Listener listener(loop, "test", handler, deferred, limits);
  REQUIRE(listener.listen({"127.0.0.1", 0}).empty());
  const std::uint16_t port = portOf(listener.boundAddress());
  CHECK(port != 0);
  CHECK(listener.boundAddress() == "127.0.0.1:" + std::to_string(port));

  RawClient kept(loop, port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");  // keep-alive
  RawClient closing(loop, port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  CHECK(loop.runUntil([&] {
    return closing.ended() && kept.received().find("\r\n\r\nhi") != std::string::npos;
  }));
  CHECK(handler.requests == 2);
  CHECK(closing.received().starts_with("HTTP/1.1 200"));
  CHECK(loop.runUntil([&] { return listener.connectionCount() == 1; }));
  CHECK(listener.servedCount() == 1);

  // Draining closes an idle keep-alive connection.
  listener.drainConnections();
  CHECK(loop.runUntil([&] { return kept.ended(); }));
  CHECK(loop.runUntil([&] { return listener.connectionCount() == 0; }));

  listener.stopAccepting();
  listener.closeConnections();
  kept.close();
  closing.close();
  deferred.close();
  CHECK(loop.runToEnd());
  CHECK(loop.close() == 0);
}

}  // namespace bulwark
