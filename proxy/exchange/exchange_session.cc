// Sessions: learning them from the upstream's answers, re-opening one the upstream lost (the
// request then goes again), re-opening a client's broken GET stream, and the
// notifications/cancelled the session protocol needs.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/downstream_writer.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/session_loss_body.h"
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
    if (request_.method == "initialize") {
      if (const HeaderField* id = findHeader(head.headers, "mcp-session-id")) {
        context_.sessions.opened(
            id->value, std::string_view(upstream_request_.bytes).substr(upstream_request_.body_at));
      }
    } else if (request_.http_method == "DELETE" && !request_.session_id.empty()) {
      context_.sessions.closed(request_.session_id);
    }
  } else if (request_.http_method == "DELETE" && head.status != 405 && head.status < 500) {
    // The client ended its session and the upstream has it no more (404, or a 400 about it):
    // the mapping goes too. 405 (the server keeps its sessions) and 5xx leave it.
    context_.sessions.closed(request_.session_id);
  }
}

void Exchange::appendClientHeaders(std::string& out, const HeaderList& headers) const {
  if (request_.session_id.empty() || upstream_request_.session_id == request_.session_id) {
    appendEndToEndHeaders(out, headers);
    return;
  }
  appendEndToEndHeaders(out, headers, {"mcp-session-id"});
  if (findHeader(headers, "mcp-session-id") != nullptr) {
    out += "Mcp-Session-Id: ";
    out += request_.session_id;
    out += "\r\n";
  }
}

policies::SessionLossFacts Exchange::sessionLossFacts(int status) const {
  policies::SessionLossFacts facts;
  facts.http_status = status;
  facts.session_id_sent = !request_.session_id.empty();
  facts.mcp_endpoint = request_.mcp_endpoint;
  facts.http_method = request_.http_method;
  facts.protocol_version = request_.protocol_version;
  return facts;
}

bool Exchange::sessionMayBeLost(const HttpHead& head) const {
  // policies::couldMeanLostSession: a 404 or 400 to a session-era POST or GET on the MCP path
  // that carried the session (the body decides later). Only sessions Bulwark saw opened are
  // replayed, and a request at most once after its session was re-opened: a second "loss" is
  // the server's answer to this request.
  return (head.status == 404 || head.status == 400) &&  // the usual answer stops here
         policies::couldMeanLostSession(sessionLossFacts(head.status)) &&
         !request_.stateless &&  // 2026-07-28 named in _meta counts too: no session to lose
         !recovery_counts_.session_reopened &&
         recovery_counts_.session_recoveries < kMaxSessionRecoveries && client_ != nullptr &&
         attempt_->reply == Reply::kPending && context_.sessions.knows(request_.session_id);
}

void Exchange::settleHeldSessionCheck() {
  if (judgeSessionLossWithBody(context_.envelope_parser,
                               sessionLossFacts(attempt_->held_head.status),
                               attempt_->held_body) == policies::SessionLossVerdict::kLost) {
    recoverSession();
    return;
  }
  // A 404 or 400 about something else: the client gets it as the upstream sent it.
  trackSession(attempt_->held_head);
  report_.outcome = outcomeOf(policies::classify(
      Outcome::httpStatus(attempt_->held_head.status, false, false, false)));
  if (client_->responseStarted() && !request_.judged) {
    client_->endResponse();  // a re-opened GET stream that was refused
    answered();
    return;
  }
  deliverHeldJson();
}

void Exchange::recoverSession() {
  abandonUpstream();
  reportAttempt(FailureClass::kSessionLost);
  --attempts_;  // the request never ran: the replayed attempt is this one again
  ++recovery_counts_.session_recoveries;
  retry_state_->noteFailure(now());
  if (!ensureTimers()) {
    onSessionRecovered(false);
    return;
  }
  const SessionReplayHeaders headers{request_.host, request_.authorization,
                                     request_.protocol_version};
  switch (context_.sessions.recover(request_.session_id, upstream_request_.session_id, headers,
                                    *this)) {
  case SessionDirectory::RecoveryStart::kRetryNow:
    onSessionRecovered(true);
    return;
  case SessionDirectory::RecoveryStart::kWaiting:
    recovery_counts_.waiting_for_session = true;
    return;
  case SessionDirectory::RecoveryStart::kUnknown:
    onSessionRecovered(false);
    return;
  }
}

