#include "proxy/exchange/exchange.h"

#include <chrono>
#include <new>
#include <vector>

#include "policies/backoff.h"
#include "policies/retry.h"
#include "policies/retry_safety.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/downstream_writer.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/exchange/exchange_helpers.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

ClientStream* DataPlaneHandler::handle(Request& request, ClientConnection& connection) {
  return Exchange::start(context_, request, connection);
}

Exchange::Exchange(ProxyContext& context, ClientConnection& client, Clock::time_point received_at)
    : context_(context), runtime_(context.runtime), client_(&client),
      started_at_(context.clock.fromSteady(received_at)),
      upstream_request_{SparePool<std::string>::take(), {}, std::string::npos, 0, {}} {
  // Traffic that is not a JSON-RPC request has no policy: no retries, default timeouts (its
  // retry state only keeps the time of a first failure, e.g. of a re-opened stream).
  static const policies::RetryPolicy kNoRetries{1, {}, {}};
  static const policies::TimeoutPolicy kDefaultTimeouts;
  static const policies::RestartWaitParams kDefaultRestartWait;
  retry_state_.emplace(kNoRetries, kDefaultTimeouts, kDefaultRestartWait, started_at_);
  attempt_.emplace();  // the first attempt's; a retry gets a fresh one
}

Exchange::~Exchange() {
  SparePool<std::string>::giveBack(std::move(upstream_request_.bytes));
}

namespace {

// Freed exchange blocks, kept for the next request (bounded; one loop thread). Under
// AddressSanitizer none are kept, so that a use after free still shows.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kMaxFreeExchangeBlocks = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::size_t kMaxFreeExchangeBlocks = 0;
#else
constexpr std::size_t kMaxFreeExchangeBlocks = 256;
#endif
#else
constexpr std::size_t kMaxFreeExchangeBlocks = 256;
#endif

std::vector<void*>& freeExchangeBlocks() {
  thread_local struct Blocks {
    std::vector<void*> free;
    ~Blocks() {
      for (void* block : free) {
        ::operator delete(block);
      }
    }
  } blocks;
  return blocks.free;
}

}  // namespace

void* Exchange::operator new(std::size_t size) {
  std::vector<void*>& blocks = freeExchangeBlocks();
  if (size == sizeof(Exchange) && !blocks.empty()) {
    void* block = blocks.back();
    blocks.pop_back();
    return block;
  }
  return ::operator new(size);
}

void Exchange::operator delete(void* block, std::size_t size) {
  std::vector<void*>& blocks = freeExchangeBlocks();
  if (size == sizeof(Exchange) && blocks.size() < kMaxFreeExchangeBlocks) {
    blocks.push_back(block);
    return;
  }
  ::operator delete(block);
}

ClientStream* Exchange::start(ProxyContext& context, Request& request, ClientConnection& client) {
  if (BufferBudget::process().exhausted()) {
    // Every proxied request needs buffers (its copy for retries, an answer, a window): none is
    // admitted until what is buffered drains below limits.max_buffered_bytes.
    refuseOverBudget(context, client);
    return nullptr;
  }
  auto* self = new Exchange(context, client, request.received_at);
  // The exchange can finish inline (bad input, or uv_tcp_connect refusing at once); then it has
  // answered and is on its way out before start returns.
  bool finished_inline = false;
  self->finished_flag_ = &finished_inline;
  if (self->parseRequest(request)) {
    self->buildUpstreamRequest(request);
    // Without shared_state (or a key secret) nothing more than this test per request.
    if (context.shared_cache == nullptr || !self->askSharedCache()) {
      self->beginAttempt();
    }
  }
  if (finished_inline) {
    return nullptr;
  }
  self->finished_flag_ = nullptr;
  return self;
}

