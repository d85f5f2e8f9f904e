// One attempt's upstream response: forwarded, held and judged (JSON), or streamed event by
// event with its final answer judged (SSE); and what a transport failure means.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/downstream_writer.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/mcp/answer_prefix.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/message_lines.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

void Exchange::onUpstreamHead(HttpHead& head) {
  attempt_->upstream_status = head.status;
  if (sessionMayBeLost(head)) {
    // The body decides (policies::judgeSessionLoss): a 404 may say "method not found", a 400
    // may be about something else.
    attempt_->reply = Reply::kSessionCheck;
    attempt_->held_head = std::move(head);
    return;
  }
  trackSession(head);
  if (!request_.judged) {
    if (client_->responseStarted()) {
      // A re-opened GET stream: the client has had its head; events go on where they stopped.
      if (head.status >= 200 && head.status < 300 && isEventStream(head)) {
        // The upstream has the session: a later loss of it is a new one, recovered again.
        recovery_counts_.session_reopened = false;
        recovery_counts_.session_recoveries = 0;
        attempt_->reply = Reply::kForward;
        attempt_->sse = std::make_unique<SseParser>(context_.max_held_answer_bytes);
        return;
      }
      abandonUpstream();
      if (head.status >= 400 && head.status < 500 && head.status != 408 && head.status != 429) {
        // Refused, not unavailable (a lost session that cannot be re-opened, a credential gone
        // stale): re-opening would be refused forever. The stream ends; the client's reconnect
        // gets the upstream's answer itself.
        if (head.status == 404 && policies::couldMeanLostSession(sessionLossFacts(404))) {
          endStreamSessionLost();
          return;
        }
        client_->endResponse();
        answered(RequestOutcome::failed(
            policies::classify(Outcome::httpStatus(head.status, !request_.session_id.empty()))));
        return;
      }
      if (!reopenStream()) {
        client_->endResponse();
        answered(RequestOutcome::failed(FailureClass::kUpstream));
      }
      return;
    }
    forwardHead(head);
    return;
  }
  if (head.status < 200 || head.status >= 300) {
    const HeaderField* retry_after_field = findHeader(head.headers, "retry-after");
    std::optional<policies::Duration> retry_after;
    if (retry_after_field != nullptr) {
      retry_after =
          policies::parseRetryAfter(retry_after_field->value, std::chrono::system_clock::now());
    }
    const Outcome outcome = Outcome::httpStatus(head.status, !request_.session_id.empty(),
                                                retry_after.has_value(), false)
                                .forStatelessRequest(request_.stateless);
    if (attempt_->reply != Reply::kForward && tryRetry(outcome, retry_after)) {
      return;
    }
    report_.outcome = outcomeOf(policies::classify(outcome));
    const policies::RecoveryStrategy recovery = planRecovery(policies::classify(outcome));
    if (recovery != policies::RecoveryStrategy::kFail) {
      abandonUpstream();
      serveRecovery(recovery, policies::classify(outcome));
      return;
    }
    if (!client_->responseStarted()) {
      forwardHead(head);  // the upstream's own error goes to the client untouched
      return;
    }
    abandonUpstream();
    giveUp(policies::classify(outcome), "upstream answered HTTP " + std::to_string(head.status));
    return;
  }
  if (isEventStream(head)) {
    if (!client_->responseStarted()) {
      std::string lines;
      appendClientHeaders(lines, head.headers);
      client_->sendResponseHead(head.status, head.reason, lines, BodyFraming::kStreamed);
      downstream_.sse = true;
    }
    attempt_->reply = Reply::kSse;
    attempt_->sse = std::make_unique<SseParser>(context_.max_held_answer_bytes);
    return;
  }
  // A JSON answer is judged whole before the client sees any of it, so a truncated or garbled
  // one becomes a retry or a clear error rather than broken JSON at the client. Anything that
  // is neither JSON nor SSE is no answer to a JSON-RPC request: held too, it judges malformed.
  attempt_->reply = Reply::kHoldJson;
  attempt_->held_head = std::move(head);
}

