// hiredis 0.14's async context on our loop. What its adapter (hiredis/adapters/libuv.h) does and
// what we rely on:
// - it owns one uv_poll_t on the socket; the context's cleanup (run inside every free of the
//   context) uv_closes it and frees it in the close callback, so after stop() the loop must run
//   once more;
// - a failed connect calls onConnect(REDIS_ERR) and then frees the context; a connection that
//   drops runs every pending callback with a NULL reply, then onDisconnect, then frees it;
// - redisAsyncFree() inside a hiredis callback is deferred until that callback returns.
// Every Pending is deleted in onReply, which hiredis calls exactly once per command (with a
// NULL reply when the context is freed first); its user callback is dropped by stop() and run
// at most once otherwise (finished).
#include "proxy/shared/redis_client.h"

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <vector>

namespace bulwark {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// --- RedisReply ---------------------------------------------------------------------------

bool RedisReply::isNil() const { return reply_ == nullptr || reply_->type == REDIS_REPLY_NIL; }
bool RedisReply::isError() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_ERROR; }
bool RedisReply::isInteger() const {
  return reply_ != nullptr && reply_->type == REDIS_REPLY_INTEGER;
}
bool RedisReply::isString() const {
  return reply_ != nullptr &&
         (reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS);
}
bool RedisReply::isArray() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_ARRAY; }
long long RedisReply::integer() const { return isInteger() ? reply_->integer : 0; }
std::string_view RedisReply::text() const {
  if (reply_ == nullptr || reply_->str == nullptr ||
      (reply_->type != REDIS_REPLY_STRING && reply_->type != REDIS_REPLY_STATUS &&
       reply_->type != REDIS_REPLY_ERROR)) {
    return {};
  }
  return {reply_->str, reply_->len};
}
std::size_t RedisReply::size() const { return isArray() ? reply_->elements : 0; }
RedisReply RedisReply::element(std::size_t index) const {
  return RedisReply(index < size() ? reply_->element[index] : nullptr);
}

// --- RedisClient --------------------------------------------------------------------------

struct RedisClient::Pending {
  SharedStateOp op;
  RedisCallback done;
  steady_clock::time_point deadline;
  bool finished = false; // `done` ran (timeout or reply) or was dropped
};

// A host name resolved off the loop. Detached (owner null) when the client stops first.
class RedisClient::Resolve {
public:
  explicit Resolve(RedisClient* owner) : owner_(owner) { request_.data = this; }
  uv_getaddrinfo_t request_{};
  RedisClient* owner_;
};

namespace {

// A connection that keeps a command unanswered this long past its deadline is stalled: it is
// dropped and made again, so that a hung Redis does not hold the pipeline forever.
constexpr milliseconds kStallAfter{1000};

std::string redisError(const redisAsyncContext* context, std::string_view fallback) {
  if (context != nullptr && context->errstr != nullptr && context->errstr[0] != '\0') {
    return context->errstr;
  }
  return std::string(fallback);
}

bool isIpLiteral(const std::string& host) {
  std::array<unsigned char, sizeof(in6_addr)> buffer{};
  return inet_pton(AF_INET, host.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer.data()) == 1;
}

} // namespace

RedisClient::RedisClient(uv_loop_t* loop, RedisClientOptions options, Metrics* metrics)
    : loop_(loop), options_(std::move(options)), metrics_(metrics) {}

RedisClient::~RedisClient() = default;

void RedisClient::start() {
  if (state_ != State::kStopped || timers_open_) {
    return;
  }
  for (uv_timer_t* timer : {&retry_timer_, &timeout_timer_}) {
    if (const int rc = uv_timer_init(loop_, timer); rc != 0) {
      logLine(LogLevel::kError, "shared_state: " + uvError("uv_timer_init", rc));
      return;
    }
    timer->data = this;
  }
  timers_open_ = true;
  if (metrics_ != nullptr) {
    metrics_->setSharedStateUp(false);
  }
  resolveAndConnect();
}