void Exchange::onSessionRecovered(bool recovered) {
  recovery_counts_.waiting_for_session = false;
  if (client_ == nullptr) {
    return;
  }
  if (recovered) {
    recovery_counts_.session_reopened = true;
    if (!scheduleAttempt(policies::Duration{0})) {
      giveUp(FailureClass::kSessionLost, report_.loop_error);
      return;
    }
    context_.metrics.recordRetry(toolLabel(), FailureClass::kSessionLost);
    return;
  }
  if (request_.judged) {
    // Most often the upstream is still restarting: the request waits under its policy, as for
    // a refused connection, and finds the session lost again once the upstream is back.
    ++attempts_;
    if (tryRetry(Outcome::connectFailed(), std::nullopt)) {
      return;
    }
    giveUp(FailureClass::kSessionLost, "the upstream lost the session and re-opening it failed");
    return;
  }
  if (client_->responseStarted()) {
    // A held GET stream. The replay failing while the upstream is down again is an outage: the
    // stream waits for it. Otherwise the upstream is up and will not take the session back.
    if (context_.health.failing() && reopenStream()) {
      return;
    }
    endStreamSessionLost();
    return;
  }
  const ErrorAnswer answer = errorAnswerFor(FailureClass::kSessionLost);
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{answer.jsonrpc_code, answer.message,
                     "the upstream lost the session and re-opening it failed", "session_lost",
                     attempts_, {}});
  sendErrorAnswer(*client_, answer, body);
  report_.error_detail = "the upstream lost the session and re-opening it failed";
  answered(RequestOutcome::failed(FailureClass::kSessionLost));
}

bool Exchange::reopenStream() {
  // For as long as the client holds the stream (an outage of any length): the client keeps its
  // stream and, once the upstream is back, the events it would have missed after a reconnect.
  if (!request_.resumable_stream || client_ == nullptr || !ensureTimers()) {
    return false;
  }
  // Only whole events went out; a partial one dies with the connection that carried it.
  attempt_->sse_carry.clear();
  attempt_->sse.reset();
  const policies::Duration delay = policies::streamReopenDelay(recovery_counts_.stream_reopens);
  ++recovery_counts_.stream_reopens;
  retry_state_->noteFailure(now());
  attempt_->reply = Reply::kDiscard;
  return scheduleStreamOpen(delay);
}

bool Exchange::waitToOpenStream(const UpstreamFailure& failure) {
  if (!request_.resumable_stream || client_ == nullptr || client_->responseStarted() ||
      attempt_->reply != Reply::kPending) {
    return false;
  }
  const auto now = this->now();
  const Outcome outcome = outcomeOfFailure(failure.kind);
  policies::UnreachableFacts facts;
  facts.never_sent = !policies::mayHaveReachedUpstream(outcome);
  facts.connection_lost = outcome.kind == policies::OutcomeKind::kResetBeforeResponse;
  facts.probe_failing = context_.health.failing();
  if (const auto since_up = context_.health.sinceReachable(now)) {
    facts.since_seen_up = std::chrono::duration_cast<policies::Duration>(*since_up);
  }
  if (const auto first = retry_state_->firstFailureAt()) {
    facts.waited = std::chrono::duration_cast<policies::Duration>(now - *first);
  }
  const std::optional<policies::Duration> delay = policies::streamOpenWait(
      runtime_->settings.restart_wait, facts, recovery_counts_.stream_reopens);
  if (!delay || !ensureTimers()) {
    return false;
  }
  ++recovery_counts_.stream_reopens;
  retry_state_->noteFailure(now);
  attempt_->reply = Reply::kDiscard;
  return scheduleStreamOpen(*delay);
}