void Exchange::forwardHead(const HttpHead& head) {
  attempt_->reply = Reply::kForward;
  std::string lines;
  lines.reserve(512);
  appendClientHeaders(lines, head.headers);
  BodyFraming framing = BodyFraming::kStreamed;
  std::uint64_t length = 0;
  if (request_.head_request || head.status == 204 || head.status == 304) {
    framing = BodyFraming::kNone;
    if (head.content_length && request_.head_request) {
      lines += "Content-Length: " + std::to_string(*head.content_length) + "\r\n";
    }
  } else if (head.content_length) {
    framing = BodyFraming::kContentLength;
    length = *head.content_length;
  }
  // Observe what passes, to learn the outcome and the tools' hints.
  if (request_.long_lived) {
    // subscriptions/listen: events and keep-alives pass as they come, whatever the framing;
    // nothing is held or observed (the stream has no answer and may run for days).
  } else if (request_.resumable_stream && head.status >= 200 && head.status < 300 &&
             isEventStream(head)) {
    attempt_->sse = std::make_unique<SseParser>(context_.max_held_answer_bytes);
  } else if (!request_.id.empty() || request_.method == "batch") {
    if (isEventStream(head)) {
      attempt_->sse = std::make_unique<SseParser>(context_.max_held_answer_bytes);
    } else if (isJson(head)) {
      attempt_->observe_json = true;
    }
  }
  client_->sendResponseHead(head.status, head.reason, lines, framing, length);
}

void Exchange::onUpstreamReadDone() {
  chargeHeld();
  if (client_ != nullptr) {
    client_->uncork();
    pauseUpstreamIfClientBehind();
  }
}

void Exchange::chargeHeld() {
  // The SSE parser keeps its own copy of the pending event's data: it counts as much again.
  attempt_->held_share.set(attempt_->held_body.capacity() + 2 * attempt_->sse_carry.capacity());
}

void Exchange::pauseUpstreamIfClientBehind() {
  // The client's window (limits: write_high_watermark) is full: the upstream waits until the
  // client has taken it (onClientWritable), so a slow reader costs a window, not the answer.
  if (client_ != nullptr && client_->congested() && attempt_->upstream != nullptr) {
    attempt_->upstream->pauseResponse();
  }
}