void RedisClient::stop() {
  state_ = State::kStopped;
  for (std::function<void()>& hook : on_up_) {
    hook = nullptr; // slots stay: an id is never given twice
  }
  // Callbacks first (house rule 7): nothing the caller handed us runs after this.
  for (Pending* pending : pending_) {
    pending->done = nullptr;
    pending->finished = true;
  }
  pending_.clear(); // still owned by hiredis' callback list; deleted in onReply
  if (resolve_ != nullptr) {
    resolve_->owner_ = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->request_));
    resolve_ = nullptr;
  }
  if (redisAsyncContext* context = context_) {
    context_ = nullptr;
    context->data = nullptr;
    redisAsyncFree(context);
  }
  if (timers_open_) {
    timers_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timeout_timer_), nullptr);
  }
  if (metrics_ != nullptr) {
    metrics_->setSharedStateUp(false);
  }
}

bool RedisClient::command(SharedStateOp op, std::span<const std::string_view> args,
                          RedisCallback done) {
  if (state_ != State::kUp) {
    count(op, SharedStateResult::kUnavailable);
    return false;
  }
  return send(op, args, std::move(done), options_.timeout);
}

bool RedisClient::send(SharedStateOp op, std::span<const std::string_view> args, RedisCallback done,
                       milliseconds timeout) {
  if (context_ == nullptr || args.empty()) {
    count(op, SharedStateResult::kUnavailable);
    return false;
  }
  constexpr std::size_t kInline = 8;
  std::array<const char*, kInline> inline_argv{};
  std::array<std::size_t, kInline> inline_lengths{};
  std::vector<const char*> heap_argv;
  std::vector<std::size_t> heap_lengths;
  const char** argv = inline_argv.data();
  std::size_t* lengths = inline_lengths.data();
  if (args.size() > kInline) {
    heap_argv.resize(args.size());
    heap_lengths.resize(args.size());
    argv = heap_argv.data();
    lengths = heap_lengths.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  auto* pending = new Pending{op, std::move(done), steady_clock::now() + timeout};
  if (redisAsyncCommandArgv(context_, &RedisClient::onReply, pending, static_cast<int>(args.size()),
                            argv, lengths) != REDIS_OK) {
    delete pending; // hiredis refused it (the context is closing): no callback will come
    count(op, SharedStateResult::kUnavailable);
    return false;
  }
  pending_.push_back(pending);
  if (pending_.size() == 1) {
    armTimeoutTimer();
  }
  return true;
}

void RedisClient::resolveAndConnect() {
  state_ = State::kResolving;
  // The connect deadline covers resolution, TCP and the handshake.
  uv_timer_start(&retry_timer_, &RedisClient::onRetryTimer,
                 static_cast<std::uint64_t>(options_.connect_timeout.count()), 0);
  if (isIpLiteral(options_.address.host)) {
    connectTo(options_.address.host);
    return;
  }
  resolve_ = new Resolve(this);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(
      loop_, &resolve_->request_,
      [](uv_getaddrinfo_t* request, int status, addrinfo* result) {
        auto* resolve = static_cast<Resolve*>(request->data);
        RedisClient* self = resolve->owner_;
        char ip[INET6_ADDRSTRLEN] = {};
        if (status == 0 && result != nullptr) {
          if (result->ai_family == AF_INET6) {
            uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(result->ai_addr), ip, sizeof(ip));
          } else {
            uv_ip4_name(reinterpret_cast<const sockaddr_in*>(result->ai_addr), ip, sizeof(ip));
          }
        }
        uv_freeaddrinfo(result);
        delete resolve;
        if (self == nullptr) {
          return;
        }
        self->resolve_ = nullptr;
        if (status != 0) {
          self->connectionLost(uvError("uv_getaddrinfo", status));
        } else {
          self->connectTo(ip);
        }
      },
      options_.address.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete resolve_;
    resolve_ = nullptr;
    connectionLost(uvError("uv_getaddrinfo", rc));
  }
}

void RedisClient::connectTo(const std::string& ip) {
  redisAsyncContext* context = redisAsyncConnect(ip.c_str(), options_.address.port);
  if (context == nullptr) {
    connectionLost("redisAsyncConnect: out of memory");
    return;
  }
  if (context->err != 0) {
    const std::string error = redisError(context, "connect failed");
    redisAsyncFree(context);
    connectionLost(error);
    return;
  }
  context->data = this;
  if (redisLibuvAttach(context, loop_) != REDIS_OK) {
    // The adapter sets its cleanup before it can fail, and would then clean up a null state.
    context->ev.cleanup = nullptr;
    redisAsyncFree(context);
    connectionLost("redisLibuvAttach failed");
    return;
  }
  redisAsyncSetConnectCallback(context, &RedisClient::onConnect);
  redisAsyncSetDisconnectCallback(context, &RedisClient::onDisconnect);
  context_ = context;
  state_ = State::kConnecting;
}