bool Exchange::startTimer(uv_timer_t& timer, uv_timer_cb callback, policies::Duration delay) {
  if (!timers_ready_) {
    report_.loop_error = "bulwark has no timers for this request";
    return false;
  }
  const auto milliseconds = std::max<policies::Duration::rep>(delay.count(), 0);
  if (const int rc = uv_timer_start(&timer, callback, static_cast<std::uint64_t>(milliseconds), 0);
      rc != 0) {
    report_.loop_error = "bulwark could not arm a timer: " + uvError("uv_timer_start", rc);
    logLine(LogLevel::kError, report_.loop_error);
    return false;
  }
  return true;
}

bool Exchange::ensureTimers() {
  if (timers_ready_) {
    return true;
  }
  if (const int rc = uv_timer_init(context_.loop, &attempt_timer_); rc != 0) {
    report_.loop_error = "bulwark could not create a timer: " + uvError("uv_timer_init", rc);
    logLine(LogLevel::kError, report_.loop_error);
    return false;
  }
  if (const int rc = uv_timer_init(context_.loop, &deadline_timer_); rc != 0) {
    report_.loop_error = "bulwark could not create a timer: " + uvError("uv_timer_init", rc);
    logLine(LogLevel::kError, report_.loop_error);
    // The first timer is initialised: it is closed and the exchange freed in its callback.
    attempt_timer_.data = this;
    ++pending_closes_;
    uv_close(reinterpret_cast<uv_handle_t*>(&attempt_timer_), &Exchange::onTimerClosed);
    return false;
  }
  attempt_timer_.data = this;
  deadline_timer_.data = this;
  timers_ready_ = true;
  return true;
}

void Exchange::beginAttempt() {
  backing_off_ = false;
  useCurrentUpstreamSession();
  ++attempts_;
  if (attempt_->started) {
    detachUpstream();
    attempt_.emplace();  // nothing of the previous attempt carries over
  }
  attempt_->started = true;
  if (request_.judged) {
    attempt_->permits = context_.breakers.admit(toolLabel(), *policy_, now());
    if (!attempt_->permits.allowed) {
      --attempts_;  // nothing was attempted
      refusedByBreaker();
      return;
    }
    attempt_->reported = false;
  }
  if (!armAttemptTimer()) {
    giveUp(FailureClass::kUpstream, report_.loop_error);
    return;
  }
  sendToUpstream(false);
}

void Exchange::reportAttempt(FailureClass result) {
  if (attempt_->reported) {
    return;
  }
  attempt_->reported = true;
  context_.breakers.report(attempt_->permits, toolLabel(), result, now());
}

bool Exchange::armAttemptTimer() {
  // A long-lived stream (subscriptions/listen) is never cut by `per_try_timeout`.
  if (!timers_ready_ || policy_ == nullptr || request_.long_lived) {
    return true;
  }
  return startTimer(attempt_timer_, &Exchange::onAttemptTimer,
                    retry_state_->attemptTimeout(now()).timeout);
}

void Exchange::sendToUpstream(bool fresh_connection) {
  detachUpstream();
  attempt_->upstream = &context_.pool.acquire(fresh_connection);
  attempt_->upstream->send(upstream_request_.bytes, request_.head_request, *this);
}

bool Exchange::safeToRepeat(const Outcome& outcome) const {
  policies::RetrySafetyFacts facts;
  // An answer that proves the request never ran (429, 503: never_ran_statuses) is like a refused
  // connection: sending it again repeats nothing.
  facts.may_have_reached_upstream = !policies::neverRan(outcome, runtime_->settings.never_ran);
  facts.method = request_.method;
  facts.kind = request_.kind;
  facts.idempotent_override = policy_->idempotent;
  facts.trust_annotations = policy_->trust_tool_annotations;
  if (!request_.tool.empty()) {
    facts.annotations = context_.tools.annotationsOf(request_.tool);
  }
  return policies::mayRetry(facts);
}

bool Exchange::replayable() const {
  if (request_.judged) {
    return safeToRepeat(Outcome::resetBeforeResponse());
  }
  return request_.method.empty() &&
         (request_.http_method == "GET" || request_.http_method == "HEAD" ||
          request_.http_method == "OPTIONS");
}

