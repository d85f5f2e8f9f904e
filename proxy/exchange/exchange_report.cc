// The one report of a finished request (its outcome as an enum to the access log, the error log
// line and the metrics), and the exchange's end: timers closed, then the block freed.
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

std::string Exchange::malformedDetail() const {
  const HeaderField* type = findHeader(attempt_->held_head.headers, "content-type");
  if (attempt_->held_body.empty() || type == nullptr || !isJson(attempt_->held_head)) {
    return "upstream answered HTTP " + std::to_string(attempt_->held_head.status) + " with " +
           (type == nullptr ? std::string("no Content-Type") : "Content-Type " + type->value) +
           (attempt_->held_body.empty() ? " and no body" : "") + ", not a JSON-RPC response";
  }
  return "upstream answered HTTP " + std::to_string(attempt_->held_head.status) +
         " with a body that is not a JSON-RPC response to this request (" +
         std::to_string(attempt_->held_body.size()) + " bytes)";
}

std::string Exchange::describeUpstreamAnswer() const {
  if (attempt_->jsonrpc_code) {
    return "upstream answered JSON-RPC error " + std::to_string(*attempt_->jsonrpc_code);
  }
  if (attempt_->upstream_status >= 300) {
    return "upstream answered HTTP " + std::to_string(attempt_->upstream_status);
  }
  return "upstream answered with an error result";
}

void Exchange::logHandledError(FailureClass failure, std::string_view detail) {
  if (!runtime_->settings.monitoring.log_errors) {
    return;
  }
  context_.metrics.recordLogRecord(failure);
  const std::string_view failure_class = policies::failureClassName(failure);
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now() - started_at_).count();
  // Every error line has the upstream's status and JSON-RPC code, null where there is none: no
  // answer came, or the head that did (an SSE stream's 200) is not what failed (a timeout).
  const std::optional<std::int64_t> upstream_status =
      attempt_->upstream_status > 0 && failure != FailureClass::kTimeout
          ? std::optional<std::int64_t>(attempt_->upstream_status)
          : std::nullopt;
  logLine(LogLevel::kWarn, "request failed",
          {{"class", failure_class},
           {"method", context_.metrics.methodLabel(request_.method)},  // as in the metrics
           // Traffic that is not JSON-RPC (a GET stream) says what it was instead.
           LogField::ifNonEmpty("http_method", request_.method.empty()
                                                   ? std::string_view(request_.http_method)
                                                   : std::string_view()),
           LogField::ifNonEmpty("tool", request_.tool),
           LogField::ifNonEmpty("session", SessionRef{request_.session_id}),
           LogField::ifNonEmpty("request_id", request_.id),
           {"attempt", attempts_},
           LogField::orNull("upstream_status", upstream_status),
           LogField::orNull("jsonrpc_code", attempt_->jsonrpc_code),
           {"duration_ms", static_cast<std::int64_t>(duration_ms)},
           LogField::ifNonEmpty("trace_id", traceId()),
           LogField::ifNonEmpty("give_up", report_.give_up_reason),
           // What was tried before giving up; stale and fallback answers are not errors and
           // log "answered from recovery" instead.
           {"recovery", attempts_ > 1 ? "retry" : "none"},
           {"detail", detail}});
}

std::string_view Exchange::traceId() const {
  // W3C traceparent: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", as a JSON string.
  constexpr std::size_t kTraceIdAt = 1 + 3;  // the opening quote, "00-"
  constexpr std::size_t kTraceIdLength = 32;
  if (request_.traceparent_length < kTraceIdAt + kTraceIdLength + 1) {
    return {};
  }
  const std::size_t at = upstream_request_.body_at + request_.traceparent_at + kTraceIdAt;
  if (at + kTraceIdLength > upstream_request_.bytes.size()) {
    return {};
  }
  const std::string_view id = std::string_view(upstream_request_.bytes).substr(at, kTraceIdLength);
  for (const char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return {};  // not a trace id: never log what a client made up in its place
    }
  }
  return id;
}

