#include "proxy/stdio/stdio_bridge.h"

#include <cstdio>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/http/headers.h"
#include "proxy/http/request_target.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/net/uv_util.h"
#include "proxy/stdio/message_scan.h"
#include "proxy/stdio/stdio_session.h"

namespace bulwark::stdio {
namespace {

constexpr std::uint64_t kTickMs = 100;

bool acceptsEventStream(const HttpHead& head) {
  const HeaderField* accept = findHeader(head.headers, "accept");
  return accept != nullptr && accept->value.find("text/event-stream") != std::string::npos;
}

std::string describeExit(const ChildExit& exit) {
  if (exit.term_signal != 0) {
    return "killed by signal " + std::to_string(exit.term_signal);
  }
  return "exited with status " + std::to_string(exit.exit_status);
}

}  // namespace

StdioBridge::StdioBridge(uv_loop_t* loop, DeferredQueue& deferred, Metrics& metrics,
                         BridgeSettings settings)
    : loop_(loop), metrics_(metrics), settings_(std::move(settings)),
      listener_(std::make_unique<Listener>(loop, "stdio-bridge", *this, deferred, limits_)),
      tracker_(settings_.restart) {
}

StdioBridge::~StdioBridge() = default;

std::string StdioBridge::start() {
  if (std::string error = listener_->listen(HostPort{"127.0.0.1", 0}); !error.empty()) {
    return "stdio bridge: " + error;
  }
  std::string error;
  spare_ = ChildProcess::spawn(loop_, settings_.command, *this, error);
  if (spare_ == nullptr) {
    return "cannot start the stdio server '" + settings_.command.argv.front() + "': " + error;
  }
  int rc = uv_timer_init(loop_, &tick_);
  if (rc == 0) {
    tick_.data = this;
    ticking_ = true;
    rc = uv_timer_start(&tick_, &StdioBridge::onTick, kTickMs, kTickMs);
  }
  if (rc != 0) {
    return uvError("uv_timer_start", rc);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
  updateGauges();
  return {};
}

std::string StdioBridge::problem() const {
  if (tracker_.crashLoop()) {
    return "stdio server in a crash loop (" + std::to_string(tracker_.quickExits()) +
           " quick exits in a row; last: " + last_exit_ + ")";
  }
  if (spare_ == nullptr) {
    bool any = false;
    for (const auto& [id, session] : sessions_) {
      any = any || session->childRunning();
    }
    if (!any) {
      return "stdio server not running" + (last_exit_.empty() ? "" : " (last: " + last_exit_ + ")");
    }
  }
  return {};
}

void StdioBridge::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  listener_->stopAccepting();
  listener_->closeConnections();
  for (auto& [id, session] : sessions_) {
    session->end();
  }
  sessions_.clear();
  if (spare_ != nullptr) {
    spare_->stop();
    spare_ = nullptr;
  }
  if (ticking_) {
    ticking_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  }
  updateGauges();
}

ChildProcess* StdioBridge::takeChild(ChildObserver& observer, std::string& error) {
  ChildProcess* child = spare_;
  if (child != nullptr) {
    spare_ = nullptr;
    child->setObserver(observer);
  } else {
    child = ChildProcess::spawn(loop_, settings_.command, observer, error);
  }
  // The next session (or restart) should not wait for a start-up either.
  if (child != nullptr && !closed_ && spare_due_ == Clock::time_point{}) {
    spare_due_ = Clock::now();
  }
  updateGauges();
  return child;
}

RestartDecision StdioBridge::childExited(Clock::time_point started_at, int pid,
                                         const ChildExit& exit, std::string_view session_id) {
  last_exit_ = describeExit(exit);
  const RestartDecision decision = tracker_.childExited(started_at, Clock::now());
  // Only the facts that apply: the spare child has no session yet, and a child either exited
  // with a status or was killed by a signal.
  logLine(decision.crash_loop ? LogLevel::kError : LogLevel::kWarn, "stdio child exited",
          {{"pid", pid},
           session_id.empty() ? LogField("child", "spare")
                              : LogField("session", SessionRef{session_id}),
           exit.term_signal != 0 ? LogField("signal", exit.term_signal)
                                 : LogField("exit_status", exit.exit_status),
           {"restart_in_ms", static_cast<std::int64_t>(decision.delay.count())},
           {"quick_exits", tracker_.quickExits()},
           {"crash_loop", decision.crash_loop}});
  updateGauges();
  return decision;
}

RestartDecision StdioBridge::spawnFailed(const std::string& error, std::string_view session_id) {
  last_exit_ = "could not be started: " + error;
  const Clock::time_point now = Clock::now();
  const RestartDecision decision = tracker_.childExited(now, now);
  logLine(LogLevel::kError, "cannot start the stdio server",
          {{"error", std::string_view(error)},
           session_id.empty() ? LogField("child", "spare")
                              : LogField("session", SessionRef{session_id}),
           {"restart_in_ms", static_cast<std::int64_t>(decision.delay.count())},
           {"crash_loop", decision.crash_loop}});
  updateGauges();
  return decision;
}

void StdioBridge::countRestart() { metrics_.recordStdioRestart(); }

void StdioBridge::sessionEnded(StdioSession& session) {
  const auto found = sessions_.find(session.id());
  if (found == sessions_.end()) {
    return;
  }
  std::unique_ptr<StdioSession> owned = std::move(found->second);
  sessions_.erase(found);
  owned->end();
  updateGauges();
}

void StdioBridge::onChildLine(std::string_view, bool) {
  // The spare has no client yet; whatever it says before an initialize is nobody's.
}

void StdioBridge::onChildExit(const ChildExit& exit) {
  const int pid = spare_ != nullptr ? spare_->pid() : 0;
  const auto started_at = spare_ != nullptr ? spare_->startedAt() : Clock::now();
  spare_ = nullptr;
  const RestartDecision decision = childExited(started_at, pid, exit, "");
  spare_due_ = Clock::now() + decision.delay;
}

void StdioBridge::onTick(uv_timer_t* timer) { static_cast<StdioBridge*>(timer->data)->tick(); }

void StdioBridge::tick() {
  if (closed_) {
    return;
  }
  const Clock::time_point now = Clock::now();
  if (spare_ != nullptr) {
    tracker_.childRunning(spare_->startedAt(), now);
  } else if (spare_due_ != Clock::time_point{} && now >= spare_due_) {
    spare_due_ = {};
    std::string error;
    spare_ = ChildProcess::spawn(loop_, settings_.command, *this, error);
    if (spare_ == nullptr) {
      spare_due_ = now + spawnFailed(error, "").delay;
    } else if (!last_exit_.empty()) {
      metrics_.recordStdioRestart();
    }
  }
  const Clock::time_point idle_cutoff = now - settings_.session_idle_timeout;
  std::vector<StdioSession*> ending;
  for (auto& [id, session] : sessions_) {
    session->tick(now);
    if (session->abandoned() || session->idleSince(idle_cutoff)) {
      ending.push_back(session.get());
    }
  }
  for (StdioSession* session : ending) {
    logLine(LogLevel::kInfo,
            session->abandoned() ? "stdio session's client left before its initialize was "
                                   "answered; ending it"
                                 : "stdio session idle; ending it",
            {{"session", SessionRef{session->id()}}});
    sessionEnded(*session);
  }
  updateGauges();
}

void StdioBridge::updateGauges() {
  std::size_t running = spare_ != nullptr ? 1 : 0;
  for (const auto& [id, session] : sessions_) {
    running += session->childRunning() ? 1 : 0;
  }
  const bool up = !closed_ && problem().empty();
  metrics_.setStdioState(running, tracker_.crashLoop(), up);
  metrics_.setUpstreamUp(up);  // the TCP probe is off for a stdio upstream
}

std::string StdioBridge::newSessionId() {
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(random_()),
                static_cast<unsigned long long>(random_()));
  return text;
}

