// The MCP sessions (2025-03-26 .. 2025-11-25 protocol) the upstream opened through Bulwark, and
// their recovery. Bulwark keeps each session's initialize request; when the upstream forgets a
// session (it restarted, or expired it), Bulwark replays initialize and notifications/initialized
// to open a new upstream session and maps the client's id onto it, so the client keeps its id
// and never notices. The upstream session a recovery replaced is DELETEd (it is gone, or it was
// alive and the answer that looked like a loss was something else: then it would be orphaned).
//
// Bounded, so that no client can pin memory (SessionLimits): an initialize larger than
// max_handshake_bytes is not kept (its session is proxied but cannot be recovered); all sessions
// together keep at most max_total_bytes (the least recently used are forgotten first); a session
// unused for idle_timeout is forgotten. A forgotten session whose upstream id differs from the
// client's (it was recovered) is DELETEd upstream: nobody could reach it any more.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <uv.h>
#include <vector>

namespace bulwark {

class Metrics;
enum class SessionForgotten : std::uint8_t;
class UpstreamPool;
struct FetchResult;

// An exchange waiting for its session to be re-opened upstream.
class SessionRecoveryWaiter {
public:
  // Runs from its own loop turn. `recovered`: the session has a new upstream id.
  virtual void onSessionRecovered(bool recovered) = 0;

protected:
  ~SessionRecoveryWaiter() = default;
};

// What the replayed requests carry besides the stored initialize: taken from the request that
// found the session lost, so a rotated credential is the current one.
struct SessionReplayHeaders {
  std::string host;
  std::string authorization;
  std::string protocol_version;
};

// Told of sessions opened here and ended by their client (proxy/shared/ records them in Redis
// for other replicas). Called inline from opened() and closed().
class SessionObserver {
public:
  virtual void sessionOpened(std::string_view client_id, std::string_view initialize_body) = 0;
  virtual void sessionClosed(std::string_view client_id) = 0;

protected:
  ~SessionObserver() = default;
};

// How much the directory may keep (config `sessions:`).
struct SessionLimits {
  // An initialize body larger than this is not kept: its session works, but is not recoverable.
  std::size_t max_handshake_bytes = 64 * 1024;
  // Ids, initialize bodies and a fixed overhead per session, for all sessions together.
  std::size_t max_total_bytes = 16 * 1024 * 1024;
  // A session no request used for this long is forgotten; zero: never.
  std::chrono::milliseconds idle_timeout{std::chrono::hours(1)};
  std::size_t max_sessions = 100000;
};

class SessionDirectory {
public:
  enum class RecoveryStart : std::uint8_t {
    kRetryNow, // another exchange already re-opened it: use upstreamIdOf() again
    kWaiting,  // the waiter hears back through onSessionRecovered
    kUnknown,  // not a session Bulwark saw opened (or recovery is off): nothing to do
  };

  // Bytes counted per session besides its ids, initialize body and replay headers: the list
  // node (the Session, ~270 bytes), its index entry and bucket, and the heap blocks of its ids.
  static constexpr std::size_t kSessionOverheadBytes = 384;

  SessionDirectory(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics, std::string mcp_path,
                   SessionLimits limits = {});
  ~SessionDirectory();
  SessionDirectory(const SessionDirectory&) = delete;
  SessionDirectory& operator=(const SessionDirectory&) = delete;

  // New limits (config reload): applied at once, forgetting what no longer fits.
  void setLimits(const SessionLimits& limits);
  // Stops the idle sweep (closes its timer). Sessions stay readable; call once at shutdown.
  void close();

  void opened(std::string_view session_id, std::string_view initialize_body);
  // The client ended its session (its DELETE was answered): the mapping goes.
  void closed(std::string_view client_id);

  bool knows(std::string_view client_id) const;
  // The id the upstream knows the client's session by: the client's own until a recovery.
  // Counts as a use of the session (it is then the most recently used, and not idle).
  std::string_view upstreamIdOf(std::string_view client_id);