bool Exchange::retryPossible() const {
  return request_.judged && attempts_ < policy_->retry.max_attempts && !policy_->retry.on.empty() &&
         safeToRepeat(Outcome::resetBeforeResponse());
}

bool Exchange::tryRetry(const Outcome& outcome, std::optional<policies::Duration> retry_after,
                        bool held_back) {
  const FailureClass failure = policies::classify(outcome);
  if (!request_.judged || failure == FailureClass::kNone) {
    return false;
  }
  reportAttempt(failure);
  const auto now = this->now();
  policies::AttemptFailure facts;
  facts.attempt = attempts_;
  facts.failure = failure;
  facts.held_back = held_back;
  facts.safe = held_back || safeToRepeat(outcome);
  if (!facts.safe && waitForHints(outcome, retry_after)) {
    return true;  // decided again once the tool is listed
  }
  facts.may_have_reached_upstream = policies::mayHaveReachedUpstream(outcome);
  facts.connection_lost = outcome.kind == policies::OutcomeKind::kResetBeforeResponse;
  facts.probe_failing = context_.health.failing();
  if (const auto since_up = context_.health.sinceReachable(now)) {
    facts.since_seen_up = std::chrono::duration_cast<policies::Duration>(*since_up);
  }
  // Only worth the cache lookup when the upstream looks unreachable (see decideUnreachable).
  if (held_back || !facts.may_have_reached_upstream || facts.connection_lost ||
      facts.probe_failing) {
    facts.recovery_available =
        planRecovery(failure, held_back) != policies::RecoveryStrategy::kFail;
  }
  facts.retry_after = retry_after;
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(context_.random);
  const policies::RetryDecision decision =
      retry_state_->onFailure(facts, context_.budget, draw, now);
  // --log-level debug: each failed attempt and what was decided about it.
  logLine(LogLevel::kDebug,
          decision.retry ? "attempt failed; retrying" : "attempt failed; giving up",
          {{"class", policies::failureClassName(failure)},
           {"method", context_.metrics.methodLabel(request_.method)},
           LogField::ifNonEmpty("tool", request_.tool),
           LogField::ifNonEmpty("session", SessionRef{request_.session_id}),
           LogField::ifNonEmpty("request_id", request_.id),
           {"attempt", attempts_},
           decision.retry
               ? LogField("delay_ms", static_cast<std::int64_t>(decision.delay.count()))
               : LogField("give_up", policies::giveUpReasonName(decision.reason))});
  if (!decision.retry) {
    report_.give_up_reason = policies::giveUpReasonName(decision.reason);
    if (decision.reason == policies::GiveUpReason::kBudgetExhausted) {
      context_.metrics.recordBudgetExhausted();
    }
    return false;
  }
  context_.metrics.recordRetry(toolLabel(), failure);
  if (!startTimer(attempt_timer_, &Exchange::onAttemptTimer, decision.delay)) {
    report_.give_up_reason = "loop_error";
    return false;
  }
  abandonUpstream();
  if (client_ != nullptr) {
    client_->uncork();  // progress already judged deliverable goes out before the backoff
  }
  backing_off_ = true;
  return true;
}

void Exchange::detachUpstream() {
  // A connection must never outlive its attempt still pointing at this exchange: its late
  // answer or failure would reach the next attempt (or a freed exchange). Every path abandons
  // it before moving on; this is the backstop where attempts are replaced and the exchange ends.
  if (attempt_->upstream != nullptr) {
    context_.metrics.recordUpstreamAttempt(UpstreamAttemptResult::kAbandoned);
    attempt_->upstream->abandon();
    attempt_->upstream = nullptr;
  }
}