void Exchange::onUpstreamBody(std::string_view bytes) {
  if (client_ != nullptr) {
    client_->cork();  // until onUpstreamReadDone or the end of the response
  }
  switch (attempt_->reply) {
  case Reply::kForward:
    if (request_.resumable_stream && attempt_->sse) {
      forwardWholeEvents(bytes);
      break;
    }
    if (attempt_->sse) {
      attempt_->sse->feed(bytes, [this](const SseEvent& event) {
        if (!event.data.empty()) {
          observe(event.data);
        }
      });
    } else if (attempt_->observe_json) {
      const std::size_t observed = attempt_->held_body.size() + bytes.size();
      if (observed <= context_.max_held_answer_bytes &&
          BufferBudget::process().allowsHolding(observed)) {
        attempt_->held_body.append(bytes);
      } else {
        attempt_->observe_json = false;  // too large to observe; forwarded all the same
        attempt_->held_body.clear();
      }
    }
    client_->sendResponseBody(bytes);
    break;
  case Reply::kHoldJson:
    if (!BufferBudget::process().allowsHolding(attempt_->held_body.size() + bytes.size()) &&
        !client_->responseStarted() &&
        attempt_->held_body.size() + bytes.size() <= context_.max_held_answer_bytes) {
      // The process's buffer budget is full: treated as past max_held_answer_bytes.
      attempt_->held_body.append(bytes);
      commitHeldJson({});
      break;
    }
    if (attempt_->held_body.size() + bytes.size() > context_.max_held_answer_bytes) {
      // Too large to hold: judged from what was read, then delivered as it comes.
      if (!client_->responseStarted()) {
        commitHeldJson(bytes);
        break;
      }
      abandonUpstream();
      giveUp(FailureClass::kProtocol, "upstream reply larger than the inspection limit");
      return;
    }
    attempt_->held_body.append(bytes);
    return;
  case Reply::kSse:
    feedSse(bytes);
    break;
  case Reply::kSessionCheck:
    attempt_->held_body.append(bytes.substr(
        0, kMaxSessionCheckBytes - std::min(attempt_->held_body.size(), kMaxSessionCheckBytes)));
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
  pauseUpstreamIfClientBehind();
}

void Exchange::commitHeldJson(std::string_view rest_of_chunk) {
  const AnswerPrefix prefix = readAnswerPrefix(attempt_->held_body);
  Outcome outcome = judgePrefix(prefix);
  forwardHead(attempt_->held_head);
  attempt_->observe_json = false;  // judged already; nothing more is copied
  client_->sendResponseBody(attempt_->held_body);
  client_->sendResponseBody(rest_of_chunk);
  attempt_->held_body.clear();
  attempt_->held_body.shrink_to_fit();  // the held megabyte goes back now, not at the end
  chargeHeld();
  commitJudged(outcome);
}

void Exchange::commitJudged(const Outcome& outcome) {
  downstream_.final_delivered = true;
  report_.outcome = outcomeOf(policies::classify(outcome));
  if (timers_ready_) {
    uv_timer_stop(&attempt_timer_);
  }
}

// Here rather than with the GET stream code: the SSE answer path (feedSse) is the hot caller.
void Exchange::sendCarriedThen(std::string_view bytes) {
  if (!attempt_->sse_carry.empty()) {
    client_->sendResponseBody(attempt_->sse_carry);
    attempt_->sse_carry.clear();
  }
  client_->sendResponseBody(bytes);
}

void Exchange::feedSse(std::string_view bytes) {
  std::size_t forwarded = 0;  // bytes of this chunk already sent or judged
  attempt_->sse->feed(bytes, [&](const SseEvent& event) {
    if (attempt_->reply != Reply::kSse) {
      return;  // a retry or give-up started inside this feed
    }
    const std::size_t end = attempt_->sse->dispatchOffset();
    attempt_->sse_resumable =
        attempt_->sse_resumable || (event.id.has_value() && !event.id->empty());
    Outcome outcome;
    const bool is_final =
        !downstream_.final_delivered && !event.data.empty() && judgeFinal(event.data, outcome);
    if (is_final && tryRetry(outcome, std::nullopt)) {
      return;
    }
    // Progress, notifications and server-to-client requests go out as they come; so does the
    // final answer once judged deliverable.
    sendCarriedThen(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    if (is_final) {
      downstream_.final_delivered = true;
      report_.outcome = outcomeOf(policies::classify(outcome));
      if (timers_ready_) {
        uv_timer_stop(&attempt_timer_);
      }
    } else if (!downstream_.final_delivered) {
      // Progress from the upstream restarts the per-try clock.
      if (!armAttemptTimer()) {
        abandonUpstream();
        giveUp(FailureClass::kUpstream, report_.loop_error);
      }
    }
  });
  if (attempt_->reply != Reply::kSse) {
    return;
  }
  if (const std::size_t settled = attempt_->sse->settledOffset(); settled > forwarded) {
    // Keep-alive comments and events without data after the last event: whole, and no answer
    // to judge. They go out now, so that an idle-timeout client or balancer sees the stream
    // alive, and they are progress for the per-try clock like any event.
    sendCarriedThen(bytes.substr(forwarded, settled - forwarded));
    forwarded = settled;
    if (!downstream_.final_delivered && !armAttemptTimer()) {
      abandonUpstream();
      giveUp(FailureClass::kUpstream, report_.loop_error);
      return;
    }
  }
  if (forwarded == bytes.size()) {
    return;
  }
  if (attempt_->sse->overflowed() > 0 ||
      !BufferBudget::process().allowsHolding(attempt_->sse_carry.size() + bytes.size() -
                                             forwarded)) {
    // An event too large to inspect (most often the answer itself), or one the full buffer
    // budget lets no stream hold beyond a window: it cannot be judged, only delivered.
    // Everything from here on streams through as it is, and the request counts as answered.
    commitOversizedEvent(bytes.substr(forwarded));
    return;
  }
  attempt_->sse_carry.append(bytes.substr(forwarded));
}

void Exchange::commitOversizedEvent(std::string_view rest_of_chunk) {
  attempt_->reply = Reply::kForward;
  std::optional<Outcome> outcome;
  if (!downstream_.final_delivered) {
    // The event's first line of data, as held so far (the carry, then this chunk's start).
    const std::string_view held = attempt_->sse_carry.empty() ? rest_of_chunk
                                                              : attempt_->sse_carry;
    const std::size_t data_at = held.find("data:");
    if (data_at != std::string_view::npos) {
      outcome = judgePrefix(readAnswerPrefix(held.substr(data_at + 5)));
    }
  }
  if (!attempt_->sse_carry.empty()) {
    client_->sendResponseBody(attempt_->sse_carry);
    attempt_->sse_carry.clear();
    attempt_->sse_carry.shrink_to_fit();
  }
  client_->sendResponseBody(rest_of_chunk);
  if (!downstream_.final_delivered) {
    commitJudged(outcome.value_or(Outcome::success()));
  }
}

Outcome Exchange::judgePrefix(const AnswerPrefix& prefix) {
  // An answer for another id, or one that has not yet said what it is, counts as delivered
  // whole: as far as Bulwark can tell, it was.
  if (!prefix.id.empty() && prefix.id != request_.id) {
    return Outcome::success();
  }
  switch (prefix.kind) {
  case AnswerPrefix::Kind::kError:
    attempt_->jsonrpc_code = prefix.error_code;
    return Outcome::jsonRpcError(static_cast<int>(prefix.error_code.value_or(-32603)));
  case AnswerPrefix::Kind::kResult:
    return prefix.is_error ? Outcome::toolError() : Outcome::success();
  case AnswerPrefix::Kind::kUnknown:
    break;
  }
  return Outcome::success();
}

bool Exchange::judgeFinal(std::string_view json, Outcome& outcome) {
  EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error == EnvelopeError::kInvalidJson && hasSeveralLines(json)) {
    // Several messages, one per line: judged on the last, which must answer the request (its
    // spans point into that line, which the cache keeps the result from).
    MessageLines lines = parseMessageLines(context_.envelope_parser, json);
    parsed = std::move(lines.last);
    json = lines.last_line;
  }
  if (parsed.error != EnvelopeError::kNone) {
    return false;  // not ours to judge; it passes through
  }
  for (const Envelope& message : parsed.parsed.messages) {
    context_.tools.notice(message);  // notifications/tools/list_changed: discovery lists again
    if (!sameId(message, request_.id) ||
        (message.kind != MessageKind::kResult && message.kind != MessageKind::kError)) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      attempt_->jsonrpc_code = message.error_code;
      outcome = Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)));
    } else {
      outcome = message.is_error ? Outcome::toolError() : Outcome::success();
      if (!message.is_error && cache_keys_.cacheable) {
        storeInCache(json, message);
      }
    }
    return true;
  }
  return false;
}

