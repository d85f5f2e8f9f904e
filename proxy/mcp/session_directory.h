// The MCP sessions (2025-03-26 .. 2025-11-25 protocol) the upstream opened through Bulwark, and
// their recovery. Bulwark keeps each session's initialize request; when the upstream forgets a
// session (it restarted, or expired it), Bulwark replays initialize and notifications/initialized
// to open a new upstream session and maps the client's id onto it, so the client keeps its id
// and never notices. Bounded: past the cap the oldest sessions are forgotten.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bulwark {

class Metrics;
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

class SessionDirectory {
public:
  enum class RecoveryStart : std::uint8_t {
    kRetryNow,  // another exchange already re-opened it: use upstreamIdOf() again
    kWaiting,   // the waiter hears back through onSessionRecovered
    kUnknown,   // not a session Bulwark saw opened (or recovery is off): nothing to do
  };

  SessionDirectory(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics, std::string mcp_path);
  SessionDirectory(const SessionDirectory&) = delete;
  SessionDirectory& operator=(const SessionDirectory&) = delete;

  void opened(std::string_view session_id, std::string_view initialize_body);
  void closed(std::string_view client_id);

  bool knows(std::string_view client_id) const;
  // The id the upstream knows the client's session by: the client's own until a recovery.
  std::string_view upstreamIdOf(std::string_view client_id) const;

  // The upstream answered as if it did not know `lost_upstream_id`. Starts (or joins) the
  // re-initialization of the client's session.
  RecoveryStart recover(std::string_view client_id, std::string_view lost_upstream_id,
                        const SessionReplayHeaders& headers, SessionRecoveryWaiter& waiter);
  // The waiter is gone (its client left): it must not be called.
  void forget(std::string_view client_id, SessionRecoveryWaiter& waiter);

  std::size_t active() const { return sessions_.size(); }
  // Runs (inline) when a recovery starts: the upstream lost a session, so it may have restarted.
  void setOnSessionLost(std::function<void()> hook) { on_session_lost_ = std::move(hook); }

private:
  struct Session {
    std::string upstream_id;
    std::string initialize_body;
    bool recovering = false;
    std::vector<SessionRecoveryWaiter*> waiters;
  };

  static constexpr std::size_t kMaxSessions = 100000;
  static constexpr std::chrono::milliseconds kReplayTimeout{5000};

  void replayInitialized(const std::string& client_id, const SessionReplayHeaders& headers,
                         FetchResult&& initialize_answer,
                         std::chrono::steady_clock::time_point started);
  void finishRecovery(const std::string& client_id, std::string new_upstream_id,
                      std::string_view failure, std::chrono::steady_clock::time_point started);
  std::string replayRequest(std::string_view body, std::string_view session_id,
                            const SessionReplayHeaders& headers) const;
  void erase(std::unordered_map<std::string, Session>::iterator found);
  void publishCount();

  uv_loop_t* loop_;
  UpstreamPool& pool_;
  Metrics& metrics_;
  std::string mcp_path_;
  std::function<void()> on_session_lost_;
  std::unordered_map<std::string, Session> sessions_;  // by the client's session id
  std::deque<std::string> order_;                      // insertion order, for the cap
};

}  // namespace bulwark
