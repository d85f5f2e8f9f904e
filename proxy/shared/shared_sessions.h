// Session ownership in Redis, for replicas of one server behind a load balancer. Each sidecar
// keeps a heartbeat key (`<prefix>node:<advertise>`, renewed every heartbeat_interval, expiring
// after heartbeat_ttl); each session opened through it gets a record (`<prefix>session:<digest
// of the id>`: a hash of owner, the client's initialize, the protocol version, the digest of the
// upstream session id) written without waiting, its
// TTL refreshed by a sweep every few seconds for the sessions used since the last one (and for
// every session kept here each third of the TTL), and
// deleted when the client ends the session. Nothing here runs per request of an owned session:
// the sweep reads the SessionDirectory's own last-use times.
//
// A sidecar that receives a session it does not know reads its record once (lookup), and either
// forwards to the owner while its heartbeat lives, or claims the session atomically (claim: a
// Lua compare-and-set on the owner, so that two sidecars never both win) and re-opens it on its
// own server. See session_router.h.
//
// Session ids are bearer-like: neither the client's nor the upstream's is written to Redis in
// clear, only sessionDigestHex (shared_key.h) of it, keyed by shared_state.key_secret_env when
// set. The record's other values are the client's initialize body (no HTTP header values), the
// protocol version and the owner's advertise address.
#pragma once

#include "proxy/mcp/session_directory.h"
#include "proxy/shared/redis_client.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <uv.h>

namespace bulwark {

struct SharedSessionsOptions {
  std::string key_prefix = "bulwark:";
  std::string advertise; // "host:port" of this sidecar's data port
  // The HMAC key for the names of session ids in Redis; empty: unkeyed SHA-256 (shared_key.h).
  std::string key_secret;
  std::chrono::milliseconds session_ttl{std::chrono::hours(1)};
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds heartbeat_ttl{3000};
  // The TTL sweep's period (at most a third of session_ttl).
  std::chrono::milliseconds touch_interval{5000};
};

// What the record of a session not known here says.
struct SessionRecord {
  enum class Owner : std::uint8_t {
    kNone,  // no record (or Redis did not answer in time): serve as if alone
    kHere,  // this sidecar owns it (it forgot it locally): adopt it again
    kAlive, // another sidecar with a live heartbeat: forward to `owner`
    kGone,  // its owner's heartbeat expired: take it over
  };
  Owner owner_state = Owner::kNone;
  std::string owner;           // advertise address of the owner
  std::string initialize_body; // the client's initialize, to replay on a takeover
};

class SharedSessions final : public SessionObserver {
public:
  SharedSessions(uv_loop_t* loop, RedisClient& redis, SessionDirectory& sessions,
                 SharedSessionsOptions options);
  SharedSessions(const SharedSessions&) = delete;
  SharedSessions& operator=(const SharedSessions&) = delete;

  // Starts the heartbeat and the TTL sweep (and writes the heartbeat whenever Redis comes up).
  void start();
  // Stops the heartbeat (it expires after heartbeat_ttl) and the sweep. The loop must run
  // once more; this object must outlive that run.
  void stop();

  const std::string& advertise() const { return options_.advertise; }
  // Before start(): known only once the data port is bound (port 0 resolved).
  void setAdvertise(std::string advertise) { options_.advertise = std::move(advertise); }
  bool available() const { return redis_.up(); }

  // One Redis round trip (timeout: shared_state.timeout). `done` runs later, exactly once,
  // unless the client stops first; on any Redis trouble the record says kNone.
  void lookup(std::string_view client_id, std::function<void(SessionRecord record)> done);
  // Sets the owner to this sidecar if it still is `expected_owner` (or already this one).
  // `done(won, owner_now)`: owner_now is the winner (this sidecar when won; "" on Redis trouble
  // or when the winner's heartbeat is gone).
  void claim(std::string_view client_id, std::string_view expected_owner,
             std::function<void(bool won, std::string owner_now)> done);

  // SessionObserver: a session opened or ended through this sidecar.
  void sessionOpened(std::string_view client_id, std::string_view initialize_body) override;
  void sessionClosed(std::string_view client_id) override;

  // <prefix>session:<sessionDigestHex(key_secret, client_id)>.
  std::string sessionKey(std::string_view client_id) const;
  std::string nodeKey(std::string_view advertise) const;

private:
  static void onHeartbeatTimer(uv_timer_t* timer);
  static void onTouchTimer(uv_timer_t* timer);
  void writeHeartbeat();
  void touchUsedSessions();
  void publishLocalSessions();

  uv_loop_t* loop_;
  RedisClient& redis_;
  SessionDirectory& sessions_;
  SharedSessionsOptions options_;
  uv_timer_t heartbeat_timer_{};
  uv_timer_t touch_timer_{};
  bool started_ = false;
  RedisClient::OnUpId on_up_id_ = 0;
  std::uint64_t last_touch_ms_ = 0;      // uv_now of the last sweep
  std::uint64_t last_full_touch_ms_ = 0; // ... and of the last one over every session
};

} // namespace bulwark
