#include "proxy/mcp/session_directory.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

#include <algorithm>

namespace bulwark {
namespace {

constexpr std::string_view kInitializedNotification =
    R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

// How often idle sessions are looked for: a quarter of the idle timeout, within these bounds.
constexpr std::chrono::milliseconds kMinSweepInterval{10};
constexpr std::chrono::milliseconds kMaxSweepInterval{60000};

// A DELETE of Bulwark's own, ending an upstream session nobody can reach any more.
std::string ownDeleteRequest(std::string_view path, std::string_view session_id,
                             const SessionReplayHeaders& headers) {
  std::string request;
  request.reserve(192 + session_id.size() + headers.authorization.size());
  request += "DELETE ";
  request += path;
  request += " HTTP/1.1\r\n";
  auto field = [&request](std::string_view name, std::string_view value) {
    request += name;
    request += ": ";
    request += value;
    request += "\r\n";
  };
  if (!headers.host.empty()) {
    field("Host", headers.host);
  }
  field("Mcp-Session-Id", session_id);
  if (!headers.protocol_version.empty()) {
    field("MCP-Protocol-Version", headers.protocol_version);
  }
  if (!headers.authorization.empty()) {
    field("Authorization", headers.authorization);
  }
  field("Content-Length", "0");
  request += "\r\n";
  return request;
}

} // namespace

SessionDirectory::SessionDirectory(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                                   std::string mcp_path, SessionLimits limits)
    : loop_(loop), pool_(pool), metrics_(metrics), mcp_path_(std::move(mcp_path)), limits_(limits) {
}

SessionDirectory::~SessionDirectory() { close(); }

void SessionDirectory::close() {
  closed_ = true;
  if (sweep_timer_ == nullptr) {
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(sweep_timer_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
  sweep_timer_ = nullptr;
}

void SessionDirectory::setLimits(const SessionLimits& limits) {
  const bool sweep_changed = limits.idle_timeout != limits_.idle_timeout;
  limits_ = limits;
  evictToFit();
  if (limits_.idle_timeout.count() > 0) {
    expireIdle(now_(loop_));
  }
  if (sweep_changed && sweep_timer_ != nullptr) {
    uv_timer_stop(sweep_timer_);
    startSweep();
  }
  publish();
}

std::size_t SessionDirectory::bytesOf(const Session& session) {
  return kSessionOverheadBytes + session.client_id.size() + session.upstream_id.size() +
         session.initialize_body.size() + session.replay_headers.host.size() +
         session.replay_headers.authorization.size() +
         session.replay_headers.protocol_version.size();
}

void SessionDirectory::resize(Session& session) {
  bytes_ -= session.bytes;
  session.bytes = bytesOf(session);
  bytes_ += session.bytes;
}

void SessionDirectory::opened(std::string_view session_id, std::string_view initialize_body) {
  if (session_id.empty() || index_.contains(session_id)) {
    return; // the same id twice: the first initialize is the one to replay
  }
  if (initialize_body.size() > limits_.max_handshake_bytes) {
    metrics_.recordSessionForgotten(SessionForgotten::kHandshakeTooLarge);
    if (!logged_too_large_) {
      logged_too_large_ = true; // once: a client could otherwise fill the log at will
      logLine(LogLevel::kWarn,
              "initialize larger than sessions.max_handshake_bytes: its session is proxied but "
              "cannot be recovered (logged once; bulwark_sessions_forgotten_total counts them)",
              {{"session", SessionRef{session_id}},
               {"bytes", static_cast<std::int64_t>(initialize_body.size())},
               {"max_handshake_bytes", static_cast<std::int64_t>(limits_.max_handshake_bytes)}});
    }
    return;
  }
  Session& session = lru_.emplace_back();
  session.client_id = session_id;
  session.upstream_id = session_id;
  session.initialize_body = initialize_body;
  session.last_used_ms = now_(loop_);
  index_.emplace(session.client_id, std::prev(lru_.end()));
  resize(session);
  evictToFit();
  startSweep();
  publish();
  if (observer_ != nullptr && index_.contains(session_id)) {
    observer_->sessionOpened(session_id, initialize_body);
  }
}

void SessionDirectory::forEachUsedSince(
    std::uint64_t since_ms,
    const std::function<void(std::string_view, std::string_view, std::string_view)>& visit) const {
  for (auto it = lru_.rbegin(); it != lru_.rend() && it->last_used_ms >= since_ms; ++it) {
    visit(it->client_id, it->upstream_id, it->initialize_body);
  }
}

void SessionDirectory::evictToFit() {
  while (!lru_.empty() &&
         (bytes_ > limits_.max_total_bytes || lru_.size() > limits_.max_sessions)) {
    erase(lru_.begin(), SessionForgotten::kMemory);
  }
}

void SessionDirectory::closed(std::string_view client_id) {
  if (observer_ != nullptr) {
    observer_->sessionClosed(client_id);
  }
  if (const auto found = index_.find(client_id); found != index_.end()) {
    erase(found->second, std::nullopt);
    publish();
  }
}

void SessionDirectory::erase(Lru::iterator session, std::optional<SessionForgotten> reason) {
  if (reason) {
    metrics_.recordSessionForgotten(*reason);
    if (session->upstream_id != session->client_id && !session->recovering) {
      // Only the mapping led to this upstream session: without it, it would be orphaned.
      deleteUpstream(session->upstream_id, session->replay_headers);
    }
  }
  // Whoever waits on a session that is going away hears that it did not come back.
  std::vector<SessionRecoveryWaiter*> waiters = std::move(session->waiters);
  bytes_ -= session->bytes;
  index_.erase(session->client_id);
  lru_.erase(session);
  for (SessionRecoveryWaiter* waiter : waiters) {
    waiter->onSessionRecovered(false);
  }
}

void SessionDirectory::publish() {
  metrics_.setActiveSessions(index_.size());
  metrics_.setSessionBytes(bytes_);
}

bool SessionDirectory::knows(std::string_view client_id) const {
  return !client_id.empty() && index_.contains(client_id);
}

void SessionDirectory::touch(Lru::iterator session) {
  session->last_used_ms = now_(loop_);
  lru_.splice(lru_.end(), lru_, session); // no allocation: the node moves
}

std::string_view SessionDirectory::upstreamIdOf(std::string_view client_id) {
  if (client_id.empty()) {
    return client_id;
  }
  const auto found = index_.find(client_id);
  if (found == index_.end()) {
    return client_id;
  }
  touch(found->second);
  return found->second->upstream_id;
}

void SessionDirectory::hold(std::string_view client_id) {
  if (const auto found = index_.find(client_id); found != index_.end()) {
    ++found->second->holds;
    touch(found->second);
  }
}

void SessionDirectory::release(std::string_view client_id) {
  if (const auto found = index_.find(client_id); found != index_.end()) {
    Session& session = *found->second;
    session.holds -= session.holds > 0 ? 1 : 0;
    touch(found->second);
  }
}

void SessionDirectory::startSweep() {
  if (closed_ || limits_.idle_timeout.count() <= 0) {
    return;
  }
  if (sweep_timer_ == nullptr) {
    auto* timer = new uv_timer_t{};
    if (const int rc = uv_timer_init(loop_, timer); rc != 0) {
      delete timer;
      logLine(LogLevel::kError, uvError("uv_timer_init", rc));
      return;
    }
    timer->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(timer)); // the sweep alone keeps no loop alive
    sweep_timer_ = timer;
  } else if (uv_is_active(reinterpret_cast<uv_handle_t*>(sweep_timer_)) != 0) {
    return;
  }
  const auto interval = std::clamp(limits_.idle_timeout / 4, kMinSweepInterval, kMaxSweepInterval);
  const auto every = static_cast<std::uint64_t>(interval.count());
  uv_timer_start(
      sweep_timer_,
      [](uv_timer_t* timer) {
        auto* self = static_cast<SessionDirectory*>(timer->data);
        self->expireIdle(self->now_(self->loop_));
      },
      every, every);
}

void SessionDirectory::expireIdle(std::uint64_t now_ms) {
  if (limits_.idle_timeout.count() <= 0) {
    return;
  }
  const auto idle = static_cast<std::uint64_t>(limits_.idle_timeout.count());
  bool changed = false;
  // Least recently used first: stop at the first one used within the timeout. A held session
  // (an open stream) or one being recovered counts as used now and moves to the back.
  for (std::size_t left = lru_.size(); left > 0 && !lru_.empty(); --left) {
    const Lru::iterator oldest = lru_.begin();
    if (now_ms < oldest->last_used_ms + idle) {
      break;
    }
    if (oldest->holds > 0 || oldest->recovering) {
      oldest->last_used_ms = now_ms;
      lru_.splice(lru_.end(), lru_, oldest);
      continue;
    }
    erase(oldest, SessionForgotten::kIdle);
    changed = true;
  }
  if (changed) {
    publish();
  }
}

SessionDirectory::RecoveryStart SessionDirectory::recover(std::string_view client_id,
                                                          std::string_view lost_upstream_id,
                                                          const SessionReplayHeaders& headers,
                                                          SessionRecoveryWaiter& waiter) {
  const auto found = index_.find(client_id);
  if (found == index_.end() || pool_.closed()) {
    return RecoveryStart::kUnknown;
  }
  Session& session = *found->second;
  touch(found->second);
  if (session.recovering) {
    session.waiters.push_back(&waiter);
    return RecoveryStart::kWaiting;
  }
  if (session.upstream_id != lost_upstream_id) {
    return RecoveryStart::kRetryNow; // re-opened since this request was sent
  }
  session.recovering = true;
  session.waiters.push_back(&waiter);
  if (on_session_lost_) {
    on_session_lost_();
  }
  const auto started = std::chrono::steady_clock::now();
  std::string id(client_id);
  fetchFromUpstream(loop_, pool_, metrics_, replayRequest(session.initialize_body, {}, headers),
                    kReplayTimeout, [this, id, headers, started](FetchResult&& answer) {
                      replayInitialized(id, headers, std::move(answer), started);
                    });
  return RecoveryStart::kWaiting;
}

void SessionDirectory::replayInitialized(const std::string& client_id,
                                         const SessionReplayHeaders& headers,
                                         FetchResult&& initialize_answer,
                                         std::chrono::steady_clock::time_point started) {
  if (!initialize_answer.complete) {
    finishRecovery(client_id, {}, headers, "initialize replay failed: " + initialize_answer.error,
                   started);
    return;
  }
  if (initialize_answer.status < 200 || initialize_answer.status >= 300 ||
      initialize_answer.session_id.empty()) {
    finishRecovery(client_id, {}, headers,
                   "initialize replay answered HTTP " + std::to_string(initialize_answer.status) +
                       (initialize_answer.session_id.empty() ? " without a session id" : ""),
                   started);
    return;
  }
  std::string new_id = std::move(initialize_answer.session_id);
  if (!index_.contains(client_id) || pool_.closed()) {
    deleteUpstream(new_id, headers); // opened for nobody
    finishRecovery(client_id, {}, headers, "the session ended during its recovery", started);
    return;
  }
  fetchFromUpstream(
      loop_, pool_, metrics_, replayRequest(kInitializedNotification, new_id, headers),
      kReplayTimeout, [this, client_id, new_id, headers, started](FetchResult&& answer) {
        const bool accepted = answer.complete && answer.status >= 200 && answer.status < 300;
        if (!accepted) {
          deleteUpstream(new_id, headers);
        }
        finishRecovery(client_id, accepted ? new_id : std::string(), headers,
                       accepted ? std::string_view()
                                : std::string_view("notifications/initialized replay refused"),
                       started);
      });
}

void SessionDirectory::finishRecovery(const std::string& client_id, std::string new_upstream_id,
                                      const SessionReplayHeaders& headers, std::string_view failure,
                                      std::chrono::steady_clock::time_point started) {
  const bool recovered = !new_upstream_id.empty();
  metrics_.recordSessionRecovery(recovered ? SessionRecoveryResult::kSuccess
                                           : SessionRecoveryResult::kFailure);
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  const auto found = index_.find(client_id);
  if (found == index_.end()) {
    if (recovered) {
      deleteUpstream(new_upstream_id, headers); // closed meanwhile; its waiters were told then
    }
    return;
  }
  Session& session = *found->second;
  if (recovered) {
    logLine(LogLevel::kInfo, "session recovered",
            {{"session", SessionRef{client_id}},
             {"upstream_session", SessionRef{new_upstream_id}},
             {"duration_ms", static_cast<std::int64_t>(took_ms)}});
    // The replaced session is most likely gone; if the answer that looked like its loss was
    // something else, it is alive and nobody would ever end it.
    deleteUpstream(session.upstream_id, headers);
    session.upstream_id = std::move(new_upstream_id);
    session.replay_headers = headers;
    resize(session);
  } else {
    logLine(LogLevel::kWarn, "session recovery failed",
            {{"session", SessionRef{client_id}},
             {"detail", failure},
             {"duration_ms", static_cast<std::int64_t>(took_ms)}});
  }
  session.recovering = false;
  std::vector<SessionRecoveryWaiter*> waiters = std::move(session.waiters);
  session.waiters.clear();
  if (recovered) {
    evictToFit(); // the session grew by its new id and headers
    publish();
  }
  for (SessionRecoveryWaiter* waiter : waiters) {
    waiter->onSessionRecovered(recovered);
  }
}

void SessionDirectory::deleteUpstream(std::string_view upstream_id,
                                      const SessionReplayHeaders& headers) {
  if (upstream_id.empty() || pool_.closed()) {
    return;
  }
  fetchFromUpstream(loop_, pool_, metrics_, ownDeleteRequest(mcp_path_, upstream_id, headers),
                    kReplayTimeout, {});
}

void SessionDirectory::forget(std::string_view client_id, SessionRecoveryWaiter& waiter) {
  if (const auto found = index_.find(client_id); found != index_.end()) {
    std::erase(found->second->waiters, &waiter);
  }
}

std::string SessionDirectory::replayRequest(std::string_view body, std::string_view session_id,
                                            const SessionReplayHeaders& headers) const {
  return ownJsonRpcPost(
      mcp_path_, body, session_id,
      OwnRequestHeaders{headers.host, headers.authorization, headers.protocol_version});
}

} // namespace bulwark
