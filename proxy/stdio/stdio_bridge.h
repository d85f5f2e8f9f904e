// The stdio bridge: serves a stdio MCP server as Streamable HTTP on a loopback port of its own
// (127.0.0.1, ephemeral), on Bulwark's loop, so that the proxy's whole policy engine (retries,
// timeouts, cache, breakers, metrics) applies unchanged: the upstream pool simply points here.
//
// One child process per client session (see stdio_session.h). A spare child is kept started so
// that a new session does not wait for the server's start-up (npx can take seconds) and so that
// readiness means "the command runs". A supervisor counts quick exits of every child of the
// command: restarts back off exponentially, and a crash loop is reported on /readyz and in
// bulwark_stdio_* metrics while restarts continue at the slowest pace.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/http/client_connection.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/net/listener.h"
#include "proxy/stdio/child_process.h"
#include "proxy/stdio/restart_tracker.h"

namespace bulwark {
class Metrics;
}

namespace bulwark::stdio {

class StdioSession;

struct BridgeSettings {
  ChildCommand command;
  RestartParams restart;
  std::size_t max_sessions = 100;
  // A session with nothing in flight and no GET stream for this long is ended (its child
  // stopped): clients that never send DELETE must not leave processes behind.
  std::chrono::milliseconds session_idle_timeout{std::chrono::minutes(30)};
};

class StdioBridge final : public RequestHandler, private ChildObserver {
public:
  using Clock = std::chrono::steady_clock;
  // The one path served (the server points the upstream pool at http://<address()>/mcp); every
  // other request-target is answered 404.
  static constexpr std::string_view kPath = "/mcp";

  StdioBridge(uv_loop_t* loop, DeferredQueue& deferred, Metrics& metrics, BridgeSettings settings);
  ~StdioBridge();
  StdioBridge(const StdioBridge&) = delete;
  StdioBridge& operator=(const StdioBridge&) = delete;

  // Binds 127.0.0.1:0 and starts the first child. Returns an empty string, or one line saying
  // what failed (a command that cannot be spawned at all is fatal at start).
  std::string start();
  // "127.0.0.1:PORT", for the upstream pool.
  const std::string& address() const { return listener_->boundAddress(); }
  // Empty when ready; else why not, for /readyz.
  std::string problem() const;
  // Ends every session and stops every child (stdin closed, then SIGTERM, then SIGKILL).
  void close();

  ClientStream* handle(Request& request, ClientConnection& connection) override;

  // For sessions.
  uv_loop_t* loop() const { return loop_; }
  // A started child for `observer`: the spare if there is one, else a new one. nullptr (and
  // `error`) if none can be started.
  ChildProcess* takeChild(ChildObserver& observer, std::string& error);
  // A child of a session exited unexpectedly at `now`; how long to wait before the next.
  RestartDecision childExited(Clock::time_point started_at, int pid, const ChildExit& exit,
                              std::string_view session_id);
  // A child could not be started at all (counts as a quick exit).
  RestartDecision spawnFailed(const std::string& error, std::string_view session_id);
  void childRunning(Clock::time_point started_at) {
    tracker_.childRunning(started_at, Clock::now());
  }
  bool crashLoop() const { return tracker_.crashLoop(); }
  void countRestart();
  void sessionEnded(StdioSession& session);
  // The loop's one JSON reader for every message of the bridge and its sessions.
  EnvelopeParser& envelopeParser() { return envelope_parser_; }

private:
  // ChildObserver, for the spare.
  void onChildLine(std::string_view line, bool truncated) override;
  void onChildExit(const ChildExit& exit) override;

  static void onTick(uv_timer_t* timer);
  void tick();
  void answer(ClientConnection& connection, int status, std::string_view reason,
              std::string_view body, std::string_view extra_header_lines = {});
  void answerError(ClientConnection& connection, int status, std::string_view reason,
                   std::string_view id, int code, std::string_view message);
  ClientStream* handlePost(Request& request, ClientConnection& connection);
  StdioSession* findSession(const Request& request);
  std::string newSessionId();
  void updateGauges();

  uv_loop_t* loop_;
  Metrics& metrics_;
  BridgeSettings settings_;
  ServerLimits limits_;
  std::unique_ptr<Listener> listener_;
  RestartTracker tracker_;
  EnvelopeParser envelope_parser_;
  ChildProcess* spare_ = nullptr;
  Clock::time_point spare_due_{};  // when to start the next spare (after a spare's exit)
  std::unordered_map<std::string, std::unique_ptr<StdioSession>> sessions_;
  uv_timer_t tick_{};
  bool ticking_ = false;
  bool closed_ = false;
  std::mt19937_64 random_{std::random_device{}()};
  std::string last_exit_;  // how the last child ended, for /readyz
};

}  // namespace bulwark::stdio