std::string_view Exchange::toolLabel() const {
  // Only names the upstream listed become label values: a client cannot grow the series.
  if (request_.tool.empty()) {
    return {};
  }
  return context_.tools.knows(request_.tool) ? std::string_view(request_.tool)
                                             : std::string_view("other");
}

void Exchange::answered(RequestOutcome outcome) {
  report_.outcome = outcome;
  answered();
}

void Exchange::answered() {
  client_ = nullptr;
  finish(report_.outcome.value_or(RequestOutcome::success()));
}

void Exchange::finish(RequestOutcome outcome) {
  detachUpstream();
  if (recovery_counts_.waiting_for_session) {
    recovery_counts_.waiting_for_session = false;
    context_.sessions.forget(request_.session_id, *this);
  }
  if (recovery_counts_.holding_session) {
    recovery_counts_.holding_session = false;
    context_.sessions.release(request_.session_id);
  }
  if (waiting_for_hints_) {
    waiting_for_hints_ = false;
    context_.discovery->forget(*this);
  }
  if (waiting_for_shared_cache_) {
    waiting_for_shared_cache_ = false;
    context_.shared_cache->forget(*this);
  }
  stopWaitingForStream();
  if (!attempt_->reported) {
    if (outcome.isCancelled()) {
      attempt_->reported = true;
      context_.breakers.abandon(attempt_->permits, toolLabel());
    } else {
      reportAttempt(outcome.failure());
    }
  }
  const auto now = this->now();
  const double seconds = std::chrono::duration<double>(now - started_at_).count();
  if (runtime_ && runtime_->settings.monitoring.access_log) {
    logLine(LogLevel::kInfo, "request",
            {{"method", context_.metrics.methodLabel(request_.method)}, // as in the metrics
             {"http_method", std::string_view(request_.http_method)},
             LogField::ifNonEmpty("tool", request_.tool), // tools/call only
             LogField::ifNonEmpty("session", SessionRef{request_.session_id}),
             LogField::ifNonEmpty("request_id", request_.id),
             {"outcome", outcomeName(outcome)},
             LogField::ifNonEmpty("cache", report_.cache), // answered from the cache
             LogField::ifSet("upstream_status",
                             attempt_->upstream_status > 0
                                 ? std::optional<std::int64_t>(attempt_->upstream_status)
                                 : std::nullopt),
             {"attempts", attempts_},
             {"duration_ms", static_cast<std::int64_t>(seconds * 1000)}});
  }
  if (outcome.isSuccess() && retry_state_->firstFailureAt()) {
    context_.metrics.recordRecovery(
        recovery_counts_.session_recoveries > 0 ? RecoveredBy::kSession : RecoveredBy::kRetry,
        std::chrono::duration<double>(now - *retry_state_->firstFailureAt()).count());
  }
  context_.metrics.recordRequest(request_.method, toolLabel(), outcome, seconds);
  if (outcome.isFailure()) {
    // Every client-visible error is counted once and logged once, whatever path ended it.
    context_.metrics.recordError(outcome.failure(), toolLabel());
    logHandledError(outcome.failure(),
                    report_.error_detail.empty() ? describeUpstreamAnswer() : report_.error_detail);
  }
  if (finished_flag_ != nullptr) {
    *finished_flag_ = true;
  }
  if (!timers_ready_) {
    if (pending_closes_ == 0) {
      delete this;
    }
    return;  // else a timer that failed half-way is closing: its callback frees the exchange
  }
  // Timers are freed only after libuv is done with them (style rule 6).
  timers_ready_ = false;
  pending_closes_ += 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&attempt_timer_), &Exchange::onTimerClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), &Exchange::onTimerClosed);
}

void Exchange::onTimerClosed(uv_handle_t* handle) {
  auto* self = static_cast<Exchange*>(handle->data);
  if (--self->pending_closes_ == 0) {
    delete self;
  }
}

}  // namespace bulwark
