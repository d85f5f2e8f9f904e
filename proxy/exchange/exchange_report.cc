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
  const HeaderField* type = findHeader(held_head_.headers, "content-type");
  if (held_body_.empty() || type == nullptr || !isJson(held_head_)) {
    return "upstream answered HTTP " + std::to_string(held_head_.status) + " with " +
           (type == nullptr ? std::string("no Content-Type") : "Content-Type " + type->value) +
           (held_body_.empty() ? " and no body" : "") + ", not a JSON-RPC response";
  }
  return "upstream answered HTTP " + std::to_string(held_head_.status) +
         " with a body that is not a JSON-RPC response to this request (" +
         std::to_string(held_body_.size()) + " bytes)";
}

std::string Exchange::describeUpstreamAnswer() const {
  if (jsonrpc_code_) {
    return "upstream answered JSON-RPC error " + std::to_string(*jsonrpc_code_);
  }
  if (upstream_status_ >= 300) {
    return "upstream answered HTTP " + std::to_string(upstream_status_);
  }
  return "upstream answered with an error result";
}

void Exchange::logHandledError(std::string_view failure_class, std::string_view detail) {
  if (!runtime_->settings.monitoring.log_errors) {
    return;
  }
  context_.metrics.recordLogRecord(failure_class);
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now() - started_at_).count();
  logLine(LogLevel::kWarn, "request failed",
          {{"class", failure_class},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"session", std::string_view(session_id_)},
           {"request_id", std::string_view(request_id_)},
           {"attempt", attempt_},
           {"upstream_status", upstream_status_},
           {"jsonrpc_code", jsonrpc_code_ ? static_cast<std::int64_t>(*jsonrpc_code_) : 0},
           {"duration_ms", static_cast<std::int64_t>(duration_ms)},
           {"give_up", std::string_view(give_up_reason_)},
           // What was tried before giving up; stale and fallback answers are not errors and
           // log "answered from recovery" instead.
           {"recovery", attempt_ > 1 ? "retry" : "none"},
           {"detail", detail}});
}

std::string_view Exchange::toolLabel() const {
  // Only names the upstream listed become label values: a client cannot grow the series.
  if (tool_.empty()) {
    return {};
  }
  return context_.tools.knows(tool_) ? std::string_view(tool_) : std::string_view("other");
}

void Exchange::finish(RequestOutcome outcome) {
  if (waiting_for_session_) {
    waiting_for_session_ = false;
    context_.sessions.forget(session_id_, *this);
  }
  if (!attempt_reported_) {
    if (outcome.isCancelled()) {
      attempt_reported_ = true;
      context_.breakers.abandon(permits_, toolLabel());
    } else {
      reportAttempt(outcome.failureClass());
    }
  }
  const auto now = this->now();
  const double seconds = std::chrono::duration<double>(now - started_at_).count();
  if (runtime_ && runtime_->settings.monitoring.access_log) {
    logLine(LogLevel::kInfo, "request",
            {{"method", std::string_view(method_)},
             {"http_method", std::string_view(http_method_)},
             {"tool", std::string_view(tool_)},
             {"session", std::string_view(session_id_)},
             {"request_id", std::string_view(request_id_)},
             {"outcome", outcome.name()},
             {"upstream_status", upstream_status_},
             {"attempts", attempt_},
             {"duration_ms", static_cast<std::int64_t>(seconds * 1000)}});
  }
  if (!outcome.isFailure() && !outcome.isCancelled() && retry_state_->firstFailureAt()) {
    context_.metrics.recordRecovery(
        session_recoveries_ > 0 ? "session" : "retry",
        std::chrono::duration<double>(now - *retry_state_->firstFailureAt()).count());
  }
  context_.metrics.recordRequest(method_, toolLabel(), outcome.name(), seconds);
  if (outcome.isFailure()) {
    // Every client-visible error is counted once and logged once, whatever path ended it.
    context_.metrics.recordError(outcome.name(), toolLabel());
    logHandledError(outcome.name(), error_detail_.empty() ? describeUpstreamAnswer() : error_detail_);
  }
  if (finished_flag_ != nullptr) {
    *finished_flag_ = true;
  }
  if (!timers_ready_) {
    delete this;
    return;
  }
  // Timers are freed only after libuv is done with them (style rule 6).
  timers_ready_ = false;
  pending_closes_ = 2;
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
