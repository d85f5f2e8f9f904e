// One MCP client session served by its own stdio child (the default: sessions are isolated, and
// a server-to-client request can only belong to the one client of its child).
//
// Client -> child: requests get the session's own increasing integer ids (the client's id is
// restored in the answer), so that an answer from before a restart, or to a request the proxy
// gave up on and sent again with the same id, can never reach the wrong request. Notifications
// and client responses pass unchanged (notifications/cancelled gets its requestId mapped).
// Child -> client: answers go to the POST that carried the request; progress for a request's
// progressToken goes to that POST too; other notifications and server-to-client requests go to
// the session's GET stream (a request without one goes to the newest POST stream, or waits for
// the GET stream).
//
// When the child dies: requests it had been sent fail as a reset connection (the proxy's retry
// policy then decides: safe calls go again, others get a clear error), requests not yet sent
// wait, the child is restarted after the supervisor's delay, and the client's initialize and
// notifications/initialized are replayed before anything else reaches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/client_connection.h"
#include "proxy/stdio/child_process.h"
#include "proxy/stdio/message_scan.h"

namespace bulwark::stdio {

class StdioBridge;
class StdioSession;

// The answer to one POST that carried requests: JSON once every answer is in, or an SSE stream
// as soon as something related arrives first (and the client accepts SSE).
class PostStream final : public ClientStream {
public:
  PostStream(StdioSession& session, ClientConnection& client, bool accepts_sse, bool batch,
             std::string extra_header_lines);
  void addOutstanding() { ++outstanding_; }
  bool acceptsSse() const { return accepts_sse_; }
  // A message related to the request (progress, a server-to-client request).
  void deliverEvent(std::string_view json);
  // One answer; the response ends with the last one. May delete this.
  void deliverAnswer(std::string_view json);
  // The child died with the request in flight: the connection is closed without an answer
  // (or cut mid-stream), which the proxy classifies as an upstream reset. Deletes this.
  void fail();

private:
  void onClientGone() override;
  void startSse();

  StdioSession* session_;
  ClientConnection* client_;
  bool accepts_sse_;
  bool batch_;
  bool sse_started_ = false;
  int outstanding_ = 0;
  std::string extra_header_lines_;
  std::vector<std::string> answers_;
};

// The session's standalone GET stream (SSE).
class GetStream final : public ClientStream {
public:
  GetStream(StdioSession& session, ClientConnection& client);
  void deliver(std::string_view json);
  // Ends the stream cleanly (DELETE, shutdown). Deletes this.
  void end();

private:
  void onClientGone() override;

  StdioSession* session_;
  ClientConnection* client_;
};

class StdioSession final : private ChildObserver {
public:
  using Clock = std::chrono::steady_clock;

  StdioSession(StdioBridge& bridge, std::string id);
  ~StdioSession();
  StdioSession(const StdioSession&) = delete;
  StdioSession& operator=(const StdioSession&) = delete;

  const std::string& id() const { return id_; }

  // Takes a child and sends the client's initialize (single request) for `stream`.
  // Returns false (and `error`) when no child can be started.
  bool begin(std::string_view initialize_json, const ScannedMessage& scanned, PostStream& stream,
             std::string& error);
  // One client message of a POST; `stream` is null when the POST carries no requests.
  void fromClient(std::string_view json, const ScannedMessage& scanned, PostStream* stream);
  bool hasGetStream() const { return get_stream_ != nullptr; }
  // The GET stream opened (there was none); server-to-client requests waiting for it go out.
  void attachGetStream(GetStream& stream);

  // The child is down and restarting is in a crash loop: new requests fail at once.
  bool unavailable() const;
  bool idleSince(Clock::time_point cutoff) const;
  // The client's own initialize went away before its answer (the client closed the POST, or
  // the proxy gave up on that attempt): nobody learnt this session's id, so nobody can ever use
  // it. The bridge ends such a session at its next tick rather than at the idle timeout.
  bool abandoned() const { return abandoned_; }
  // Called by the bridge's tick: restarts a child that is due, notes uptime.
  void tick(Clock::time_point now);
  // Ends everything: open POSTs fail, the GET stream ends, the child is stopped.
  void end();
  bool childRunning() const { return child_ != nullptr && state_ != State::kRestartWait; }

  // Stream callbacks.
  void postGone(PostStream& stream);
  void postFinished(PostStream& stream);
  void getGone(GetStream& stream);

private:
  enum class State : std::uint8_t { kStarting, kReady, kRestartWait, kEnded };

  struct Pending {
    PostStream* stream = nullptr;  // null for the replayed initialize
    std::string client_id;         // the id's JSON text as the client sent it
    std::string progress_token;    // JSON text, empty if none
    bool sent = false;             // written to the current child
  };
  struct Queued {
    std::string line;
    std::int64_t child_id = 0;  // the request it carries, 0 for other messages
  };

  // ChildObserver
  void onChildLine(std::string_view line, bool truncated) override;
  void onChildExit(const ChildExit& exit) override;

  void startChild();
  void sendOrQueue(std::string line, std::int64_t child_id);
  void flushQueue();
  void routeAnswer(std::string_view line, const ScannedMessage& scanned);
  void routeNotification(std::string_view line, const ScannedMessage& scanned);
  void routeRequest(std::string_view line);
  // Requests the dead child had been sent fail (with their POSTs); unsent ones wait.
  void failSent();
  // Fails every POST with a pending request (only those with a sent one, if `sent_only`).
  void failPosts(bool sent_only);
  void cancelInChild(std::int64_t child_id, std::string_view reason);
  void touch() { last_activity_ = Clock::now(); }

  StdioBridge& bridge_;
  std::string id_;
  ChildProcess* child_ = nullptr;
  State state_ = State::kStarting;
  Clock::time_point restart_due_{};
  Clock::time_point last_activity_;
  std::string initialize_json_;  // the client's initialize, replayed after a restart
  std::int64_t handshake_id_ = 0;  // the child id of the initialize being answered
  bool client_initialized_ = false;  // the client sent notifications/initialized
  bool established_ = false;  // the client's own initialize was answered
  bool abandoned_ = false;  // see abandoned()
  std::int64_t next_child_id_ = 1;
  std::map<std::int64_t, Pending> pending_;  // by child id, oldest first
  std::deque<Queued> queue_;  // waiting for the child to be ready
  std::deque<std::string> undelivered_requests_;  // server-to-client, waiting for a stream
  GetStream* get_stream_ = nullptr;
};

}  // namespace bulwark::stdio
