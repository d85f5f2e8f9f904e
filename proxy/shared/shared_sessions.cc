// The Redis side of session ownership: keys, the two Lua scripts, heartbeat and TTL sweep.
// Every write is fire-and-forget (pipelined on the one connection); reads have the client's
// timeout, after which the caller goes on as if alone.
#include "proxy/shared/shared_sessions.h"

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"
#include "proxy/shared/shared_key.h"

#include <algorithm>
#include <array>
#include <vector>

namespace bulwark {
namespace {

// KEYS[1] the session record, ARGV[1] the heartbeat key prefix. Returns {} without a record,
// else {owner, initialize, owner's heartbeat alive (0/1)}: one round trip for both facts.
constexpr std::string_view kLookupScript = R"lua(
local r = redis.call('HMGET', KEYS[1], 'owner', 'init')
if not r[1] then return {} end
return {r[1], r[2] or '', redis.call('EXISTS', ARGV[1] .. r[1])}
)lua";

// KEYS[1] the session record; ARGV[1] the owner the caller saw dead, ARGV[2] the caller,
// ARGV[3] the record's TTL in ms, ARGV[4] the heartbeat key prefix. The owner changes only if
// it is still the dead one (or already the caller): of two sidecars racing, exactly one wins.
// Returns {won, owner now, owner now alive (0/1)}.
constexpr std::string_view kClaimScript = R"lua(
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {0, '', 0} end
if owner == ARGV[1] or owner == ARGV[2] then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, ARGV[2], 1}
end
return {0, owner, redis.call('EXISTS', ARGV[4] .. owner)}
)lua";

// KEYS[1] the session record; ARGV owner, initialize, protocol version, TTL in ms, digest of
// the upstream session id. Writes the record only if there is none: after Redis was away, a
// session another sidecar took over meanwhile stays with it.
constexpr std::string_view kPublishIfAbsentScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'init', ARGV[2], 'proto', ARGV[3], 'upstream',
           ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
)lua";

std::string_view protocolVersionOf(std::string_view initialize_body) {
  // "protocolVersion":"2025-06-18": read without a JSON parser (only for the record's field).
  constexpr std::string_view kKey = "\"protocolVersion\"";
  const auto at = initialize_body.find(kKey);
  if (at == std::string_view::npos) {
    return {};
  }
  const auto open = initialize_body.find('"', initialize_body.find(':', at + kKey.size()));
  const auto close = open == std::string_view::npos ? open : initialize_body.find('"', open + 1);
  if (close == std::string_view::npos || close - open > 32) {
    return {};
  }
  return initialize_body.substr(open + 1, close - open - 1);
}

} // namespace

SharedSessions::SharedSessions(uv_loop_t* loop, RedisClient& redis, SessionDirectory& sessions,
                               SharedSessionsOptions options)
    : loop_(loop), redis_(redis), sessions_(sessions), options_(std::move(options)) {
  options_.touch_interval = std::min(options_.touch_interval, options_.session_ttl / 3);
}

std::string SharedSessions::sessionKey(std::string_view client_id) const {
  std::string key = options_.key_prefix;
  key += "session:";
  key += sessionDigestHex(options_.key_secret, client_id);
  return key;
}

std::string SharedSessions::nodeKey(std::string_view advertise) const {
  std::string key = options_.key_prefix;
  key += "node:";
  key += advertise;
  return key;
}

void SharedSessions::start() {
  if (started_) {
    return;
  }
  for (uv_timer_t* timer : {&heartbeat_timer_, &touch_timer_}) {
    if (const int rc = uv_timer_init(loop_, timer); rc != 0) {
      logLine(LogLevel::kError, "shared_state: " + uvError("uv_timer_init", rc));
      return;
    }
    timer->data = this;
  }
  started_ = true;
  const auto every = [](std::chrono::milliseconds period) {
    return static_cast<std::uint64_t>(std::max<long long>(1, period.count()));
  };
  uv_timer_start(&heartbeat_timer_, &SharedSessions::onHeartbeatTimer,
                 every(options_.heartbeat_interval), every(options_.heartbeat_interval));
  uv_timer_start(&touch_timer_, &SharedSessions::onTouchTimer, every(options_.touch_interval),
                 every(options_.touch_interval));
  // Timers alone do not keep the loop alive (the listeners do).
  uv_unref(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&touch_timer_));
  last_touch_ms_ = uv_now(loop_);
  last_full_touch_ms_ = last_touch_ms_;
  sessions_.setObserver(this);
  on_up_id_ = redis_.addOnUp([this] {
    writeHeartbeat();
    publishLocalSessions();
  });
  if (redis_.up()) {
    writeHeartbeat();
  }
}

void SharedSessions::stop() {
  if (!started_) {
    return;
  }
  started_ = false;
  sessions_.setObserver(nullptr);
  redis_.removeOnUp(on_up_id_);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&touch_timer_), nullptr);
}