void Exchange::abandonUpstream() {
  attempt_->reply = Reply::kDiscard;
  if (attempt_->upstream != nullptr) {
    // The attempt ends here: it answered (and we refused the answer), or it was cut short
    // (a timeout, the client leaving).
    context_.metrics.recordUpstreamAttempt(attempt_->upstream_status > 0
                                               ? UpstreamAttemptResult::kResponse
                                               : UpstreamAttemptResult::kAbandoned);
    attempt_->upstream->abandon();
    attempt_->upstream = nullptr;
  }
}

void Exchange::onAttemptTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->waiting_for_hints_ || self->waiting_for_shared_cache_) {
    return; // nothing in flight and nothing decided: only their answer moves the request on
  }
  if (self->backing_off_) {
    self->stopWaitingForStream();
    self->beginAttempt();
    return;
  }
  // The per-try timeout: this attempt is over; closing its connection cancels it upstream.
  self->context_.metrics.recordTimeout(policies::TimeoutKind::kPerTry);
  const bool committed = self->attempt_->reply == Reply::kForward;
  self->abandonUpstream();
  if (!committed && self->tryRetry(Outcome::perTryTimeout(), std::nullopt)) {
    return;
  }
  self->sendCancelNotification("per-try timeout");
  self->giveUp(FailureClass::kTimeout, "no answer within the per-try timeout");
}

void Exchange::onDeadlineTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->downstream_.final_delivered && self->client_ != nullptr) {
    // The answer is out and only the stream's end is late: end it, do not add a second answer.
    self->abandonUpstream();
    self->client_->endResponse();
    self->answered();
    return;
  }
  self->context_.metrics.recordTimeout(policies::TimeoutKind::kDeadline);
  const bool attempting = self->attempt_->upstream != nullptr;
  self->abandonUpstream();
  if (attempting) {
    self->sendCancelNotification("deadline exceeded");
  }
  self->report_.give_up_reason = "deadline";
  self->giveUp(FailureClass::kTimeout, "no answer within the request deadline");
}

void Exchange::giveUp(FailureClass failure, std::string detail) {
  reportAttempt(failure);
  const std::string_view class_name = policies::failureClassName(failure);
  report_.outcome = RequestOutcome::failed(failure);
  if (client_ == nullptr) {
    finish(report_.outcome.value_or(RequestOutcome::success()));
    return;
  }
  if (const policies::RecoveryStrategy recovery = planRecovery(failure);
      recovery != policies::RecoveryStrategy::kFail) {
    report_.error_detail = std::move(detail);
    serveRecovery(recovery, failure);
    return;
  }
  if (client_->responseStarted() && !downstream_.sse) {
    client_->abortResponse();  // the only honest signal once a plain body has started
    report_.error_detail = std::move(detail);
    answered();
    return;
  }
  const ErrorAnswer answer = errorAnswerFor(failure);
  std::string full_message(failure == FailureClass::kUpstream && attempts_ <= 1 &&
                                   detail.starts_with("connect_failed")
                               ? std::string_view("Upstream unreachable")
                               : answer.message);
  full_message += ": ";
  full_message += detail;
  std::string body =
      jsonRpcErrorBody(request_.id, ProxyError{answer.jsonrpc_code, full_message, detail,
                                               class_name, attempts_, report_.give_up_reason});
  sendErrorAnswer(*client_, answer, body);
  report_.error_detail = std::move(detail);
  answered();
}


bool Exchange::scheduleAttempt(policies::Duration delay) {
  if (!startTimer(attempt_timer_, &Exchange::onAttemptTimer, delay)) {
    return false;
  }
  backing_off_ = true;
  return true;
}

void Exchange::onClientGone() {
  client_ = nullptr;
  const bool attempting = attempt_->upstream != nullptr;
  abandonUpstream();
  if (attempting || backing_off_) {
    report_.outcome = RequestOutcome::cancelled();
  }
  finish(report_.outcome.value_or(RequestOutcome::cancelled()));
}

void Exchange::onClientWritable() {
  if (attempt_->upstream != nullptr) {
    attempt_->upstream->resumeResponse();
  }
}

}  // namespace bulwark
