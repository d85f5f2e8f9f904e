// The upstream pool on a fresh loop against a tiny loopback server: an idle connection that is
// closing (its server hung up, or it expired) is never handed out again before its close
// callback has run, and a request sent on a closing connection fails at once.
#include "proxy/upstream/upstream_pool.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <memory>
#include <string>

#include "proxy/upstream/upstream_connection.h"

using namespace bulwark;

namespace {

constexpr std::string_view kRequest = "POST /mcp HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";

// Accepts connections and answers every read with one small keep-alive response.
struct CannedServer {
  uv_tcp_t listener{};
  std::vector<std::unique_ptr<uv_tcp_t>> accepted;
  sockaddr_in address{};

  explicit CannedServer(uv_loop_t* loop) {
    uv_tcp_init(loop, &listener);
    listener.data = this;
    uv_ip4_addr("127.0.0.1", 0, &address);
    REQUIRE(uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&address), 0) == 0);
    int length = sizeof address;
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&address), &length);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 16, &onConnection) == 0);
  }

  static void onConnection(uv_stream_t* server, int status) {
    REQUIRE(status == 0);
    auto* self = static_cast<CannedServer*>(server->data);
    auto client = std::make_unique<uv_tcp_t>();
    uv_tcp_init(server->loop, client.get());
    REQUIRE(uv_accept(server, reinterpret_cast<uv_stream_t*>(client.get())) == 0);
    uv_read_start(reinterpret_cast<uv_stream_t*>(client.get()),
                  [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
                    static char storage[4096];
                    *buf = uv_buf_init(storage, sizeof storage);
                  },
                  [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
                    if (nread <= 0) {
                      return;
                    }
                    static const char kReply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                    uv_buf_t reply = uv_buf_init(const_cast<char*>(kReply), sizeof kReply - 1);
                    CHECK(uv_try_write(stream, &reply, 1) == static_cast<int>(sizeof kReply - 1));
                  });
    self->accepted.push_back(std::move(client));
  }

  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    for (auto& client : accepted) {
      uv_close(reinterpret_cast<uv_handle_t*>(client.get()), nullptr);
    }
  }
};

struct RecordingSink final : UpstreamResponseSink {
  int completed = 0;
  int failed = 0;
  void onUpstreamHead(HttpHead&) override {}
  void onUpstreamBody(std::string_view) override {}
  void onUpstreamComplete() override { ++completed; }
  void onUpstreamFailure(const UpstreamFailure&) override { ++failed; }
};

// Runs the loop until `done` holds (bounded in turns).
template <typename Done>
void runUntil(uv_loop_t* loop, Done done) {
  for (int turn = 0; turn < 1000 && !done(); ++turn) {
    uv_run(loop, UV_RUN_ONCE);
  }
  REQUIRE(done());
}

}  // namespace

TEST_CASE("a closing idle connection is neither handed out nor sent on") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    CannedServer server(&loop);
    ResolvedAddress address;
    std::memcpy(&address.storage, &server.address, sizeof server.address);
    address.length = sizeof server.address;
    UpstreamPool pool(&loop, address, UpstreamPoolOptions{});

    RecordingSink first;
    UpstreamConnection& connection = pool.acquire();
    connection.send(kRequest, false, first);
    runUntil(&loop, [&] { return first.completed == 1; });
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
    runUntil(&loop, [&] { return second.completed == 1; });
    CHECK(first.failed == 0);
    CHECK(second.failed == 0);
    pool.close();
    server.close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  CHECK(uv_loop_close(&loop) == 0);
}
