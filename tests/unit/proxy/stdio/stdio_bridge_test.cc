// The stdio bridge's HTTP side on a fresh loop, with a tiny Node stdio server as the child:
// initialize opens a session (Mcp-Session-Id), notifications get 202, a missing session 400, an
// unknown one 404, DELETE ends a session, other methods 405; readiness; a session whose client
// left before its initialize was answered ends; a command that cannot be spawned fails start
// with a clear line. Every case ends with the loop closed, children gone.
#include "proxy/stdio/stdio_bridge.h"

#include <doctest/doctest.h>

#include "tests/unit/proxy/stdio/stdio_test_server.h"

namespace bulwark::stdio {
namespace {

using test::BridgeFixture;
using test::Reply;

}  // namespace

TEST_CASE("stdio bridge: initialize opens a session; requests in it are answered") {
  BridgeFixture f;
  f.start();
  CHECK(f.bridge.problem().empty());
  const Reply init = f.request("POST", test::kInitialize, "");
  REQUIRE(init.status(200));
  const std::string session = init.header("Mcp-Session-Id");
  REQUIRE_FALSE(session.empty());
  CHECK(init.body().find(R"("id":"init-1")") != std::string::npos);
  CHECK(init.body().find("stdio-test") != std::string::npos);

  const Reply note =
      f.request("POST", R"({"jsonrpc":"2.0","method":"notifications/initialized"})", session);
  CHECK(note.status(202));
  const Reply echo =
      f.request("POST", R"({"jsonrpc":"2.0","id":7,"method":"echo","params":{"x":1}})", session);
  CHECK(echo.status(200));
  CHECK(echo.body().find(R"("id":7)") != std::string::npos);
  CHECK(echo.body().find(R"("params":{"x":1})") != std::string::npos);
  CHECK(f.close() == 0);
}

TEST_CASE("stdio bridge: session errors are 400, 404 and 405") {
  BridgeFixture f;
  f.start();
  const std::string echo = R"({"jsonrpc":"2.0","id":1,"method":"echo"})";
  const Reply missing = f.request("POST", echo, "");
  CHECK(missing.status(400));
  const Reply unknown = f.request("POST", echo, "nope");
  CHECK(unknown.status(404));
  CHECK(unknown.body().find("-32001") != std::string::npos);
  CHECK(f.request("DELETE", "", "").status(400));
  CHECK(f.request("DELETE", "", "nope").status(404));
  const Reply put = f.request("PUT", "{}", "");
  CHECK(put.status(405));
  CHECK(put.header("Allow") == "GET, POST, DELETE");
  CHECK(f.close() == 0);
}

TEST_CASE("stdio bridge: DELETE ends the session") {
  BridgeFixture f;
  f.start();
  const std::string session = f.initialize();
  CHECK(f.request("DELETE", "", session).status(200));
  CHECK(f.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"echo"})", session).status(404));
  CHECK(f.close() == 0);
}

TEST_CASE("stdio bridge: a session whose initialize went unanswered to a client that left ends") {
  // A child that reads and never answers. The client (Bulwark's own tool listing timing out on
  // a slow start, or an attempt the proxy gave up on) closes the POST before the answer: nobody
  // learnt the session's id, so its child must not run on until the idle timeout.
  BridgeSettings settings = test::nodeServer();
  settings.command.argv = {"node", "-e", "process.stdin.resume()"};
  BridgeFixture f(settings);
  f.start();
  const auto children = [&f](int count) {
    return f.metrics.serialize().find("\nbulwark_stdio_children " + std::to_string(count) +
                                      "\n") != std::string::npos;
  };
  std::string bytes = "POST /mcp HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\nContent-Length: " +
                      std::to_string(std::string_view(test::kInitialize).size()) + "\r\n\r\n" +
                      test::kInitialize;
  testing::RawClient client(f.loop, f.port, std::move(bytes));
  // The session took the spare, and a new spare started: two children.
  CHECK(f.loop.runUntil([&] { return children(2); }));
  client.close();
  CHECK(f.loop.runUntil([&] { return children(1); })); // only the spare is left
  CHECK(client.received().empty());
  CHECK(f.close() == 0);
}

TEST_CASE("stdio bridge: a command that cannot be spawned fails start with a clear line") {
  BridgeSettings settings;
  settings.command.argv = {"/nonexistent/stdio-server"};
  BridgeFixture f(settings);
  const std::string error = f.bridge.start();
  CHECK(error.starts_with("cannot start the stdio server '/nonexistent/stdio-server': "));
  CHECK(f.close() == 0);
}

}  // namespace bulwark::stdio
