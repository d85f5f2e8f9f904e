// One attempt's upstream response: forwarded, held and judged (JSON), or streamed event by
// event with its final answer judged (SSE); and what a transport failure means.
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

void Exchange::onUpstreamHead(HttpHead& head) {
  upstream_status_ = head.status;
  if (sessionMayBeLost(head)) {
    if (head.status == 404) {
      recoverSession();
      return;
    }
    reply_ = Reply::kSessionCheck;  // a 400 names the session in its body, or is a plain 400
    held_head_ = std::move(head);
    return;
  }
  trackSession(head);
  if (!judged_) {
    if (client_->responseStarted()) {
      // A re-opened GET stream: the client has had its head; events go on where they stopped.
      if (head.status >= 200 && head.status < 300 && isEventStream(head)) {
        reply_ = Reply::kForward;
        sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
        return;
      }
      abandonUpstream();
      if (!reopenStream()) {
        client_->endResponse();
        client_ = nullptr;
        finish(RequestOutcome::failed(FailureClass::kUpstream));
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
    const Outcome outcome = Outcome::httpStatus(head.status, !session_id_.empty(),
                                                retry_after.has_value(), false);
    if (reply_ != Reply::kForward && tryRetry(outcome, retry_after)) {
      return;
    }
    outcome_ = RequestOutcome::of(policies::classify(outcome));
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
      downstream_sse_ = true;
    }
    reply_ = Reply::kSse;
    sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
    return;
  }
  // A JSON answer is judged whole before the client sees any of it, so a truncated or garbled
  // one becomes a retry or a clear error rather than broken JSON at the client. Anything that
  // is neither JSON nor SSE is no answer to a JSON-RPC request: held too, it judges malformed.
  reply_ = Reply::kHoldJson;
  held_head_ = std::move(head);
}

void Exchange::forwardHead(const HttpHead& head) {
  reply_ = Reply::kForward;
  std::string lines;
  lines.reserve(512);
  appendClientHeaders(lines, head.headers);
  BodyFraming framing = BodyFraming::kStreamed;
  std::uint64_t length = 0;
  if (head_request_ || head.status == 204 || head.status == 304) {
    framing = BodyFraming::kNone;
    if (head.content_length && head_request_) {
      lines += "Content-Length: " + std::to_string(*head.content_length) + "\r\n";
    }
  } else if (head.content_length) {
    framing = BodyFraming::kContentLength;
    length = *head.content_length;
  }
  // Observe what passes, to learn the outcome and the tools' hints.
  if (resumable_stream_ && head.status >= 200 && head.status < 300 && isEventStream(head)) {
    sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
  } else if (!request_id_.empty() || method_ == "batch") {
    if (isEventStream(head)) {
      sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
    } else if (isJson(head)) {
      observe_json_ = true;
    }
  }
  client_->sendResponseHead(head.status, head.reason, lines, framing, length);
}

void Exchange::onUpstreamReadDone() {
  if (client_ != nullptr) {
    client_->uncork();
  }
}

void Exchange::onUpstreamBody(std::string_view bytes) {
  if (client_ != nullptr) {
    client_->cork();  // until onUpstreamReadDone or the end of the response
  }
  switch (reply_) {
  case Reply::kForward:
    if (resumable_stream_ && sse_) {
      forwardWholeEvents(bytes);
      break;
    }
    if (sse_) {
      sse_->feed(bytes, [this](const SseEvent& event) {
        if (!event.data.empty()) {
          observe(event.data);
        }
      });
    } else if (observe_json_) {
      if (held_body_.size() + bytes.size() <= context_.max_observed_body_bytes) {
        held_body_.append(bytes);
      } else {
        observe_json_ = false;  // too large to observe; forwarded all the same
        held_body_.clear();
      }
    }
    client_->sendResponseBody(bytes);
    break;
  case Reply::kHoldJson:
    if (held_body_.size() + bytes.size() > context_.max_observed_body_bytes) {
      // Too large to judge: it can only be delivered as it is.
      if (!client_->responseStarted()) {
        forwardHead(held_head_);
        client_->sendResponseBody(held_body_);
        client_->sendResponseBody(bytes);
        held_body_.clear();
        return;
      }
      abandonUpstream();
      giveUp(FailureClass::kProtocol, "upstream reply larger than the inspection limit");
      return;
    }
    held_body_.append(bytes);
    return;
  case Reply::kSse:
    feedSse(bytes);
    break;
  case Reply::kSessionCheck:
    held_body_.append(bytes.substr(0, kMaxSessionCheckBytes - std::min(held_body_.size(),
                                                                        kMaxSessionCheckBytes)));
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
  if (client_ != nullptr && client_->congested() && upstream_ != nullptr) {
    upstream_->pauseResponse();
  }
}

void Exchange::feedSse(std::string_view bytes) {
  std::size_t forwarded = 0;  // bytes of this chunk already sent or judged
  sse_->feed(bytes, [&](const SseEvent& event) {
    if (reply_ != Reply::kSse) {
      return;  // a retry or give-up started inside this feed
    }
    const std::size_t end = sse_->dispatchOffset();
    sse_resumable_ = sse_resumable_ || (event.id.has_value() && !event.id->empty());
    Outcome outcome;
    const bool is_final = !final_delivered_ && !event.data.empty() && judgeFinal(event.data, outcome);
    if (is_final && tryRetry(outcome, std::nullopt)) {
      return;
    }
    // Progress, notifications and server-to-client requests go out as they come; so does the
    // final answer once judged deliverable.
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
      sse_carry_.clear();
    }
    client_->sendResponseBody(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    if (is_final) {
      final_delivered_ = true;
      outcome_ = RequestOutcome::of(policies::classify(outcome));
      if (timers_ready_) {
        uv_timer_stop(&attempt_timer_);
      }
    } else if (!final_delivered_) {
      // Progress from the upstream restarts the per-try clock.
      if (!armAttemptTimer()) {
        abandonUpstream();
        giveUp(FailureClass::kUpstream, loop_error_);
      }
    }
  });
  if (reply_ != Reply::kSse || forwarded == bytes.size()) {
    return;
  }
  if (sse_->overflowed() > 0) {
    // An event too large to inspect (most often the answer itself): it cannot be judged, only
    // delivered. Everything from here on streams through as it is, and the request counts as
    // answered.
    commitOversizedEvent(bytes.substr(forwarded));
    return;
  }
  sse_carry_.append(bytes.substr(forwarded));
}

void Exchange::commitOversizedEvent(std::string_view rest_of_chunk) {
  reply_ = Reply::kForward;
  if (!sse_carry_.empty()) {
    client_->sendResponseBody(sse_carry_);
    sse_carry_.clear();
  }
  client_->sendResponseBody(rest_of_chunk);
  if (!final_delivered_) {
    final_delivered_ = true;
    outcome_ = RequestOutcome::success();  // delivered whole as far as Bulwark can tell
    if (timers_ready_) {
      uv_timer_stop(&attempt_timer_);
    }
  }
}

bool Exchange::judgeFinal(std::string_view json, Outcome& outcome) {
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    return false;  // not ours to judge; it passes through
  }
  for (const Envelope& message : parsed.parsed.messages) {
    if (message.id != request_id_ ||
        (message.kind != MessageKind::kResult && message.kind != MessageKind::kError)) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      jsonrpc_code_ = message.error_code;
      outcome = Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)));
    } else {
      outcome = message.is_error ? Outcome::toolError() : Outcome::success();
      if (!message.is_error && cacheable_) {
        storeInCache(json);
      }
    }
    return true;
  }
  return false;
}