void RedisClient::onConnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisClient*>(context->data);
  if (self == nullptr || self->context_ != context) {
    return;
  }
  if (status != REDIS_OK) {
    self->context_ = nullptr; // hiredis frees it after this callback
    self->connectionLost(redisError(context, "connect failed"));
    return;
  }
  self->sendHandshake();
}

void RedisClient::onDisconnect(const redisAsyncContext* context, int /*status*/) {
  auto* self = static_cast<RedisClient*>(context->data);
  if (self == nullptr || self->context_ != context) {
    return;
  }
  self->context_ = nullptr; // hiredis frees it after this callback
  self->connectionLost(redisError(context, "connection closed"));
}

void RedisClient::sendHandshake() {
  handshake_error_.clear();
  const auto check = [this](std::string_view what) {
    return [this, what](RedisStatus status, RedisReply reply) {
      if (handshake_error_.empty() && status != SharedStateResult::kOk) {
        handshake_error_ = std::string(what) + ": " +
                           (reply.isError() ? std::string(reply.text())
                                            : std::string(status == SharedStateResult::kTimeout
                                                              ? "no answer"
                                                              : "connection lost"));
      }
    };
  };
  const std::string db = std::to_string(options_.db);
  if (!options_.password.empty()) {
    send(SharedStateOp::kHandshake, std::array<std::string_view, 2>{"AUTH", options_.password},
         check("AUTH"), options_.connect_timeout);
  }
  if (options_.db != 0) {
    send(SharedStateOp::kHandshake, std::array<std::string_view, 2>{"SELECT", db}, check("SELECT"),
         options_.connect_timeout);
  }
  send(
      SharedStateOp::kHandshake, std::array<std::string_view, 1>{"PING"},
      [this, ping = check("PING")](RedisStatus status, RedisReply reply) {
        ping(status, reply);
        handshakeDone(handshake_error_.empty(), handshake_error_);
      },
      options_.connect_timeout);
}

void RedisClient::handshakeDone(bool ok, std::string_view error) {
  if (state_ != State::kConnecting) {
    return;
  }
  if (ok) {
    becomeUp();
    return;
  }
  const std::string reason(error);
  dropContext();
  connectionLost(reason);
}

void RedisClient::becomeUp() {
  state_ = State::kUp;
  failed_attempts_ = 0;
  uv_timer_stop(&retry_timer_);
  if (metrics_ != nullptr) {
    metrics_->setSharedStateUp(true);
  }
  if (!ever_reported_ || !reported_up_) {
    logLine(LogLevel::kInfo, "shared_state: Redis up",
            {{"redis", options_.address.text()}, {"db", options_.db}});
  }
  ever_reported_ = true;
  reported_up_ = true;
  // By index and on a copy: a hook may add or remove hooks, or stop the client.
  for (std::size_t i = 0; i < on_up_.size(); ++i) {
    if (std::function<void()> hook = on_up_[i]) {
      hook();
    }
  }
}

RedisClient::OnUpId RedisClient::addOnUp(std::function<void()> hook) {
  on_up_.push_back(std::move(hook));
  return on_up_.size() - 1;
}

void RedisClient::removeOnUp(OnUpId id) {
  if (id < on_up_.size()) {
    on_up_[id] = nullptr;
  }
}

void RedisClient::becomeDown(std::string_view error) {
  if (metrics_ != nullptr) {
    metrics_->setSharedStateUp(false);
  }
  if (!ever_reported_ || reported_up_) {
    logLine(LogLevel::kWarn, "shared_state: Redis down, serving alone; reconnecting",
            {{"redis", options_.address.text()}, {"error", error}});
  }
  ever_reported_ = true;
  reported_up_ = false;
}

void RedisClient::connectionLost(std::string_view error) {
  if (state_ == State::kStopped) {
    return;
  }
  becomeDown(error);
  scheduleReconnect();
}

void RedisClient::scheduleReconnect() {
  state_ = State::kDown;
  ++failed_attempts_;
  const policies::Duration delay =
      policies::backoffCeiling(options_.reconnect, std::min(failed_attempts_, 30));
  uv_timer_start(&retry_timer_, &RedisClient::onRetryTimer,
                 static_cast<std::uint64_t>(std::max<long long>(1, delay.count())), 0);
}