bool Exchange::scheduleStreamOpen(policies::Duration delay) {
  if (!scheduleAttempt(delay)) {
    return false;
  }
  if (!waiting_for_stream_) {
    waiting_for_stream_ = true;
    context_.stream_wake.add(this, &Exchange::wakeStream);
  }
  return true;
}

void Exchange::wakeStream(void* self) {
  // The upstream answers again: the next open goes now rather than at the end of the backoff.
  // Through the timer, not inline: the wake list is being walked.
  auto* exchange = static_cast<Exchange*>(self);
  if (exchange->waiting_for_stream_ && exchange->backing_off_) {
    exchange->scheduleAttempt(policies::Duration{0});
  }
}

void Exchange::endStreamSessionLost() {
  // The client's stream ends; its reconnect finds the session lost too and is answered 404, so
  // that the client starts a new session (as the specification asks of it).
  abandonUpstream();
  report_.error_detail = "the upstream lost the session and re-opening it failed";
  client_->endResponse();
  answered(RequestOutcome::failed(FailureClass::kSessionLost));
}

void Exchange::onServerDraining() {
  if (request_.resumable_stream && client_ != nullptr && !client_->responseStarted() &&
      backing_off_) {
    // A client's GET waiting for a restarting upstream (waitToOpenStream) does not hold the
    // drain up: it gets its 502 now, as it would have without the wait, and tries elsewhere.
    giveUp(FailureClass::kUpstream, "the upstream is unreachable and bulwark is draining");
    return;
  }
  // A GET stream in a session forwards whole events only (forwardWholeEvents), and between
  // re-opens the client has had whole events only too: ending it now cuts no event, and the
  // client resumes with Last-Event-ID. A stream forwarded raw, or whose head has not come yet,
  // finishes as any request does.
  const bool whole_events_only =
      !(attempt_->reply == Reply::kForward && attempt_->sse == nullptr);
  if (!request_.resumable_stream || client_ == nullptr || !client_->responseStarted() ||
      !whole_events_only) {
    return;
  }
  abandonUpstream();
  client_->endResponse();
  answered(RequestOutcome::success());
}

void Exchange::forwardWholeEvents(std::string_view bytes) {
  std::size_t forwarded = 0;
  attempt_->sse->feed(bytes, [&](const SseEvent& event) {
    context_.tools.noticeStreamEvent(event.data, context_.envelope_parser);
    const std::size_t end = attempt_->sse->dispatchOffset();
    sendCarriedThen(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    // The stream works again: a later break starts a fresh series.
    noteStreamDelivered();
  });
  if (const std::size_t settled = attempt_->sse->settledOffset(); settled > forwarded) {
    // Keep-alive comments and events without data between events (`: connected`, `: ping`)
    // are whole too: they go out at once rather than with the next event.
    sendCarriedThen(bytes.substr(forwarded, settled - forwarded));
    forwarded = settled;
    noteStreamDelivered();
  }
  if (forwarded < bytes.size()) {
    attempt_->sse_carry.append(bytes.substr(forwarded));
  }
}

void Exchange::noteStreamDelivered() {
  recovery_counts_.stream_reopens = 0;
}

void Exchange::sendCancelNotification(std::string_view reason) {
  // In the session protocol a closed stream is not cancellation (2025-06-18 says so); the
  // server learns it only from notifications/cancelled. A stateless server learns it from the
  // closed connection, which abandonUpstream() already did.
  if (request_.session_id.empty() || request_.id.empty()) {
    return;
  }
  std::string body =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)";
  body += request_.id;
  body += R"(,"reason":)";
  appendJsonString(body, std::string("bulwark: ") + std::string(reason));
  body += "}}";
  std::string request = ownJsonRpcPost(
      context_.mcp_path, body, upstream_request_.session_id,
      OwnRequestHeaders{request_.host, request_.authorization, request_.protocol_version});
  sendDetachedRequest(context_.loop, context_.pool, context_.metrics, std::move(request));
}

}  // namespace bulwark