void Exchange::observe(std::string_view json) {
  if (outcome_.known()) {
    return;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    outcome_ = RequestOutcome::failed(FailureClass::kProtocol);
    return;
  }
  for (const Envelope& message : parsed.parsed.messages) {
    if (method_ != "batch" && message.id != request_id_) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      jsonrpc_code_ = message.error_code;
      outcome_ = RequestOutcome::of(policies::classify(
          Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)))));
      return;
    }
    if (message.kind == MessageKind::kResult && method_ != "batch") {
      outcome_ = message.is_error ? RequestOutcome::failed(FailureClass::kToolError)
                                  : RequestOutcome::success();
      return;
    }
  }
}

void Exchange::onUpstreamComplete() {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt("response");
  switch (reply_) {
  case Reply::kForward:
    if (observe_json_ && !held_body_.empty()) {
      observe(held_body_);
    }
    if (!outcome_.known() || upstream_status_ >= 400) {
      outcome_ = RequestOutcome::of(policies::classify(
          upstream_status_ >= 300 ? Outcome::httpStatus(upstream_status_, !session_id_.empty())
                                  : Outcome::success()));
    }
    client_->endResponse();
    client_ = nullptr;
    finish(outcome_);
    return;
  case Reply::kHoldJson: {
    Outcome outcome;
    // The body decides, not its label: a JSON-RPC answer under a sloppy Content-Type is still
    // the answer; garbage or truncated JSON under application/json is not.
    const bool answered = judgeFinal(held_body_, outcome);
    if (!answered) {
      outcome = Outcome::malformedReply();
    }
    if (tryRetry(outcome, std::nullopt)) {
      return;
    }
    outcome_ = RequestOutcome::of(policies::classify(outcome));
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
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
    }
    if (!final_delivered_ && !sse_resumable_) {
      // The stream ended without an answer, and without an event id a client could resume
      // from: the answer is lost, as if the connection had broken.
      const Outcome lost = Outcome::resetAfterPartialResponse();
      if (tryRetry(lost, std::nullopt)) {
        return;
      }
      giveUp(policies::classify(lost), "the upstream ended its SSE stream without an answer");
      return;
    }
    if (!outcome_.known()) {
      // In 2025-11-25 a server may close the stream and let the client resume on a GET with
      // Last-Event-ID, so the ending passes through as it is.
      outcome_ = RequestOutcome::success();
    }
    client_->endResponse();
    client_ = nullptr;
    finish(outcome_);
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
}

void Exchange::deliverHeldJson() {
  if (!client_->responseStarted()) {
    std::string lines;
    appendClientHeaders(lines, held_head_.headers);
    client_->sendResponseHead(held_head_.status, held_head_.reason, lines,
                              BodyFraming::kContentLength, held_body_.size());
    client_->sendResponseBody(held_body_);
  } else if (!held_body_.empty()) {
    // An earlier attempt opened an SSE stream: this attempt's JSON answer becomes its last event.
    client_->sendResponseBody(sseMessageEvent(held_body_));
  }
  client_->endResponse();
  client_ = nullptr;
  finish(outcome_);
}

void Exchange::onUpstreamFailure(const UpstreamFailure& failure) {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt(failureKindName(failure.kind));
  // A kept-alive connection that died before any response byte was most likely closed by the
  // server as we reused it; it goes again, once, on a new connection, without counting as an
  // attempt. Only a request that is safe to repeat: the same signal also follows a server that
  // ran the request and then crashed (Go's net/http draws the same line).
  if (reply_ == Reply::kPending && failure.reused_connection && !resent_on_fresh_connection_ &&
      failure.kind == UpstreamFailureKind::kResetBeforeResponse && replayable()) {
    resent_on_fresh_connection_ = true;
    // Not an attempt of the policy's (no backoff, no budget), but a retry all the same for
    // whoever counts retries and recoveries.
    context_.metrics.recordRetry(toolLabel(), "upstream");
    retry_state_->noteFailure(now());
    sendToUpstream(true);
    return;
  }
  if (reply_ == Reply::kSse && final_delivered_) {
    client_->endResponse();  // the answer is out; the stream merely broke after it
    client_ = nullptr;
    finish(outcome_);
    return;
  }
  if (resumable_stream_ && client_ != nullptr && (reply_ == Reply::kForward || client_->responseStarted()) &&
      reopenStream()) {
    return;
  }
  const Outcome outcome = outcomeOfFailure(failure.kind);
  if (reply_ != Reply::kForward && tryRetry(outcome, std::nullopt)) {
    return;
  }
  reply_ = Reply::kDiscard;
  giveUp(policies::classify(outcome),
         std::string(failureKindName(failure.kind)) + ": " + failure.detail);
}

}  // namespace bulwark