void StdioBridge::answer(ClientConnection& connection, int status, std::string_view reason,
                         std::string_view body, std::string_view extra_header_lines) {
  std::string lines;
  if (!body.empty()) {
    lines = "Content-Type: application/json\r\n";
  }
  lines += extra_header_lines;
  connection.sendResponseHead(status, reason, lines, BodyFraming::kContentLength, body.size());
  connection.sendResponseBody(body);
  connection.endResponse();
}

void StdioBridge::answerError(ClientConnection& connection, int status, std::string_view reason,
                              std::string_view id, int code, std::string_view message) {
  std::string body = R"({"jsonrpc":"2.0","id":)";
  body += id.empty() ? "null" : id;
  body += R"(,"error":{"code":)";
  body += std::to_string(code);
  body += R"(,"message":)";
  appendJsonString(body, message);
  body += "}}";
  answer(connection, status, reason, body);
}

StdioSession* StdioBridge::findSession(const Request& request) {
  const HeaderField* header = findHeader(request.head.headers, "mcp-session-id");
  if (header == nullptr) {
    return nullptr;
  }
  const auto found = sessions_.find(header->value);
  return found == sessions_.end() ? nullptr : found->second.get();
}

ClientStream* StdioBridge::handle(Request& request, ClientConnection& connection) {
  const std::string& method = request.head.method;
  if (closed_) {
    answerError(connection, 503, "Service Unavailable", {}, -32000, "Bulwark is shutting down");
    return nullptr;
  }
  // The exchange sends every request for the MCP endpoint here as exactly kPath. Another path is
  // one the stdio server does not have; taking it as MCP would run it without its policy.
  if (classifyRequestTarget(request.head.target, kPath, {}).kind != TargetClass::kMcpEndpoint) {
    answerError(connection, 404, "Not Found", {}, -32000,
                "Not Found: a stdio MCP server is served at /mcp only");
    return nullptr;
  }
  if (method == "POST") {
    return handlePost(request, connection);
  }
  const bool named = findHeader(request.head.headers, "mcp-session-id") != nullptr;
  StdioSession* session = findSession(request);
  if (method == "GET" || method == "DELETE") {
    if (!named) {
      answerError(connection, 400, "Bad Request", {}, -32000,
                  "Bad Request: Mcp-Session-Id header is required");
      return nullptr;
    }
    if (session == nullptr) {
      answerError(connection, 404, "Not Found", {}, -32001, "Session not found");
      return nullptr;
    }
  }
  if (method == "DELETE") {
    logLine(LogLevel::kInfo, "stdio session deleted",
            {{"session", SessionRef{session->id()}}});
    sessionEnded(*session);
    answer(connection, 200, "OK", {});
    return nullptr;
  }
  if (method == "GET") {
    if (!acceptsEventStream(request.head)) {
      answerError(connection, 406, "Not Acceptable", {}, -32000,
                  "Not Acceptable: the client must accept text/event-stream");
      return nullptr;
    }
    if (session->hasGetStream()) {
      answerError(connection, 409, "Conflict", {}, -32000,
                  "Conflict: only one GET stream is allowed per session");
      return nullptr;
    }
    auto* stream = new GetStream(*session, connection);
    session->attachGetStream(*stream);
    return stream;
  }
  answer(connection, 405, "Method Not Allowed", {}, "Allow: GET, POST, DELETE\r\n");
  return nullptr;
}

