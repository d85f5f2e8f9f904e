#include "proxy/exchange/exchange.h"

#include <chrono>
#include <new>
#include <vector>

#include "policies/backoff.h"
#include "policies/retry.h"
#include "policies/retry_safety.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
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
      request_bytes_(SparePool<std::string>::take()), held_body_(SparePool<std::string>::take()) {
  // Traffic that is not a JSON-RPC request has no policy: no retries, default timeouts (its
  // retry state only keeps the time of a first failure, e.g. of a re-opened stream).
  static const policies::RetryPolicy kNoRetries{1, {}, {}};
  static const policies::TimeoutPolicy kDefaultTimeouts;
  retry_state_.emplace(kNoRetries, kDefaultTimeouts, started_at_);
  // The upstream parser gets this list's storage back when it hands over the response head.
  held_head_.headers = SparePool<HeaderList>::take();
}

Exchange::~Exchange() {
  SparePool<std::string>::giveBack(std::move(request_bytes_));
  SparePool<std::string>::giveBack(std::move(held_body_));
  SparePool<HeaderList>::giveBack(std::move(held_head_.headers));
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
  auto* self = new Exchange(context, client, request.received_at);
  // The exchange can finish inline (bad input, or uv_tcp_connect refusing at once); then it has
  // answered and is on its way out before start returns.
  bool finished_inline = false;
  self->finished_flag_ = &finished_inline;
  if (self->parseRequest(request)) {
    self->buildUpstreamRequest(request);
    self->beginAttempt();
  }
  if (finished_inline) {
    return nullptr;
  }
  self->finished_flag_ = nullptr;
  return self;
}

bool Exchange::startTimer(uv_timer_t& timer, uv_timer_cb callback, policies::Duration delay) {
  const auto milliseconds = std::max<policies::Duration::rep>(delay.count(), 0);
  if (const int rc = uv_timer_start(&timer, callback, static_cast<std::uint64_t>(milliseconds), 0);
      rc != 0) {
    loop_error_ = "bulwark could not arm a timer: " + uvError("uv_timer_start", rc);
    logLine(LogLevel::kError, loop_error_);
    return false;
  }
  return true;
}

bool Exchange::ensureTimers() {
  if (timers_ready_) {
    return true;
  }
  if (const int rc = uv_timer_init(context_.loop, &attempt_timer_); rc != 0) {
    loop_error_ = "bulwark could not create a timer: " + uvError("uv_timer_init", rc);
    logLine(LogLevel::kError, loop_error_);
    return false;
  }
  if (const int rc = uv_timer_init(context_.loop, &deadline_timer_); rc != 0) {
    loop_error_ = "bulwark could not create a timer: " + uvError("uv_timer_init", rc);
    logLine(LogLevel::kError, loop_error_);
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
  ++attempt_;
  reply_ = Reply::kPending;
  upstream_status_ = 0;
  jsonrpc_code_.reset();
  held_body_.clear();
  observe_json_ = false;
  sse_.reset();
  sse_carry_.clear();
  sse_resumable_ = false;
  resent_on_fresh_connection_ = false;
  held_head_.status = 0;
  held_head_.reason.clear();
  held_head_.content_length.reset();
  held_head_.headers.clear();  // keeps its storage
  if (judged_) {
    permits_ = context_.breakers.admit(toolLabel(), *policy_, now());
    if (!permits_.allowed) {
      --attempt_;  // nothing was attempted
      refusedByBreaker();
      return;
    }
    attempt_reported_ = false;
  }
  if (!armAttemptTimer()) {
    giveUp(FailureClass::kUpstream, loop_error_);
    return;
  }
  sendToUpstream(false);
}

void Exchange::reportAttempt(FailureClass result) {
  if (attempt_reported_) {
    return;
  }
  attempt_reported_ = true;
  context_.breakers.report(permits_, toolLabel(), result, now());
}

bool Exchange::armAttemptTimer() {
  if (!timers_ready_ || policy_ == nullptr) {
    return true;
  }
  return startTimer(attempt_timer_, &Exchange::onAttemptTimer,
                    retry_state_->attemptTimeout(now()).timeout);
}

void Exchange::sendToUpstream(bool fresh_connection) {
  upstream_ = &context_.pool.acquire(fresh_connection);
  upstream_->send(request_bytes_, head_request_, *this);
}

bool Exchange::safeToRepeat(const Outcome& outcome) const {
  policies::RetrySafetyFacts facts;
  facts.may_have_reached_upstream = policies::mayHaveReachedUpstream(outcome);
  facts.method = method_;
  facts.kind = kind_;
  facts.idempotent_override = policy_->idempotent;
  facts.trust_annotations = policy_->trust_tool_annotations;
  if (!tool_.empty()) {
    facts.annotations = context_.tools.annotationsOf(tool_);
  }
  return policies::mayRetry(facts);
}

bool Exchange::replayable() const {
  if (judged_) {
    return safeToRepeat(Outcome::resetBeforeResponse());
  }
  return method_.empty() && (http_method_ == "GET" || http_method_ == "HEAD" ||
                             http_method_ == "OPTIONS");
}

bool Exchange::retryPossible() const {
  return judged_ && attempt_ < policy_->retry.max_attempts && !policy_->retry.on.empty() &&
         safeToRepeat(Outcome::resetBeforeResponse());
}

bool Exchange::tryRetry(const Outcome& outcome, std::optional<policies::Duration> retry_after,
                        bool held_back) {
  const FailureClass failure = policies::classify(outcome);
  if (!judged_ || failure == FailureClass::kNone) {
    return false;
  }
  reportAttempt(failure);
  const auto now = this->now();
  policies::AttemptFailure facts;
  facts.attempt = attempt_;
  facts.failure = failure;
  facts.held_back = held_back;
  facts.safe = held_back || safeToRepeat(outcome);
  facts.may_have_reached_upstream = policies::mayHaveReachedUpstream(outcome);
  facts.upstream_seen_recently = context_.health.reachableWithin(policies::kRestartWindow, now);
  facts.retry_after = retry_after;
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(context_.random);
  const policies::RetryDecision decision =
      retry_state_->onFailure(facts, context_.budget, draw, now);
  if (!decision.retry) {
    give_up_reason_ = policies::giveUpReasonName(decision.reason);
    if (decision.reason == policies::GiveUpReason::kBudgetExhausted) {
      context_.metrics.recordBudgetExhausted();
    }
    return false;
  }
  context_.metrics.recordRetry(toolLabel(), policies::failureClassName(failure));
  logLine(LogLevel::kDebug, "retrying",
          {{"class", policies::failureClassName(failure)},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"request_id", std::string_view(request_id_)},
           {"attempt", attempt_},
           {"delay_ms", static_cast<std::int64_t>(decision.delay.count())}});
  if (!startTimer(attempt_timer_, &Exchange::onAttemptTimer, decision.delay)) {
    give_up_reason_ = "loop_error";
    return false;
  }
  abandonUpstream();
  if (client_ != nullptr) {
    client_->uncork();  // progress already judged deliverable goes out before the backoff
  }
  backing_off_ = true;
  return true;
}