  // A long-lived stream (the client's GET stream) is open in the session: it is not idle while
  // held. Each hold() is matched by one release(); unknown ids are ignored.
  void hold(std::string_view client_id);
  void release(std::string_view client_id);

  // The upstream answered as if it did not know `lost_upstream_id`. Starts (or joins) the
  // re-initialization of the client's session: one replay per loss, however many requests
  // found it lost.
  RecoveryStart recover(std::string_view client_id, std::string_view lost_upstream_id,
                        const SessionReplayHeaders& headers, SessionRecoveryWaiter& waiter);
  // The waiter is gone (its client left): it must not be called.
  void forget(std::string_view client_id, SessionRecoveryWaiter& waiter);

  // Forgets every session unused since `now_ms - idle_timeout` (uv_now's clock). The sweep
  // timer calls it; tests call it with a time of their choosing.
  void expireIdle(std::uint64_t now_ms);

  std::size_t active() const { return index_.size(); }
  std::size_t bytes() const { return bytes_; }

  // The clock of last use (uv_now by default); tests put a fake one in.
  using NowFn = std::uint64_t (*)(const uv_loop_t*);
  void setClockForTesting(NowFn now) { now_ = now; }
  // Told of each session kept by opened() and each closed(); null: nobody.
  void setObserver(SessionObserver* observer) { observer_ = observer; }
  // Calls `visit(client_id, upstream_id, initialize_body)` for every session used at or after
  // `since_ms` (uv_now's clock; 0: every session), most recently used first. `visit` must not
  // change the directory.
  void forEachUsedSince(
      std::uint64_t since_ms,
      const std::function<void(std::string_view, std::string_view, std::string_view)>& visit) const;
  // Runs (inline) when a recovery starts: the upstream lost a session, so it may have restarted.
  void setOnSessionLost(std::function<void()> hook) { on_session_lost_ = std::move(hook); }

private:
  struct Session {
    std::string client_id;
    std::string upstream_id;
    std::string initialize_body;
    SessionReplayHeaders replay_headers; // of the last recovery (to DELETE what it replaced)
    std::uint64_t last_used_ms = 0;
    std::size_t bytes = 0;
    unsigned holds = 0;
    bool recovering = false;
    std::vector<SessionRecoveryWaiter*> waiters;
  };
  using Lru = std::list<Session>; // least recently used first
  // Keyed by a view of the node's own client_id: list nodes never move.
  using Index = std::unordered_map<std::string_view, Lru::iterator>;

  static constexpr std::chrono::milliseconds kReplayTimeout{5000};

  Lru::iterator find(std::string_view client_id) const;
  void touch(Lru::iterator session);
  static std::size_t bytesOf(const Session& session);
  void resize(Session& session);
  void evictToFit();
  // `reason`: why the directory forgets it (none: the client ended it).
  void erase(Lru::iterator session, std::optional<SessionForgotten> reason);
  void deleteUpstream(std::string_view upstream_id, const SessionReplayHeaders& headers);
  void startSweep();
  void publish();

  void replayInitialized(const std::string& client_id, const SessionReplayHeaders& headers,
                         FetchResult&& initialize_answer,
                         std::chrono::steady_clock::time_point started);
  void finishRecovery(const std::string& client_id, std::string new_upstream_id,
                      const SessionReplayHeaders& headers, std::string_view failure,
                      std::chrono::steady_clock::time_point started);
  std::string replayRequest(std::string_view body, std::string_view session_id,
                            const SessionReplayHeaders& headers) const;

  uv_loop_t* loop_;
  UpstreamPool& pool_;
  Metrics& metrics_;
  std::string mcp_path_;
  SessionLimits limits_;
  NowFn now_ = &uv_now;
  Lru lru_;
  Index index_;
  std::size_t bytes_ = 0;
  bool logged_too_large_ = false;
  uv_timer_t* sweep_timer_ = nullptr; // started with the first session; freed in its close cb
  bool closed_ = false;
  std::function<void()> on_session_lost_;
  SessionObserver* observer_ = nullptr;
};

} // namespace bulwark