// Frees the current context now (outside hiredis' own callbacks, or deferred by hiredis when
// inside one); its pending commands finish as unavailable.
void RedisClient::dropContext() {
  redisAsyncContext* context = context_;
  context_ = nullptr;
  if (context != nullptr) {
    redisAsyncFree(context);
  }
}

void RedisClient::onRetryTimer(uv_timer_t* timer) {
  auto* self = static_cast<RedisClient*>(timer->data);
  switch (self->state_) {
  case State::kDown:
    self->resolveAndConnect();
    break;
  case State::kResolving:
  case State::kConnecting:
    if (self->resolve_ != nullptr) {
      self->resolve_->owner_ = nullptr;
      uv_cancel(reinterpret_cast<uv_req_t*>(&self->resolve_->request_));
      self->resolve_ = nullptr;
    }
    self->dropContext();
    self->connectionLost("not ready within " +
                         std::to_string(self->options_.connect_timeout.count()) + "ms");
    break;
  case State::kUp:
  case State::kStopped:
    break;
  }
}

void RedisClient::onReply(redisAsyncContext* context, void* reply, void* privdata) {
  auto* pending = static_cast<Pending*>(privdata);
  auto* self = static_cast<RedisClient*>(context->data);
  if (self != nullptr) {
    if (auto it = std::find(self->pending_.begin(), self->pending_.end(), pending);
        it != self->pending_.end()) {
      self->pending_.erase(it);
    }
    if (!pending->finished) {
      const auto* answer = static_cast<const redisReply*>(reply);
      const RedisStatus status = answer == nullptr ? SharedStateResult::kUnavailable
                                 : answer->type == REDIS_REPLY_ERROR ? SharedStateResult::kError
                                                                     : SharedStateResult::kOk;
      self->finish(*pending, status, answer);
    }
    if (self->state_ != State::kStopped) {
      self->armTimeoutTimer();
    }
  }
  delete pending;
}

void RedisClient::finish(Pending& pending, RedisStatus status, const redisReply* reply) {
  pending.finished = true;
  count(pending.op, status);
  if (RedisCallback done = std::move(pending.done)) {
    done(status, RedisReply(reply));
  }
}

void RedisClient::armTimeoutTimer() {
  if (!timers_open_) {
    return;
  }
  if (pending_.empty()) {
    uv_timer_stop(&timeout_timer_);
    return;
  }
  // Deadlines grow with the send order: the first unfinished command is the next to time out,
  // and the oldest unanswered one decides a stall.
  steady_clock::time_point next = pending_.front()->deadline + kStallAfter;
  for (const Pending* pending : pending_) {
    if (!pending->finished) {
      next = std::min(next, pending->deadline);
      break;
    }
  }
  const auto wait = std::chrono::ceil<milliseconds>(next - steady_clock::now());
  uv_timer_start(&timeout_timer_, &RedisClient::onTimeoutTimer,
                 static_cast<std::uint64_t>(std::max<long long>(0, wait.count())), 0);
}

void RedisClient::onTimeoutTimer(uv_timer_t* timer) {
  auto* self = static_cast<RedisClient*>(timer->data);
  const steady_clock::time_point now = steady_clock::now();
  // Collected first: a callback may send commands (appended) or stop the client (cleared).
  std::vector<Pending*> expired;
  for (Pending* pending : self->pending_) {
    if (pending->deadline > now) {
      break;
    }
    if (!pending->finished) {
      expired.push_back(pending);
    }
  }
  for (Pending* pending : expired) {
    if (self->state_ == State::kStopped) {
      return;
    }
    if (!pending->finished) {
      self->finish(*pending, SharedStateResult::kTimeout, nullptr);
    }
  }
  if (self->state_ == State::kStopped) {
    return;
  }
  if (!self->pending_.empty() && self->pending_.front()->deadline + kStallAfter <= now &&
      self->state_ == State::kUp) {
    self->dropContext();
    self->connectionLost("no answer for " +
                         std::to_string((self->options_.timeout + kStallAfter).count()) + "ms");
    return;
  }
  self->armTimeoutTimer();
}

void RedisClient::count(SharedStateOp op, RedisStatus status) {
  if (metrics_ != nullptr) {
    metrics_->recordSharedStateOperation(op, status);
  }
}

} // namespace bulwark