void Exchange::abandonUpstream() {
  reply_ = Reply::kDiscard;
  if (upstream_ != nullptr) {
    // The attempt ends here: it answered (and we refused the answer), or it was cut short
    // (a timeout, the client leaving).
    context_.metrics.recordUpstreamAttempt(upstream_status_ > 0 ? "response" : "abandoned");
    upstream_->abandon();
    upstream_ = nullptr;
  }
}

void Exchange::onAttemptTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->backing_off_) {
    self->beginAttempt();
    return;
  }
  // The per-try timeout: this attempt is over; closing its connection cancels it upstream.
  self->context_.metrics.recordTimeout("per_try");
  const bool committed = self->reply_ == Reply::kForward;
  self->abandonUpstream();
  if (!committed && self->tryRetry(Outcome::perTryTimeout(), std::nullopt)) {
    return;
  }
  self->sendCancelNotification("per-try timeout");
  self->giveUp(FailureClass::kTimeout, "no answer within the per-try timeout");
}

void Exchange::onDeadlineTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->final_delivered_ && self->client_ != nullptr) {
    // The answer is out and only the stream's end is late: end it, do not add a second answer.
    self->abandonUpstream();
    self->client_->endResponse();
    self->client_ = nullptr;
    self->finish(self->outcome_);
    return;
  }
  self->context_.metrics.recordTimeout("deadline");
  const bool attempting = self->upstream_ != nullptr;
  self->abandonUpstream();
  if (attempting) {
    self->sendCancelNotification("deadline exceeded");
  }
  self->give_up_reason_ = "deadline";
  self->giveUp(FailureClass::kTimeout, "no answer within the request deadline");
}

void Exchange::giveUp(FailureClass failure, std::string detail) {
  reportAttempt(failure);
  const std::string_view class_name = policies::failureClassName(failure);
  outcome_ = RequestOutcome::failed(failure);
  if (client_ == nullptr) {
    finish(outcome_);
    return;
  }
  if (const policies::RecoveryStrategy recovery = planRecovery(failure);
      recovery != policies::RecoveryStrategy::kFail) {
    error_detail_ = std::move(detail);
    serveRecovery(recovery, failure);
    return;
  }
  if (client_->responseStarted() && !downstream_sse_) {
    client_->abortResponse();  // the only honest signal once a plain body has started
    client_ = nullptr;
    error_detail_ = std::move(detail);
    finish(outcome_);
    return;
  }
  const ErrorAnswer answer = errorAnswerFor(failure);
  std::string full_message(failure == FailureClass::kUpstream && attempt_ <= 1 &&
                                   detail.starts_with("connect_failed")
                               ? std::string_view("Upstream unreachable")
                               : answer.message);
  full_message += ": ";
  full_message += detail;
  std::string body =
      jsonRpcErrorBody(request_id_, ProxyError{answer.jsonrpc_code, full_message, detail,
                                               class_name, attempt_, give_up_reason_});
  if (client_->responseStarted()) {
    client_->sendResponseBody(sseMessageEvent(body));
    client_->endResponse();
  } else {
    client_->sendSimpleResponse(answer.http_status, "application/json", body);
  }
  client_ = nullptr;
  error_detail_ = std::move(detail);
  finish(outcome_);
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
  const bool attempting = upstream_ != nullptr;
  abandonUpstream();
  if (attempting || backing_off_) {
    outcome_ = RequestOutcome::cancelled();
  }
  finish(outcome_.known() ? outcome_ : RequestOutcome::cancelled());
}

void Exchange::onClientWritable() {
  if (upstream_ != nullptr) {
    upstream_->resumeResponse();
  }
}

}  // namespace bulwark
