// Sessions: learning them from the upstream's answers, re-opening one the upstream lost (the
// request then goes again), re-opening a client's broken GET stream, and the
// notifications/cancelled the session protocol needs.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

void Exchange::trackSession(const HttpHead& head) {
  if (head.status >= 200 && head.status < 300) {
    if (method_ == "initialize") {
      if (const HeaderField* id = findHeader(head.headers, "mcp-session-id")) {
        context_.sessions.opened(id->value, std::string_view(request_bytes_).substr(body_at_));
      }
    } else if (http_method_ == "DELETE" && !session_id_.empty()) {
      context_.sessions.closed(session_id_);
    }
  } else if (http_method_ == "DELETE" && head.status == 404) {
    context_.sessions.closed(session_id_);  // gone upstream already: nothing to recover
  }
}

void Exchange::appendClientHeaders(std::string& out, const HeaderList& headers) const {
  if (session_id_.empty() || upstream_session_id_ == session_id_) {
    appendEndToEndHeaders(out, headers);
    return;
  }
  appendEndToEndHeaders(out, headers, {"mcp-session-id"});
  if (findHeader(headers, "mcp-session-id") != nullptr) {
    out += "Mcp-Session-Id: ";
    out += session_id_;
    out += "\r\n";
  }
}

bool Exchange::sessionMayBeLost(const HttpHead& head) const {
  // The 2025 session protocol says 404; the TypeScript SDK's servers answer 400 "No valid
  // session ID provided" after a restart. Only sessions Bulwark saw opened are replayed.
  return (head.status == 404 || head.status == 400) && http_method_ != "DELETE" &&
         session_recoveries_ < kMaxSessionRecoveries && client_ != nullptr &&
         reply_ == Reply::kPending && context_.sessions.knows(session_id_);
}

void Exchange::settleHeldSessionCheck() {
  if (policies::mentionsSession(held_body_)) {
    recoverSession();
    return;
  }
  // A 400 about something else: the client gets it as the upstream sent it.
  trackSession(held_head_);
  outcome_ = RequestOutcome::of(policies::classify(
      Outcome::httpStatus(held_head_.status, !session_id_.empty(), false, false)));
  if (client_->responseStarted() && !judged_) {
    client_->endResponse();  // a re-opened GET stream that was refused
    client_ = nullptr;
    finish(outcome_);
    return;
  }
  deliverHeldJson();
}

void Exchange::recoverSession() {
  abandonUpstream();
  reportAttempt(FailureClass::kSessionLost);
  --attempt_;  // the request never ran: the replayed attempt is this one again
  ++session_recoveries_;
  retry_state_->noteFailure(now());
  if (!ensureTimers()) {
    onSessionRecovered(false);
    return;
  }
  const SessionReplayHeaders headers{host_, authorization_, protocol_version_};
  switch (context_.sessions.recover(session_id_, upstream_session_id_, headers, *this)) {
  case SessionDirectory::RecoveryStart::kRetryNow:
    onSessionRecovered(true);
    return;
  case SessionDirectory::RecoveryStart::kWaiting:
    waiting_for_session_ = true;
    return;
  case SessionDirectory::RecoveryStart::kUnknown:
    onSessionRecovered(false);
    return;
  }
}

void Exchange::onSessionRecovered(bool recovered) {
  waiting_for_session_ = false;
  if (client_ == nullptr) {
    return;
  }
  if (recovered) {
    if (!scheduleAttempt(policies::Duration{0})) {
      giveUp(FailureClass::kSessionLost, loop_error_);
      return;
    }
    context_.metrics.recordRetry(toolLabel(), "session_lost");
    return;
  }
  if (judged_) {
    // Most often the upstream is still restarting: the request waits under its policy, as for
    // a refused connection, and finds the session lost again once the upstream is back.
    ++attempt_;
    if (tryRetry(Outcome::connectFailed(), std::nullopt)) {
      return;
    }
    giveUp(FailureClass::kSessionLost, "the upstream lost the session and re-opening it failed");
    return;
  }
  if (client_->responseStarted()) {
    if (reopenStream()) {
      return;
    }
    client_->endResponse();
    client_ = nullptr;
    finish(RequestOutcome::failed(FailureClass::kSessionLost));
    return;
  }
  const ErrorAnswer answer = errorAnswerFor(FailureClass::kSessionLost);
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{answer.jsonrpc_code, answer.message,
                     "the upstream lost the session and re-opening it failed", "session_lost",
                     attempt_, {}});
  client_->sendSimpleResponse(answer.http_status, "application/json", body);
  client_ = nullptr;
  error_detail_ = "the upstream lost the session and re-opening it failed";
  finish(RequestOutcome::failed(FailureClass::kSessionLost));
}

bool Exchange::reopenStream() {
  const std::optional<policies::Duration> delay = policies::streamReopenDelay(stream_reopens_);
  if (!resumable_stream_ || client_ == nullptr || !delay || !ensureTimers()) {
    return false;
  }
  // Only whole events went out; a partial one dies with the connection that carried it.
  sse_carry_.clear();
  sse_.reset();
  ++stream_reopens_;
  retry_state_->noteFailure(now());
  reply_ = Reply::kDiscard;
  return scheduleAttempt(*delay);
}

void Exchange::forwardWholeEvents(std::string_view bytes) {
  std::size_t forwarded = 0;
  sse_->feed(bytes, [&](const SseEvent&) {
    const std::size_t end = sse_->dispatchOffset();
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
      sse_carry_.clear();
    }
    client_->sendResponseBody(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    stream_reopens_ = 0;  // the stream works again: a later break starts a fresh series
  });
  if (forwarded < bytes.size()) {
    sse_carry_.append(bytes.substr(forwarded));
  }
}

void Exchange::sendCancelNotification(std::string_view reason) {
  // In the session protocol a closed stream is not cancellation (2025-06-18 says so); the
  // server learns it only from notifications/cancelled. A stateless server learns it from the
  // closed connection, which abandonUpstream() already did.
  if (session_id_.empty() || request_id_.empty()) {
    return;
  }
  std::string body = R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)";
  body += request_id_;
  body += R"(,"reason":)";
  appendJsonString(body, std::string("bulwark: ") + std::string(reason));
  body += "}}";
  std::string request = ownJsonRpcPost(
      context_.mcp_path, body, upstream_session_id_,
      OwnRequestHeaders{host_, authorization_, protocol_version_});
  sendDetachedRequest(context_.loop, context_.pool, context_.metrics, std::move(request));
}

}  // namespace bulwark
