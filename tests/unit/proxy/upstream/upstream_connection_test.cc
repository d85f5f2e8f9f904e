// One upstream connection (taken from the pool) against the scripted upstream on a fresh loop:
// a response streams to the sink and the connection goes back idle for reuse; each way a
// response can fail is reported once, with the right kind.
#include "proxy/upstream/upstream_connection.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "tests/support/upstream_fixture.h"

namespace bulwark {
namespace {

using testing::Reply;
using testing::UpstreamFixture;

constexpr std::string_view kRequest =
    "POST /mcp HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";

struct Sink final : UpstreamResponseSink {
  int status = 0;
  std::string body;
  int completed = 0;
  std::optional<UpstreamFailure> failure;
  int failures = 0;
  void onUpstreamHead(HttpHead& head) override { status = head.status; }
  void onUpstreamBody(std::string_view bytes) override { body.append(bytes); }
  void onUpstreamComplete() override { ++completed; }
  void onUpstreamFailure(const UpstreamFailure& f) override {
    failure = f;
    ++failures;
  }
  bool done() const { return completed + failures > 0; }
};

}  // namespace

TEST_CASE("upstream connection: a response streams to the sink; the connection is reused") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::json(200, R"({"x":1})"));
  f.upstream.push(Reply::sse(200, {"1", "2"}, std::chrono::milliseconds(5)));
  Sink first;
  UpstreamConnection& connection = f.pool.acquire();
  connection.send(kRequest, false, first);
  CHECK(f.loop.runUntil([&] { return first.done(); }));
  CHECK(first.completed == 1);
  CHECK(first.status == 200);
  CHECK(first.body == R"({"x":1})");
  CHECK(connection.idle());
  CHECK_FALSE(connection.reused());

  Sink second;
  UpstreamConnection& again = f.pool.acquire();
  CHECK(&again == &connection);
  again.send(kRequest, false, second);
  CHECK(f.loop.runUntil([&] { return second.done(); }));
  CHECK(second.completed == 1);
  CHECK(second.body == "event: message\ndata: 1\n\nevent: message\ndata: 2\n\n");
  CHECK(again.reused());
  CHECK(f.upstream.connectionsAccepted() == 1);
  CHECK(f.upstream.requests().size() == 2);
  CHECK(f.close() == 0);
}

TEST_CASE("upstream connection: each failure is reported once with its kind") {
  const testing::QuietLogs quiet;
  struct Case {
    const char* what;
    Reply reply;
    UpstreamFailureKind kind;
  };
  const Case cases[] = {
      {"reset before the head", Reply::resetBeforeHead(),
       UpstreamFailureKind::kResetBeforeResponse},
      {"closed before the head", Reply::raw({}, Reply::End::kClose),
       UpstreamFailureKind::kResetBeforeResponse},
      {"reset in the middle of an SSE stream", Reply::resetAfterHead(200, {"1"}),
       UpstreamFailureKind::kResetDuringResponse},
      {"bytes that are not HTTP", Reply::raw({{std::chrono::milliseconds(0), "NOT HTTP\r\n\r\n"}},
                                             Reply::End::kHang),
       UpstreamFailureKind::kMalformedResponse},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    UpstreamFixture f;
    f.upstream.push(c.reply);
    Sink sink;
    f.pool.acquire().send(kRequest, false, sink);
    CHECK(f.loop.runUntil([&] { return sink.done(); }));
    CHECK(sink.completed == 0);
    CHECK(sink.failures == 1);
    REQUIRE(sink.failure.has_value());
    CHECK(failureKindName(sink.failure->kind) == failureKindName(c.kind));
    CHECK_FALSE(sink.failure->reused_connection);
    CHECK(f.close() == 0);
  }
}

TEST_CASE("upstream connection: a refused connect is connect_failed, naming the call") {
  const testing::QuietLogs quiet;
  testing::TestLoop loop;
  ResolvedAddress address;
  {
    // A port that was just free: nothing listens there any more.
    testing::ScriptedUpstream gone(loop);
    address = testing::addressOf(gone);
    gone.close();  // closes the socket now; the handle's memory goes in its close callback
  }
  UpstreamPool pool(loop, address, UpstreamPoolOptions{});
  Sink sink;
  pool.acquire().send(kRequest, false, sink);
  CHECK(loop.runUntil([&] { return sink.done(); }));
  REQUIRE(sink.failure.has_value());
  CHECK(sink.failure->kind == UpstreamFailureKind::kConnectFailed);
  CHECK(sink.failure->detail.starts_with("uv_tcp_connect: ECONNREFUSED"));
  pool.close();
  CHECK(loop.runToEnd());
  CHECK(loop.close() == 0);
}

TEST_CASE("upstream connection: shutdown tells a waiting sink, abandon tells nobody") {
  const testing::QuietLogs quiet;
  UpstreamFixture f;
  f.upstream.push(Reply::never());
  f.upstream.push(Reply::never());
  Sink waiting;
  UpstreamConnection& first = f.pool.acquire();
  first.send(kRequest, false, waiting);
  Sink abandoned;
  UpstreamConnection& second = f.pool.acquire();
  second.send(kRequest, false, abandoned);
  CHECK(f.loop.runUntil([&] { return f.upstream.requests().size() == 2; }));
  second.abandon();
  first.shutdown();
  CHECK(waiting.failures == 1);
  CHECK(waiting.failure->kind == UpstreamFailureKind::kResetBeforeResponse);
  CHECK(f.loop.runUntil([&] { return f.pool.openCount() == 0; }));
  CHECK_FALSE(abandoned.done());
  CHECK(f.close() == 0);
}

}  // namespace bulwark
