// Server on a fresh loop: a start that fails half-way (an upstream host that does not resolve, a
// port already in use) leaves no handle open, so the loop closes (issue #13, bug 4: the deferred
// queue's idle handle stayed linked into the loop and was freed with the Server); a start that
// works serves the admin port, and shutdown() lets the loop run out.
#include "proxy/app/server.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "tests/support/quiet_logs.h"
#include "tests/support/raw_client.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

using testing::RawClient;
using testing::ScriptedUpstream;
using testing::TestLoop;

ServerSettings settingsFor(const std::string& upstream_url) {
  ServerSettings settings;
  settings.listen = {"127.0.0.1", 0};
  settings.admin = {"127.0.0.1", 0};
  std::string error;
  const auto upstream = config::parseUpstreamUrl(upstream_url, error);
  REQUIRE_MESSAGE(upstream.has_value(), error);
  settings.upstream = *upstream;
  settings.runtime = std::make_shared<const RuntimeConfig>(config::Config{});
  return settings;
}

std::uint16_t portOf(const std::string& address) {
  std::string error;
  const auto parsed = config::parseHostPort(address, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  return parsed->port;
}

}  // namespace

TEST_CASE("server: an upstream host that does not resolve fails start and leaves no handle") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  {
    Server server(loop);
    const std::string error = server.start(settingsFor("http://no-such-host.invalid/mcp"));
    CHECK(error.find("no-such-host.invalid") != std::string::npos);
    CHECK(loop.runToEnd());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("server: a data port already in use fails start with the call's name") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  ScriptedUpstream upstream(loop);  // its port is the one in use
  {
    Server server(loop);
    ServerSettings settings = settingsFor("http://" + upstream.address() + "/mcp");
    settings.listen.port = upstream.port();
    const std::string error = server.start(settings);
    CHECK(error.find(upstream.address()) != std::string::npos);
    CHECK(error.find("EADDRINUSE") != std::string::npos);
    upstream.close();
    CHECK(loop.runToEnd());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("server: started, it answers on the admin port; shutdown lets the loop run out") {
  const testing::QuietLogs quiet;
  TestLoop loop;
  ScriptedUpstream upstream(loop);
  {
    Server server(loop);
    const std::string error = server.start(settingsFor("http://" + upstream.address() + "/mcp"));
    REQUIRE(error.empty());
    CHECK(portOf(server.dataAddress()) != 0);
    RawClient client(loop, portOf(server.adminAddress()),
                     "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK(loop.runUntil([&] { return client.ended(); }));
    CHECK(client.received().starts_with("HTTP/1.1 200"));
    CHECK(client.received().ends_with("ok\n"));
    client.close();
    server.shutdown();
    upstream.close();
    CHECK(loop.runToEnd());
  }
  CHECK(loop.close() == 0);
}

}  // namespace bulwark
