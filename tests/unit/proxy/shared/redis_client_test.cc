// RedisClient against a real redis-server started by the test: the handshake (AUTH, SELECT),
// commands and replies, Redis down at start, killed mid-run and restarted (reconnect), the
// per-command timeout, a refused password, and a clean close (uv_loop_close() == 0).
#include "proxy/admin/metrics.h"
#include "proxy/shared/redis_client.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_loop.h"

#include <doctest/doctest.h>
#include <optional>
#include <string>

namespace bulwark {
namespace {

using namespace std::chrono_literals;
using testing::QuietLogs;
using testing::RedisServer;
using testing::TestLoop;

RedisClientOptions optionsFor(const RedisServer& redis, std::string password = {}, int db = 0) {
  RedisClientOptions options;
  options.address = {"127.0.0.1", redis.port()};
  options.password = std::move(password);
  options.db = db;
  options.reconnect = {10ms, 2.0, 50ms};
  return options;
}

// One command's end, recorded in the callback and checked after the loop ran.
struct Answer {
  std::optional<RedisStatus> status;
  std::string text;
  long long integer = 0;

  RedisCallback callback() {
    return [this](RedisStatus s, RedisReply reply) {
      status = s;
      text = std::string(reply.text());
      integer = reply.integer();
    };
  }
};

TEST_CASE("RedisClient: AUTH, SELECT, commands and replies; counted; closes cleanly") {
  QuietLogs quiet;
  RedisServer redis("s3cret");
  REQUIRE(redis.start());
  TestLoop loop;
  Metrics metrics;
  RedisClient client(loop, optionsFor(redis, "s3cret", 3), &metrics);
  int ups = 0;
  std::string order;
  client.addOnUp([&] {
    ++ups;
    order += "a";
  });
  client.addOnUp([&] { order += "b"; }); // several parts each have their own hook
  CHECK_FALSE(client.command(SharedStateOp::kOther, {"PING"})); // not connected yet
  client.start();
  REQUIRE(loop.runUntil([&] { return client.up(); }));
  CHECK(ups == 1);
  CHECK(order == "ab");

  Answer set, get, missing, db, error;
  CHECK(client.command(SharedStateOp::kSessionWrite, {"SET", "k", std::string_view("v\0w", 3)},
                       set.callback()));
  CHECK(client.command(SharedStateOp::kSessionRead, {"GET", "k"}, get.callback()));
  CHECK(client.command(SharedStateOp::kSessionRead, {"GET", "nothing"}, missing.callback()));
  CHECK(client.command(SharedStateOp::kOther, {"CLIENT", "INFO"}, db.callback()));
  CHECK(client.command(SharedStateOp::kOther, {"INCR", "k"}, error.callback()));
  CHECK(client.command(SharedStateOp::kHeartbeat, {"SET", "fire", "forget"}));
  REQUIRE(loop.runUntil([&] { return error.status.has_value(); }));
  CHECK(set.status == SharedStateResult::kOk);
  CHECK(set.text == "OK");
  CHECK(get.status == SharedStateResult::kOk);
  CHECK(get.text == std::string("v\0w", 3));
  CHECK(missing.status == SharedStateResult::kOk);
  CHECK(missing.text.empty());
  CHECK(db.text.find(" db=3 ") != std::string::npos);
  CHECK(error.status == SharedStateResult::kError);
  CHECK(error.text.find("not an integer") != std::string::npos);

  const std::string exposition = metrics.serialize();
  CHECK(exposition.find("bulwark_shared_state_up 1") != std::string::npos);
  CHECK(exposition.find(
            "bulwark_shared_state_operations_total{op=\"session_read\",result=\"ok\"} 2") !=
        std::string::npos);
  CHECK(exposition.find("bulwark_shared_state_operations_total{op=\"other\",result=\"error\"} 1") !=
        std::string::npos);
  CHECK(
      exposition.find("bulwark_shared_state_operations_total{op=\"handshake\",result=\"ok\"} 3") !=
      std::string::npos);

  Answer dropped;
  CHECK(client.command(SharedStateOp::kOther, {"PING"}, dropped.callback()));
  client.stop();
  CHECK(metrics.serialize().find("bulwark_shared_state_up 0") != std::string::npos);
  CHECK(loop.close() == 0);
  CHECK_FALSE(dropped.status.has_value()); // callbacks are dropped by stop()
}

TEST_CASE("RedisClient: down at start, then up when Redis starts; killed mid-run; restarted") {
  QuietLogs quiet;
  RedisServer redis;
  TestLoop loop;
  RedisClient client(loop, optionsFor(redis), nullptr);
  client.start();
  // Nothing listens: attempts fail and are retried; commands are refused at once meanwhile.
  loop.runUntil([] { return false; }, 100ms);
  CHECK_FALSE(client.up());
  CHECK_FALSE(client.command(SharedStateOp::kOther, {"PING"}, [](RedisStatus, RedisReply) {}));

  REQUIRE(redis.start());
  REQUIRE(loop.runUntil([&] { return client.up(); }));
  Answer before;
  CHECK(client.command(SharedStateOp::kOther, {"SET", "a", "1"}, before.callback()));
  REQUIRE(loop.runUntil([&] { return before.status.has_value(); }));
  CHECK(before.status == SharedStateResult::kOk);

  // Killed with a command in flight: it ends as unavailable (or timed out), never hangs.
  Answer in_flight;
  CHECK(client.command(SharedStateOp::kOther, {"BLPOP", "list", "5"}, in_flight.callback()));
  redis.kill();
  REQUIRE(loop.runUntil([&] { return in_flight.status.has_value() && !client.up(); }));
  CHECK(in_flight.status != SharedStateResult::kOk);

  REQUIRE(redis.start());
  REQUIRE(loop.runUntil([&] { return client.up(); }));
  Answer after;
  CHECK(client.command(SharedStateOp::kOther, {"PING"}, after.callback()));
  REQUIRE(loop.runUntil([&] { return after.status.has_value(); }));
  CHECK(after.text == "PONG");
  client.stop();
  CHECK(loop.close() == 0);
}

TEST_CASE("RedisClient: a slow answer times out, later ones still arrive in order") {
  QuietLogs quiet;
  RedisServer redis;
  REQUIRE(redis.start());
  TestLoop loop;
  RedisClient client(loop, optionsFor(redis), nullptr);
  client.start();
  REQUIRE(loop.runUntil([&] { return client.up(); }));
  Answer slow, queued, later;
  CHECK(client.command(SharedStateOp::kSessionRead, {"BLPOP", "list", "0.3"}, slow.callback()));
  CHECK(client.command(SharedStateOp::kSessionRead, {"PING"}, queued.callback()));
  REQUIRE(loop.runUntil([&] { return slow.status.has_value(); }));
  CHECK(slow.status == SharedStateResult::kTimeout);
  // Behind the slow one in the pipeline: it timed out too, or it got its answer.
  REQUIRE(loop.runUntil([&] { return queued.status.has_value(); }));
  CHECK(client.up()); // a slow answer is not a dead connection
  CHECK(client.command(SharedStateOp::kOther, {"ECHO", "x"}, later.callback()));
  REQUIRE(loop.runUntil([&] { return later.status.has_value(); }));
  CHECK(later.status == SharedStateResult::kOk);
  CHECK(later.text == "x");
  client.stop();
  CHECK(loop.close() == 0);
}

TEST_CASE("RedisClient: a connection that stops answering is dropped and made again") {
  QuietLogs quiet;
  RedisServer redis;
  REQUIRE(redis.start());
  TestLoop loop;
  RedisClient client(loop, optionsFor(redis), nullptr);
  int ups = 0;
  int removed_ups = 0;
  const RedisClient::OnUpId removed = client.addOnUp([&] { ++removed_ups; });
  client.addOnUp([&] { ++ups; });
  client.start();
  REQUIRE(loop.runUntil([&] { return client.up(); }));
  CHECK(removed_ups == 1);
  client.removeOnUp(removed); // its owner stopped: the reconnect below does not run it
  Answer stuck;
  CHECK(client.command(SharedStateOp::kOther, {"BLPOP", "list", "10"}, stuck.callback()));
  REQUIRE(loop.runUntil([&] { return ups == 2; }));
  CHECK(stuck.status == SharedStateResult::kTimeout);
  CHECK(removed_ups == 1);
  client.stop();
  CHECK(loop.close() == 0);
}

TEST_CASE("RedisClient: a refused password keeps it down; stop while connecting is clean") {
  QuietLogs quiet;
  RedisServer redis("right");
  REQUIRE(redis.start());
  TestLoop loop;
  Metrics metrics;
  RedisClient client(loop, optionsFor(redis, "wrong"), &metrics);
  client.start();
  REQUIRE(loop.runUntil([&] {
    return metrics.serialize().find("op=\"handshake\",result=\"error\"") != std::string::npos;
  }));
  CHECK_FALSE(client.up());
  client.stop();
  CHECK(loop.close() == 0);

  TestLoop second;
  RedisClient named(second, RedisClientOptions{{"localhost", redis.port()}, 0, "right"}, nullptr);
  named.start(); // resolving a name: stopped before or after it resolves, nothing leaks
  second.runUntil([] { return false; }, 5ms);
  named.stop();
  CHECK(second.close() == 0);
}

} // namespace
} // namespace bulwark
