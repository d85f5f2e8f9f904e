#include "proxy/mcp/session_directory.h"

#include <algorithm>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {
namespace {

constexpr std::string_view kInitializedNotification =
    R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

}  // namespace

SessionDirectory::SessionDirectory(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                                   std::string mcp_path)
    : loop_(loop), pool_(pool), metrics_(metrics), mcp_path_(std::move(mcp_path)) {}

void SessionDirectory::opened(std::string_view session_id, std::string_view initialize_body) {
  if (session_id.empty()) {
    return;
  }
  const auto [found, inserted] = sessions_.try_emplace(std::string(session_id));
  if (!inserted) {
    return;  // the same id twice: the first initialize is the one to replay
  }
  found->second.upstream_id = session_id;
  found->second.initialize_body = initialize_body;
  order_.emplace_back(session_id);
  while (sessions_.size() > kMaxSessions && !order_.empty()) {
    if (auto oldest = sessions_.find(order_.front()); oldest != sessions_.end()) {
      erase(oldest);
    }
    order_.pop_front();
  }
  if (order_.size() > 2 * kMaxSessions) {
    // Ids closed long ago linger in order_; drop the ones no longer tracked.
    std::erase_if(order_, [this](const std::string& id) { return !sessions_.contains(id); });
  }
  publishCount();
}

void SessionDirectory::closed(std::string_view client_id) {
  if (auto found = sessions_.find(std::string(client_id)); found != sessions_.end()) {
    erase(found);
    publishCount();
  }
}

void SessionDirectory::erase(std::unordered_map<std::string, Session>::iterator found) {
  // Whoever waits on a session that is going away hears that it did not come back.
  std::vector<SessionRecoveryWaiter*> waiters = std::move(found->second.waiters);
  sessions_.erase(found);
  for (SessionRecoveryWaiter* waiter : waiters) {
    waiter->onSessionRecovered(false);
  }
}

void SessionDirectory::publishCount() { metrics_.setActiveSessions(sessions_.size()); }

bool SessionDirectory::knows(std::string_view client_id) const {
  return !client_id.empty() && sessions_.contains(std::string(client_id));
}

std::string_view SessionDirectory::upstreamIdOf(std::string_view client_id) const {
  if (client_id.empty()) {
    return client_id;
  }
  const auto found = sessions_.find(std::string(client_id));
  return found == sessions_.end() ? client_id : std::string_view(found->second.upstream_id);
}

SessionDirectory::RecoveryStart SessionDirectory::recover(std::string_view client_id,
                                                          std::string_view lost_upstream_id,
                                                          const SessionReplayHeaders& headers,
                                                          SessionRecoveryWaiter& waiter) {
  const auto found = sessions_.find(std::string(client_id));
  if (found == sessions_.end() || pool_.closed()) {
    return RecoveryStart::kUnknown;
  }
  Session& session = found->second;
  if (session.recovering) {
    session.waiters.push_back(&waiter);
    return RecoveryStart::kWaiting;
  }
  if (session.upstream_id != lost_upstream_id) {
    return RecoveryStart::kRetryNow;  // re-opened since this request was sent
  }
  session.recovering = true;
  session.waiters.push_back(&waiter);
  if (on_session_lost_) {
    on_session_lost_();
  }
  const auto started = std::chrono::steady_clock::now();
  std::string id(client_id);
  fetchFromUpstream(loop_, pool_, metrics_, replayRequest(session.initialize_body, {}, headers),
                    kReplayTimeout,
                    [this, id, headers, started](FetchResult&& answer) {
                      replayInitialized(id, headers, std::move(answer), started);
                    });
  return RecoveryStart::kWaiting;
}

void SessionDirectory::replayInitialized(const std::string& client_id,
                                         const SessionReplayHeaders& headers,
                                         FetchResult&& initialize_answer,
                                         std::chrono::steady_clock::time_point started) {
  if (!initialize_answer.complete) {
    finishRecovery(client_id, {}, "initialize replay failed: " + initialize_answer.error, started);
    return;
  }
  if (initialize_answer.status < 200 || initialize_answer.status >= 300 ||
      initialize_answer.session_id.empty()) {
    finishRecovery(client_id, {},
                   "initialize replay answered HTTP " + std::to_string(initialize_answer.status) +
                       (initialize_answer.session_id.empty() ? " without a session id" : ""),
                   started);
    return;
  }
  if (!sessions_.contains(client_id) || pool_.closed()) {
    finishRecovery(client_id, {}, "the session ended during its recovery", started);
    return;
  }
  std::string new_id = std::move(initialize_answer.session_id);
  fetchFromUpstream(
      loop_, pool_, metrics_, replayRequest(kInitializedNotification, new_id, headers),
      kReplayTimeout, [this, client_id, new_id, started](FetchResult&& answer) {
        const bool accepted = answer.complete && answer.status >= 200 && answer.status < 300;
        finishRecovery(client_id, accepted ? new_id : std::string(),
                       accepted ? std::string_view()
                                : std::string_view("notifications/initialized replay refused"),
                       started);
      });
}

void SessionDirectory::finishRecovery(const std::string& client_id, std::string new_upstream_id,
                                      std::string_view failure,
                                      std::chrono::steady_clock::time_point started) {
  const bool recovered = !new_upstream_id.empty();
  metrics_.recordSessionRecovery(recovered ? SessionRecoveryResult::kSuccess
                                                  : SessionRecoveryResult::kFailure);
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  const auto found = sessions_.find(client_id);
  if (found == sessions_.end()) {
    return;  // closed meanwhile; its waiters were told then
  }
  Session& session = found->second;
  if (recovered) {
    logLine(LogLevel::kInfo, "session recovered",
            {{"session", SessionRef{client_id}},
             {"upstream_session", SessionRef{new_upstream_id}},
             {"duration_ms", static_cast<std::int64_t>(took_ms)}});
    session.upstream_id = std::move(new_upstream_id);
  } else {
    logLine(LogLevel::kWarn, "session recovery failed",
            {{"session", SessionRef{client_id}},
             {"detail", failure},
             {"duration_ms", static_cast<std::int64_t>(took_ms)}});
  }
  session.recovering = false;
  std::vector<SessionRecoveryWaiter*> waiters = std::move(session.waiters);
  session.waiters.clear();
  for (SessionRecoveryWaiter* waiter : waiters) {
    waiter->onSessionRecovered(recovered);
  }
}

void SessionDirectory::forget(std::string_view client_id, SessionRecoveryWaiter& waiter) {
  if (auto found = sessions_.find(std::string(client_id)); found != sessions_.end()) {
    std::erase(found->second.waiters, &waiter);
  }
}

std::string SessionDirectory::replayRequest(std::string_view body, std::string_view session_id,
                                            const SessionReplayHeaders& headers) const {
  return ownJsonRpcPost(mcp_path_, body, session_id,
                        OwnRequestHeaders{headers.host, headers.authorization,
                                          headers.protocol_version});
}

}  // namespace bulwark
