#include "proxy/stdio/stdio_session.h"

#include <algorithm>

#include "proxy/admin/log.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/stdio/stdio_bridge.h"

namespace bulwark::stdio {
namespace {

// Bounds on what waits for a restarted child or for a client's GET stream.
constexpr std::size_t kMaxQueued = 1000;
constexpr std::size_t kMaxUndeliveredRequests = 64;

}  // namespace

// --- PostStream ---

PostStream::PostStream(StdioSession& session, ClientConnection& client, bool accepts_sse,
                       bool batch, std::string extra_header_lines)
    : session_(&session), client_(&client), accepts_sse_(accepts_sse), batch_(batch),
      extra_header_lines_(std::move(extra_header_lines)) {}

void PostStream::startSse() {
  if (sse_started_) {
    return;
  }
  sse_started_ = true;
  std::string lines = "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
  lines += extra_header_lines_;
  client_->sendResponseHead(200, "OK", lines, BodyFraming::kStreamed);
}

void PostStream::deliverEvent(std::string_view json) {
  if (!accepts_sse_) {
    return;  // a JSON-only client gets the answer alone
  }
  startSse();
  client_->sendResponseBody(sseMessageEvent(json));
}

void PostStream::deliverAnswer(std::string_view json) {
  --outstanding_;
  if (sse_started_) {
    client_->sendResponseBody(sseMessageEvent(json));
  } else {
    answers_.emplace_back(json);
  }
  if (outstanding_ > 0) {
    return;
  }
  if (!sse_started_) {
    std::string body;
    if (batch_) {
      body = "[";
      for (std::size_t i = 0; i < answers_.size(); ++i) {
        body += i == 0 ? "" : ",";
        body += answers_[i];
      }
      body += "]";
    } else if (!answers_.empty()) {
      body = std::move(answers_.front());
    }
    std::string lines = "Content-Type: application/json\r\n";
    lines += extra_header_lines_;
    client_->sendResponseHead(200, "OK", lines, BodyFraming::kContentLength, body.size());
    client_->sendResponseBody(body);
  }
  client_->endResponse();
  session_->postFinished(*this);
  delete this;
}

void PostStream::fail() {
  client_->abortResponse();
  delete this;
}

void PostStream::onClientGone() {
  session_->postGone(*this);
  delete this;
}

// --- GetStream ---

GetStream::GetStream(StdioSession& session, ClientConnection& client)
    : session_(&session), client_(&client) {
  client_->sendResponseHead(200, "OK",
                            "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
                            BodyFraming::kStreamed);
  // The head goes out now: the client waits for it before it sends anything else.
  client_->sendResponseBody(": stream open\n\n");
}

void GetStream::deliver(std::string_view json) { client_->sendResponseBody(sseMessageEvent(json)); }

void GetStream::end() {
  client_->endResponse();
  delete this;
}

void GetStream::onClientGone() {
  session_->getGone(*this);
  delete this;
}

// --- StdioSession ---

StdioSession::StdioSession(StdioBridge& bridge, std::string id)
    : bridge_(bridge), id_(std::move(id)), last_activity_(Clock::now()) {}

StdioSession::~StdioSession() = default;

bool StdioSession::begin(std::string_view initialize_json, const ScannedMessage& scanned,
                         PostStream& stream, std::string& error) {
  child_ = bridge_.takeChild(*this, error);
  if (child_ == nullptr) {
    return false;
  }
  initialize_json_ = std::string(initialize_json);
  state_ = State::kStarting;
  handshake_id_ = next_child_id_++;
  Pending pending{&stream, std::string(scanned.id.in(initialize_json)),
                  std::string(scanned.progress_token.in(initialize_json)), true};
  pending_.emplace(handshake_id_, std::move(pending));
  stream.addOutstanding();
  child_->send(replaceSpan(initialize_json, scanned.id, std::to_string(handshake_id_)));
  return true;
}

void StdioSession::fromClient(std::string_view json, const ScannedMessage& scanned,
                              PostStream* stream) {
  touch();
  switch (scanned.kind) {
  case ScannedKind::kRequest: {
    const std::int64_t child_id = next_child_id_++;
    pending_.emplace(child_id, Pending{stream, std::string(scanned.id.in(json)),
                                       std::string(scanned.progress_token.in(json)), false});
    if (stream != nullptr) {
      stream->addOutstanding();
    }
    sendOrQueue(replaceSpan(json, scanned.id, std::to_string(child_id)), child_id);
    return;
  }
  case ScannedKind::kNotification:
    if (scanned.method == "notifications/initialized") {
      client_initialized_ = true;
      if (state_ != State::kReady) {
        return;  // a child being (re)started gets it right after its handshake's answer
      }
    }
    if (scanned.cancelled_request_id.present()) {
      // The client names its own id: map it to the newest request that carries it, or drop
      // the notification when that request is already over (cancelled by a closed POST).
      const std::string_view client_id = scanned.cancelled_request_id.in(json);
      for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
        if (sameIdText(it->second.client_id, client_id)) {
          sendOrQueue(replaceSpan(json, scanned.cancelled_request_id, std::to_string(it->first)),
                      0);
          return;
        }
      }
      return;
    }
    sendOrQueue(std::string(json), 0);
    return;
  case ScannedKind::kResponse:
    // An answer to a server-to-client request: its id is the child's own, unchanged.
    sendOrQueue(std::string(json), 0);
    return;
  }
}