void SharedSessions::onHeartbeatTimer(uv_timer_t* timer) {
  static_cast<SharedSessions*>(timer->data)->writeHeartbeat();
}

void SharedSessions::onTouchTimer(uv_timer_t* timer) {
  static_cast<SharedSessions*>(timer->data)->touchUsedSessions();
}

void SharedSessions::writeHeartbeat() {
  const std::string ttl = std::to_string(options_.heartbeat_ttl.count());
  redis_.command(SharedStateOp::kHeartbeat,
                 {"SET", nodeKey(options_.advertise), options_.advertise, "PX", ttl});
}

void SharedSessions::publishLocalSessions() {
  // Sessions opened while Redis was away (or before it was first up) get their records now.
  const std::string ttl = std::to_string(options_.session_ttl.count());
  sessions_.forEachUsedSince(0, [&](std::string_view client_id, std::string_view upstream_id,
                                    std::string_view initialize) {
    redis_.command(SharedStateOp::kSessionWrite,
                   {"EVAL", kPublishIfAbsentScript, "1", sessionKey(client_id), options_.advertise,
                    initialize, protocolVersionOf(initialize), ttl,
                    sessionDigestHex(options_.key_secret, upstream_id)});
  });
}

void SharedSessions::touchUsedSessions() {
  const std::uint64_t now = uv_now(loop_);
  std::uint64_t since = last_touch_ms_;
  last_touch_ms_ = now;
  // Every third of the TTL, every session kept here: one held only by a client's GET stream is
  // in use without requests (the directory itself forgets sessions idle for too long).
  if (now - last_full_touch_ms_ >= static_cast<std::uint64_t>(options_.session_ttl.count() / 3)) {
    last_full_touch_ms_ = now;
    since = 0;
  }
  if (!redis_.up()) {
    return;
  }
  const std::string ttl = std::to_string(options_.session_ttl.count());
  sessions_.forEachUsedSince(
      since, [&](std::string_view client_id, std::string_view, std::string_view) {
        redis_.command(SharedStateOp::kSessionTouch, {"PEXPIRE", sessionKey(client_id), ttl});
      });
}

void SharedSessions::sessionOpened(std::string_view client_id, std::string_view initialize_body) {
  // A session opens with the upstream's own id (recoveries map it later): same digest.
  const std::string digest = sessionDigestHex(options_.key_secret, client_id);
  const std::string key = options_.key_prefix + "session:" + digest;
  redis_.command(SharedStateOp::kSessionWrite,
                 {"HSET", key, "owner", options_.advertise, "init", initialize_body, "proto",
                  protocolVersionOf(initialize_body), "upstream", digest});
  redis_.command(SharedStateOp::kSessionWrite,
                 {"PEXPIRE", key, std::to_string(options_.session_ttl.count())});
}

void SharedSessions::sessionClosed(std::string_view client_id) {
  redis_.command(SharedStateOp::kSessionDelete, {"DEL", sessionKey(client_id)});
}

void SharedSessions::lookup(std::string_view client_id,
                            std::function<void(SessionRecord record)> done) {
  const std::string key = sessionKey(client_id);
  const std::string node_prefix = nodeKey("");
  const bool sent = redis_.command(
      SharedStateOp::kSessionRead, {"EVAL", kLookupScript, "1", key, node_prefix},
      [this, done](RedisStatus status, RedisReply reply) {
        SessionRecord record;
        if (status == SharedStateResult::kOk && reply.isArray() && reply.size() == 3) {
          record.owner = std::string(reply.element(0).text());
          record.initialize_body = std::string(reply.element(1).text());
          const bool alive = reply.element(2).integer() == 1;
          record.owner_state = record.owner == options_.advertise ? SessionRecord::Owner::kHere
                               : alive                            ? SessionRecord::Owner::kAlive
                                                                  : SessionRecord::Owner::kGone;
        }
        done(std::move(record));
      });
  if (!sent) {
    done(SessionRecord{});
  }
}

void SharedSessions::claim(std::string_view client_id, std::string_view expected_owner,
                           std::function<void(bool won, std::string owner_now)> done) {
  const std::string key = sessionKey(client_id);
  const std::string ttl = std::to_string(options_.session_ttl.count());
  const bool sent = redis_.command(
      SharedStateOp::kClaim,
      {"EVAL", kClaimScript, "1", key, expected_owner, options_.advertise, ttl, nodeKey("")},
      [done](RedisStatus status, RedisReply reply) {
        if (status != SharedStateResult::kOk || !reply.isArray() || reply.size() != 3) {
          done(false, {});
          return;
        }
        // A winner is named only while its heartbeat lives: requests are forwarded only to
        // addresses registered by heartbeats.
        const bool won = reply.element(0).integer() == 1;
        const bool alive = reply.element(2).integer() == 1;
        done(won, won || alive ? std::string(reply.element(1).text()) : std::string());
      });
  if (!sent) {
    done(false, {});
  }
}

} // namespace bulwark