ClientStream* StdioBridge::handlePost(Request& request, ClientConnection& connection) {
  const std::string_view body = request.body;
  auto scanned_body = scanMessages(envelope_parser_, body);
  if (!scanned_body) {
    answerError(connection, 400, "Bad Request", {}, -32600,
                "Invalid Request: not a JSON-RPC message");
    return nullptr;
  }
  const bool batch = scanned_body->batch;
  std::vector<ScannedMessage>& scanned = scanned_body->messages;
  std::vector<std::string_view> texts;
  bool has_request = false;
  for (const ScannedMessage& message : scanned) {
    texts.push_back(message.text.in(body));
    has_request = has_request || message.kind == ScannedKind::kRequest;
  }
  if (texts.empty()) {
    answerError(connection, 400, "Bad Request", {}, -32600, "Invalid Request: empty batch");
    return nullptr;
  }
  const bool accepts_sse = acceptsEventStream(request.head);
  const bool named = findHeader(request.head.headers, "mcp-session-id") != nullptr;

  if (!batch && scanned.front().kind == ScannedKind::kRequest &&
      scanned.front().method == "initialize" && !named) {
    if (sessions_.size() >= settings_.max_sessions) {
      answerError(connection, 503, "Service Unavailable", scanned.front().id.in(body), -32000,
                  "too many stdio sessions (" + std::to_string(settings_.max_sessions) +
                      "); end one with DELETE");
      return nullptr;
    }
    if (tracker_.crashLoop() && spare_ == nullptr) {
      answerError(connection, 502, "Bad Gateway", scanned.front().id.in(body), -32000,
                  "the stdio server is in a crash loop: " + problem());
      return nullptr;
    }
    std::string id = newSessionId();
    auto session = std::make_unique<StdioSession>(*this, id);
    auto* stream = new PostStream(*session, connection, accepts_sse, false,
                                  "Mcp-Session-Id: " + id + "\r\n");
    std::string error;
    if (!session->begin(body, scanned.front(), *stream, error)) {
      delete stream;
      answerError(connection, 502, "Bad Gateway", scanned.front().id.in(body), -32000,
                  "cannot start the stdio server: " + error);
      return nullptr;
    }
    sessions_.emplace(id, std::move(session));
    updateGauges();
    return stream;
  }
  if (!named) {
    answerError(connection, 400, "Bad Request", {}, -32000,
                "Bad Request: Mcp-Session-Id header is required (initialize first)");
    return nullptr;
  }
  StdioSession* session = findSession(request);
  if (session == nullptr) {
    answerError(connection, 404, "Not Found", {}, -32001, "Session not found");
    return nullptr;
  }
  if (session->unavailable()) {
    answerError(connection, 502, "Bad Gateway", {}, -32000, problem());
    return nullptr;
  }
  PostStream* stream =
      has_request ? new PostStream(*session, connection, accepts_sse, batch, {}) : nullptr;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    session->fromClient(texts[i], scanned[i], stream);
  }
  if (stream == nullptr) {
    answer(connection, 202, "Accepted", {});
  }
  return stream;
}

}  // namespace bulwark::stdio