void StdioSession::attachGetStream(GetStream& stream) {
  touch();
  get_stream_ = &stream;
  while (!undelivered_requests_.empty()) {
    get_stream_->deliver(undelivered_requests_.front());
    undelivered_requests_.pop_front();
  }
}

bool StdioSession::unavailable() const {
  return state_ == State::kRestartWait && bridge_.crashLoop();
}

bool StdioSession::idleSince(Clock::time_point cutoff) const {
  return pending_.empty() && get_stream_ == nullptr && last_activity_ < cutoff;
}

void StdioSession::sendOrQueue(std::string line, std::int64_t child_id) {
  if (state_ == State::kReady && child_ != nullptr) {
    if (child_id != 0) {
      pending_[child_id].sent = true;
    }
    child_->send(line);
    return;
  }
  if (queue_.size() >= kMaxQueued) {
    logLine(LogLevel::kWarn, "stdio session queue full; message dropped",
            {{"session", SessionRef{id_}}});
    if (child_id != 0) {
      if (auto found = pending_.find(child_id); found != pending_.end()) {
        PostStream* stream = found->second.stream;
        pending_.erase(found);
        if (stream != nullptr) {
          // Fails the whole POST; its other requests are forgotten with it.
          std::erase_if(pending_, [stream](const auto& entry) {
            return entry.second.stream == stream;
          });
          stream->fail();
        }
      }
    }
    return;
  }
  queue_.push_back(Queued{std::move(line), child_id});
}

void StdioSession::flushQueue() {
  while (!queue_.empty() && state_ == State::kReady && child_ != nullptr) {
    Queued next = std::move(queue_.front());
    queue_.pop_front();
    if (next.child_id != 0) {
      const auto found = pending_.find(next.child_id);
      if (found == pending_.end()) {
        continue;  // its POST went away before it could be sent
      }
      found->second.sent = true;
    }
    child_->send(next.line);
  }
}

void StdioSession::onChildLine(std::string_view line, bool truncated) {
  if (truncated) {
    logLine(LogLevel::kError, "stdio child wrote a line over the limit; restarting it",
            {{"session", SessionRef{id_}}, {"pid", child_->pid()}});
    ChildProcess* child = child_;
    onChildExit(ChildExit{-1, 0});  // handled like a crash: requests in flight fail
    child->stop();
    return;
  }
  const auto scanned = scanMessage(bridge_.envelopeParser(), line);
  if (!scanned) {
    logLine(LogLevel::kWarn, "stdio child wrote a line that is not a JSON-RPC message; ignored",
            {{"session", SessionRef{id_}},
             {"line", line.substr(0, 200)}});
    return;
  }
  switch (scanned->kind) {
  case ScannedKind::kResponse:
    routeAnswer(line, *scanned);
    return;
  case ScannedKind::kNotification:
    routeNotification(line, *scanned);
    return;
  case ScannedKind::kRequest:
    routeRequest(line);
    return;
  }
}

void StdioSession::routeAnswer(std::string_view line, const ScannedMessage& scanned) {
  const auto child_id = parseBridgeId(scanned.id.in(line));
  const auto found = child_id ? pending_.find(*child_id) : pending_.end();
  if (found == pending_.end()) {
    // An answer to a request the client cancelled, or from before a restart.
    logLine(LogLevel::kDebug, "stdio child answered an unknown id; dropped",
            {{"session", SessionRef{id_}}, {"id", scanned.id.in(line)}});
    return;
  }
  Pending pending = std::move(found->second);
  pending_.erase(found);
  if (*child_id == handshake_id_) {
    handshake_id_ = 0;
    established_ = true;
    if (state_ == State::kStarting) {
      if (pending.stream == nullptr && client_initialized_) {
        child_->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
      }
      state_ = State::kReady;
      if (pending.stream == nullptr) {
        logLine(LogLevel::kInfo, "stdio session re-initialized",
                {{"session", SessionRef{id_}}, {"pid", child_->pid()}});
      }
      flushQueue();
    }
  }
  if (pending.stream != nullptr) {
    pending.stream->deliverAnswer(replaceSpan(line, scanned.id, pending.client_id));
  }
}

