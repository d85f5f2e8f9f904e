// One stdio session behind the bridge, with a tiny Node stdio server as its child: the client's
// ids are restored in the answers (the child sees the session's own ids), progress for a
// request's token turns its answer into an SSE stream, and when the child dies the request it
// had been sent fails as a closed connection, the child is restarted and the client's
// initialize replayed before the next request.
#include "proxy/stdio/stdio_session.h"

#include <doctest/doctest.h>

#include "tests/unit/proxy/stdio/stdio_test_server.h"

namespace bulwark::stdio {
namespace {

using test::BridgeFixture;
using test::Reply;

}  // namespace

TEST_CASE("stdio session: the child sees its own ids; the client gets its ids back") {
  BridgeFixture f;
  f.start();
  const std::string session = f.initialize();
  const Reply a =
      f.request("POST", R"({"jsonrpc":"2.0","id":"same","method":"echo"})", session);
  const Reply b =
      f.request("POST", R"({"jsonrpc":"2.0","id":"same","method":"echo"})", session);
  REQUIRE(a.status(200));
  REQUIRE(b.status(200));
  CHECK(a.body().find(R"("id":"same")") != std::string::npos);
  CHECK(b.body().find(R"("id":"same")") != std::string::npos);
  // The child saw two different integer ids for the same client id.
  const auto child_id = [](const std::string& body) {
    const auto at = body.find(R"("childId":)");
    if (at == std::string::npos) {
      return std::string();
    }
    return body.substr(at + 10, body.find(',', at) - at - 10);
  };
  CHECK_FALSE(child_id(a.body()).empty());
  CHECK(child_id(a.body()) != child_id(b.body()));
  CHECK(f.close() == 0);
}

TEST_CASE("stdio session: progress for the request's token makes its answer an SSE stream") {
  BridgeFixture f;
  f.start();
  const std::string session = f.initialize();
  const Reply reply = f.request(
      "POST",
      R"({"jsonrpc":"2.0","id":3,"method":"progress","params":{"_meta":{"progressToken":"tok"}}})",
      session);
  CHECK(reply.status(200));
  CHECK(reply.header("Content-Type").starts_with("text/event-stream"));
  const std::string body = reply.body();
  const auto progress = body.find(R"("progressToken":"tok")");
  const auto answer = body.find(R"("id":3)");
  CHECK(progress != std::string::npos);
  CHECK(answer != std::string::npos);
  CHECK(progress < answer);
  CHECK(f.close() == 0);
}

TEST_CASE("stdio session: a dying child fails its request; initialize is replayed to the next") {
  BridgeFixture f;
  f.start();
  const std::string session = f.initialize();
  const Reply died = f.request("POST", R"({"jsonrpc":"2.0","id":1,"method":"die"})", session);
  CHECK(died.ended);
  CHECK(died.text.empty());  // closed without an answer: the proxy sees a reset
  const Reply count = f.request("POST", R"({"jsonrpc":"2.0","id":2,"method":"count"})", session);
  CHECK(count.status(200));
  // The restarted child has seen exactly one initialize: the replayed one.
  CHECK(count.body().find(R"("initializes":1)") != std::string::npos);
  CHECK(count.body().find(R"("id":2)") != std::string::npos);
  CHECK(f.close() == 0);
}

}  // namespace bulwark::stdio
