// A retry decision about a tool Bulwark does not know (issue #14): rather than give up as
// "unsafe", the exchange waits (within its deadline) for a listing of the upstream's tools, by
// discovery or with this caller's own credentials and session, and then decides again.
#include "proxy/exchange/exchange.h"

#include "proxy/shared/shared_catalog.h"

namespace bulwark {

using policies::FailureClass;

bool Exchange::waitForHints(const policies::Outcome& outcome,
                            std::optional<policies::Duration> retry_after) {
  if (hints_asked_ || context_.discovery == nullptr || request_.method != "tools/call" ||
      request_.tool.empty() || policy_->idempotent.has_value() ||
      !policy_->trust_tool_annotations || attempts_ >= policy_->retry.max_attempts ||
      !policy_->retry.on.contains(policies::classify(outcome)) ||
      context_.tools.knows(request_.tool)) {
    return false;
  }
  hints_asked_ = true;
  if (context_.shared_catalog != nullptr) {
    context_.shared_catalog->load();  // another replica may know it; answers before the listing
  }
  const CallerCredentials caller{request_.authorization, upstream_request_.session_id,
                                 request_.protocol_version};
  if (!context_.discovery->awaitHints(caller, *this)) {
    return false;  // listed since the last change: the tool is unknown to the upstream too
  }
  waiting_for_hints_ = true;
  // The failed attempt's per-try timer must not fire into the wait: onAttemptTimer would take
  // it for the end of a backoff and send the request again before anything was decided.
  if (timers_ready_) {
    uv_timer_stop(&attempt_timer_);
  }
  hints_outcome_ = outcome;
  hints_retry_after_ = retry_after;
  abandonUpstream();
  if (client_ != nullptr) {
    client_->uncork();
  }
  backing_off_ = true;  // nothing in flight: the deadline or the client's leaving ends the wait
  return true;
}

void Exchange::onHintsListed() {
  waiting_for_hints_ = false;
  backing_off_ = false;
  if (tryRetry(hints_outcome_, hints_retry_after_)) {
    return;
  }
  const FailureClass failure = policies::classify(hints_outcome_);
  giveUp(failure, std::string(policies::outcomeKindName(hints_outcome_.kind)) +
                      " and the tool's annotations, listed just now, do not allow a retry");
}

}  // namespace bulwark