void StdioSession::routeNotification(std::string_view line, const ScannedMessage& scanned) {
  if (scanned.method == "notifications/progress" && scanned.progress_token.present()) {
    const std::string_view token = scanned.progress_token.in(line);
    for (auto& [child_id, pending] : pending_) {
      if (pending.stream != nullptr && sameIdText(pending.progress_token, token)) {
        pending.stream->deliverEvent(line);
        return;
      }
    }
  }
  if (get_stream_ != nullptr) {
    get_stream_->deliver(line);
  }
  // Without a GET stream the client has not asked for unrelated messages: dropped.
}

void StdioSession::routeRequest(std::string_view line) {
  if (get_stream_ != nullptr) {
    get_stream_->deliver(line);
    return;
  }
  // No GET stream: the newest POST that can stream carries it (the request is most likely
  // part of that call, e.g. sampling during a tool call).
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->second.stream != nullptr && it->second.stream->acceptsSse()) {
      it->second.stream->deliverEvent(line);
      return;
    }
  }
  if (undelivered_requests_.size() < kMaxUndeliveredRequests) {
    undelivered_requests_.emplace_back(line);
  }
}

void StdioSession::onChildExit(const ChildExit& exit) {
  const int pid = child_->pid();
  const auto started_at = child_->startedAt();
  child_ = nullptr;
  failSent();
  if (state_ == State::kEnded) {
    return;
  }
  const RestartDecision decision = bridge_.childExited(started_at, pid, exit, id_);
  if (!established_) {
    // The client never learnt this session's id: nobody can use a restarted child.
    bridge_.sessionEnded(*this);  // deletes this
    return;
  }
  state_ = State::kRestartWait;
  restart_due_ = Clock::now() + decision.delay;
  if (decision.crash_loop) {
    // Nothing queued can be served soon: fail it now rather than at each request's deadline.
    failPosts(false);
    queue_.clear();
  }
}

void StdioSession::failSent() {
  failPosts(true);
  handshake_id_ = 0;
}

void StdioSession::failPosts(bool sent_only) {
  // A POST fails as a whole (its connection closes): its other requests are forgotten with it.
  std::vector<PostStream*> failed;
  for (const auto& [child_id, pending] : pending_) {
    if ((pending.sent || !sent_only) && pending.stream != nullptr &&
        std::find(failed.begin(), failed.end(), pending.stream) == failed.end()) {
      failed.push_back(pending.stream);
    }
  }
  std::erase_if(pending_, [&failed, sent_only](const auto& entry) {
    return !sent_only || entry.second.sent || entry.second.stream == nullptr ||
           std::find(failed.begin(), failed.end(), entry.second.stream) != failed.end();
  });
  for (PostStream* stream : failed) {
    stream->fail();
  }
}

void StdioSession::tick(Clock::time_point now) {
  if (child_ != nullptr && state_ == State::kReady) {
    bridge_.childRunning(child_->startedAt());
  }
  if (state_ == State::kRestartWait && now >= restart_due_) {
    startChild();
  }
}

void StdioSession::startChild() {
  std::string error;
  child_ = bridge_.takeChild(*this, error);
  if (child_ == nullptr) {
    restart_due_ = Clock::now() + bridge_.spawnFailed(error, id_).delay;
    return;
  }
  bridge_.countRestart();
  state_ = State::kStarting;
  // The replayed handshake gets a fresh id; its answer goes nowhere but unblocks the queue.
  const auto scanned = scanMessage(bridge_.envelopeParser(), initialize_json_);
  handshake_id_ = next_child_id_++;
  pending_.emplace(handshake_id_, Pending{nullptr, {}, {}, true});
  child_->send(replaceSpan(initialize_json_, scanned->id, std::to_string(handshake_id_)));
}

void StdioSession::cancelInChild(std::int64_t child_id, std::string_view reason) {
  if (child_ == nullptr || state_ != State::kReady) {
    return;
  }
  std::string line =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)";
  line += std::to_string(child_id);
  line += R"(,"reason":)";
  appendJsonString(line, reason);
  line += "}}";
  child_->send(line);
}

void StdioSession::postGone(PostStream& stream) {
  touch();
  // The client (or the proxy, giving up on an attempt) closed the POST: that is cancellation.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.stream == &stream) {
      if (it->second.sent) {
        cancelInChild(it->first, "bulwark: the client closed the request");
      }
      if (it->first == handshake_id_) {
        it->second.stream = nullptr;  // the handshake still has to finish
        abandoned_ = abandoned_ || !established_;
        ++it;
        continue;
      }
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void StdioSession::postFinished(PostStream&) { touch(); }

void StdioSession::getGone(GetStream& stream) {
  if (get_stream_ == &stream) {
    get_stream_ = nullptr;
  }
  touch();
}

void StdioSession::end() {
  state_ = State::kEnded;
  failPosts(false);
  queue_.clear();
  if (get_stream_ != nullptr) {
    GetStream* stream = get_stream_;
    get_stream_ = nullptr;
    stream->end();
  }
  if (child_ != nullptr) {
    ChildProcess* child = child_;
    child_ = nullptr;
    child->stop();
  }
}

}  // namespace bulwark::stdio
