// One Redis connection for shared state, on Bulwark's own loop (hiredis' async API through its
// libuv adapter). Redis is a helper, never a dependency: a command sent while Redis is down is
// refused at once, and one that gets no answer within the timeout is reported as timed out, so
// a caller never waits longer than that and then goes on as if alone. The client reconnects by
// itself with capped backoff; each change of state is logged once (never the password).
//
// Single-threaded (the loop thread). No hiredis type appears here.
#pragma once

#include "config/address.h"
#include "policies/backoff.h"
#include "proxy/admin/metrics.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <uv.h>
#include <vector>

struct redisAsyncContext;
struct redisReply;

namespace bulwark {

struct RedisClientOptions {
  config::HostPort address;
  int db = 0;           // SELECT after connecting when not 0
  std::string password; // AUTH after connecting when not empty; never logged
  std::chrono::milliseconds timeout{50};
  // A connection not ready (TCP, AUTH, SELECT) within this is dropped and tried again.
  std::chrono::milliseconds connect_timeout{1000};
  // Between connection attempts while Redis is down: base, doubling, capped (no jitter: one
  // client per process).
  policies::BackoffParams reconnect{std::chrono::milliseconds(100), 2.0,
                                    std::chrono::milliseconds(2000)};
};

// A Redis answer, valid only during the callback that receives it (it points into hiredis'
// reply, freed after the callback returns). Copy out what you keep.
class RedisReply {
public:
  explicit RedisReply(const redisReply* reply) : reply_(reply) {}

  bool isNil() const;
  bool isError() const;
  bool isInteger() const;
  bool isString() const; // a bulk string or a status ("OK")
  bool isArray() const;
  long long integer() const;     // 0 unless isInteger()
  std::string_view text() const; // a string, a status or an error's message; "" otherwise
  std::size_t size() const;      // elements of an array; 0 otherwise
  RedisReply element(std::size_t index) const; // index < size()

private:
  const redisReply* reply_;
};

// How a command ended. kOk comes with Redis' reply (which may itself be an error reply: see
// SharedStateResult::kError in the metric), the others with an empty reply.
using RedisStatus = SharedStateResult;
// Called exactly once per command sent, never inline in command(): with the reply, or after
// the timeout, or when the connection drops first. Not called after stop().
using RedisCallback = std::function<void(RedisStatus status, RedisReply reply)>;

class RedisClient {
public:
  // `metrics` may be null (tests).
  RedisClient(uv_loop_t* loop, RedisClientOptions options, Metrics* metrics);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Starts connecting (never blocks: a host name is resolved with uv_getaddrinfo).
  void start();
  // Drops every pending callback, closes the connection and the timers. Their memory is freed by
  // libuv close callbacks: the loop must run once more before it is closed, and this object must
  // outlive that run.
  void stop();

  // Connected, authenticated and the database selected.
  bool up() const { return state_ == State::kUp; }

  // Sends one command, arguments binary-safe. Returns false when Redis is not up (counted as
  // "unavailable"; `done` is never called); otherwise `done` (may be empty: fire and forget) is
  // called exactly once, later. Commands are pipelined on the one connection.
  bool command(SharedStateOp op, std::span<const std::string_view> args, RedisCallback done = {});
  bool command(SharedStateOp op, std::initializer_list<std::string_view> args,
               RedisCallback done = {}) {
    return command(op, std::span<const std::string_view>(args.begin(), args.size()),
                   std::move(done));
  }

  // `hook` runs each time the client becomes up (after a connect or a reconnect), e.g. to write
  // the heartbeat at once; several parts each add their own, run in the order added. A hook may
  // send commands (and add or remove hooks). Never inline in addOnUp(). stop() drops them all.
  using OnUpId = std::size_t;
  OnUpId addOnUp(std::function<void()> hook);
  // The hook added under `id` never runs again (its owner is stopping before the client).
  void removeOnUp(OnUpId id);

private:
  enum class State : std::uint8_t { kStopped, kResolving, kConnecting, kUp, kDown };
  struct Pending;
  class Resolve;

  static void onConnect(const redisAsyncContext* context, int status);
  static void onDisconnect(const redisAsyncContext* context, int status);
  static void onReply(redisAsyncContext* context, void* reply, void* privdata);
  static void onRetryTimer(uv_timer_t* timer);
  static void onTimeoutTimer(uv_timer_t* timer);

  bool send(SharedStateOp op, std::span<const std::string_view> args, RedisCallback done,
            std::chrono::milliseconds timeout);
  void resolveAndConnect();
  void connectTo(const std::string& ip);
  void sendHandshake();
  void handshakeDone(bool ok, std::string_view error);
  void connectionLost(std::string_view error);
  void scheduleReconnect();
  void dropContext();
  void finish(Pending& pending, RedisStatus status, const redisReply* reply);
  void armTimeoutTimer();
  void becomeUp();
  void becomeDown(std::string_view error);
  void count(SharedStateOp op, RedisStatus status);

  uv_loop_t* loop_;
  RedisClientOptions options_;
  Metrics* metrics_;
  redisAsyncContext* context_ = nullptr;
  Resolve* resolve_ = nullptr;
  uv_timer_t retry_timer_{};   // reconnect backoff, and the connect deadline
  uv_timer_t timeout_timer_{}; // the oldest pending command's deadline
  bool timers_open_ = false;
  State state_ = State::kStopped;
  bool ever_reported_ = false; // the first up/down is logged; later only changes
  bool reported_up_ = false;
  int failed_attempts_ = 0;
  std::string handshake_error_; // the first refusal of AUTH or SELECT on this connection
  // Commands sent on the current connection, oldest first (Redis answers in order).
  std::deque<Pending*> pending_;
  // Indexed by OnUpId; a removed hook stays as an empty slot (a handful, added at start).
  std::vector<std::function<void()>> on_up_;
};

} // namespace bulwark