void Exchange::observe(std::string_view json) {
  if (report_.outcome.has_value()) {
    return;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    report_.outcome = RequestOutcome::failed(FailureClass::kProtocol);
    return;
  }
  for (const Envelope& message : parsed.parsed.messages) {
    context_.tools.notice(message);
    if (request_.method != "batch" && !sameId(message, request_.id)) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      attempt_->jsonrpc_code = message.error_code;
      report_.outcome = outcomeOf(policies::classify(
          Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)))));
      return;
    }
    if (message.kind == MessageKind::kResult && request_.method != "batch") {
      report_.outcome = message.is_error ? RequestOutcome::failed(FailureClass::kToolError)
                                  : RequestOutcome::success();
      return;
    }
  }
}

void Exchange::onUpstreamComplete() {
  attempt_->upstream = nullptr;
  context_.metrics.recordUpstreamAttempt(UpstreamAttemptResult::kResponse);
  switch (attempt_->reply) {
  case Reply::kForward:
    if (attempt_->observe_json && !attempt_->held_body.empty()) {
      if (attempt_->upstream_status >= 400) {
        report_.outcome.reset();  // judged again below, with the code the error body carries
      }
      observe(attempt_->held_body);
    }
    if (!report_.outcome.has_value() || attempt_->upstream_status >= 400) {
      // A 2026 server's error status carries a JSON-RPC error (404 with -32601: method not
      // found); the body's code joins the status in judging it.
      report_.outcome = outcomeOf(policies::classify(
          attempt_->upstream_status >= 300
              ? Outcome::httpStatus(attempt_->upstream_status, !request_.session_id.empty())
                    .withBodyCode(static_cast<int>(attempt_->jsonrpc_code.value_or(0)))
                    .forStatelessRequest(request_.stateless)
              : Outcome::success()));
    }
    client_->endResponse();
    answered();
    return;
  case Reply::kHoldJson: {
    Outcome outcome;
    // The body decides, not its label: a JSON-RPC answer under a sloppy Content-Type is still
    // the answer; garbage or truncated JSON under application/json is not.
    const bool answered = judgeFinal(attempt_->held_body, outcome);
    if (!answered) {
      outcome = Outcome::malformedReply();
    }
    if (tryRetry(outcome, std::nullopt)) {
      return;
    }
    report_.outcome = outcomeOf(policies::classify(outcome));
    if (!answered) {
      giveUp(FailureClass::kProtocol, malformedDetail());
      return;
    }
    if (const policies::RecoveryStrategy recovery = planRecovery(policies::classify(outcome));
        recovery != policies::RecoveryStrategy::kFail) {
      serveRecovery(recovery, policies::classify(outcome));
      return;
    }
    deliverHeldJson();
    return;
  }
  case Reply::kSessionCheck:
    settleHeldSessionCheck();
    return;
  case Reply::kSse:
    if (!attempt_->sse_carry.empty()) {
      client_->sendResponseBody(attempt_->sse_carry);
    }
    if (!downstream_.final_delivered && !attempt_->sse_resumable) {
      // The stream ended without an answer, and without an event id a client could resume
      // from: the answer is lost, as if the connection had broken.
      const Outcome lost = Outcome::resetAfterPartialResponse();
      if (tryRetry(lost, std::nullopt)) {
        return;
      }
      giveUp(policies::classify(lost), "the upstream ended its SSE stream without an answer");
      return;
    }
    if (!report_.outcome.has_value()) {
      // In 2025-11-25 a server may close the stream and let the client resume on a GET with
      // Last-Event-ID, so the ending passes through as it is.
      report_.outcome = RequestOutcome::success();
    }
    client_->endResponse();
    answered();
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
}

void Exchange::deliverHeldJson() {
  // After an earlier attempt opened an SSE stream, this attempt's JSON answer is its last event.
  std::string lines;
  if (!client_->responseStarted()) {
    appendClientHeaders(lines, attempt_->held_head.headers);
  } else if (hasSeveralLines(attempt_->held_body) &&
             context_.envelope_parser.parse(attempt_->held_body).error ==
                 EnvelopeError::kInvalidJson) {
    // Several messages, one per line (not one pretty-printed message): each becomes its own
    // event, as one event of several JSON texts would be no JSON at all. The last one is the
    // answer. Rare (only after an earlier attempt opened the stream), so parsed again here.
    const std::vector<std::string_view> messages = splitMessageLines(attempt_->held_body);
    for (std::size_t i = 0; i + 1 < messages.size(); ++i) {
      client_->sendResponseBody(sseMessageEvent(messages[i]));
    }
    sendJsonAnswer(*client_, attempt_->held_head.status, attempt_->held_head.reason, lines,
                   messages.back());
    answered();
    return;
  }
  sendJsonAnswer(*client_, attempt_->held_head.status, attempt_->held_head.reason, lines,
                 attempt_->held_body);
  answered();
}

void Exchange::onUpstreamFailure(const UpstreamFailure& failure) {
  attempt_->upstream = nullptr;
  context_.metrics.recordUpstreamAttempt(attemptResultOf(failure.kind));
  // A kept-alive connection that died before any response byte was most likely closed by the
  // server as we reused it; it goes again, once, on a new connection, without counting as an
  // attempt. Only a request that is safe to repeat: the same signal also follows a server that
  // ran the request and then crashed (Go's net/http draws the same line).
  if (attempt_->reply == Reply::kPending && failure.reused_connection &&
      !attempt_->resent_on_fresh_connection &&
      failure.kind == UpstreamFailureKind::kResetBeforeResponse && replayable()) {
    attempt_->resent_on_fresh_connection = true;
    // Not an attempt of the policy's (no backoff, no budget), but a retry all the same for
    // whoever counts retries and recoveries.
    context_.metrics.recordRetry(toolLabel(), FailureClass::kUpstream);
    retry_state_->noteFailure(now());
    sendToUpstream(true);
    return;
  }
  if (attempt_->reply == Reply::kSse && downstream_.final_delivered) {
    client_->endResponse();  // the answer is out; the stream merely broke after it
    answered();
    return;
  }
  if (request_.long_lived && attempt_->reply == Reply::kForward) {
    // A listen stream the server (or the way to it) ended: the client sees the end and may
    // listen again; it is no failure of the request, and it was never admitted by a breaker.
    client_->endResponse();
    answered(RequestOutcome::success());
    return;
  }
  if (request_.resumable_stream && client_ != nullptr &&
      (attempt_->reply == Reply::kForward || client_->responseStarted()) && reopenStream()) {
    return;
  }
  if (waitToOpenStream(failure)) {
    return;  // a client's GET, while the upstream restarts
  }
  const Outcome outcome = outcomeOfFailure(failure.kind);
  if (attempt_->reply != Reply::kForward && tryRetry(outcome, std::nullopt)) {
    return;
  }
  attempt_->reply = Reply::kDiscard;
  giveUp(policies::classify(outcome),
         std::string(failureKindName(failure.kind)) + ": " + failure.detail);
}

}  // namespace bulwark
