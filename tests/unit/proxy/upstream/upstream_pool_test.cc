// The upstream pool on a fresh loop against the scripted loopback upstream: an idle connection
// that is closing (its server hung up, or it expired) is never handed out again before its close
// callback has run, and a request sent on a closing connection fails at once.
#include "proxy/upstream/upstream_pool.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <memory>
#include <string>

#include "proxy/upstream/upstream_connection.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

using namespace bulwark;

namespace {

using bulwark::testing::Reply;
using bulwark::testing::ScriptedUpstream;
using bulwark::testing::TestLoop;

constexpr std::string_view kRequest =
    "POST /mcp HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";

struct RecordingSink final : UpstreamResponseSink {
  int completed = 0;
  int failed = 0;
  void onUpstreamHead(HttpHead&) override {}
  void onUpstreamBody(std::string_view) override {}
  void onUpstreamComplete() override { ++completed; }
  void onUpstreamFailure(const UpstreamFailure&) override { ++failed; }
};

}  // namespace

TEST_CASE("a closing idle connection is neither handed out nor sent on") {
  TestLoop loop;
  {
    ScriptedUpstream server(loop);
    server.push(Reply::json(200, "{}"));
    server.push(Reply::json(200, "{}"));
    ResolvedAddress address;
    std::memcpy(&address.storage, &server.sockaddr(), sizeof server.sockaddr());
    address.length = sizeof server.sockaddr();
    UpstreamPool pool(loop, address, UpstreamPoolOptions{});

    RecordingSink first;
    UpstreamConnection& connection = pool.acquire();
    connection.send(kRequest, false, first);
    REQUIRE(loop.runUntil([&] { return first.completed == 1; }));
    REQUIRE(pool.idleCount() == 1);

    // The connection closes (here: it expired) and is still listed until its close callback.
    connection.expire();
    REQUIRE(connection.closing());
    REQUIRE(pool.idleCount() == 1);
    UpstreamConnection& next = pool.acquire();
    CHECK(&next != &connection);
    CHECK_FALSE(next.closing());

    // A sink handed a closing connection all the same hears of it at once, not never.
    RecordingSink late;
    connection.send(kRequest, false, late);
    CHECK(late.failed == 1);

    RecordingSink second;
    next.send(kRequest, false, second);
    REQUIRE(loop.runUntil([&] { return second.completed == 1; }));
    CHECK(first.failed == 0);
    CHECK(second.failed == 0);
    CHECK(server.connectionsAccepted() == 2);
    pool.close();
    server.close();
    CHECK(loop.runToEnd());
  }
  CHECK(loop.close() == 0);
}
