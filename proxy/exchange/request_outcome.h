// One request report: how the request ended (admin/metrics.h's RequestOutcome, an enum-like
// value from judgement to the log line and the metrics, never a string parsed back) and what the
// one log line of a failed request needs beyond the request itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "policies/failure_class.h"
#include "proxy/admin/metrics.h"

namespace bulwark {

// A judged answer: kNone is a success, anything else a failure of that class.
inline RequestOutcome outcomeOf(policies::FailureClass failure) {
  return RequestOutcome::failed(failure);
}

// The outcome as the access log writes it: "success", "cancelled" or the failure class's name.
inline std::string_view outcomeName(const RequestOutcome& outcome) {
  if (outcome.isCancelled()) {
    return "cancelled";
  }
  return outcome.isFailure() ? policies::failureClassName(outcome.failure()) : "success";
}

struct RequestReport {
  std::optional<RequestOutcome> outcome;  // the final outcome, once known
  std::string give_up_reason;  // why no further attempt was made ("unsafe", "deadline", ...)
  std::string error_detail;    // what went wrong, for the one log line of a failed request
  std::string loop_error;      // a libuv call that failed, named with its error
  // Answered from the response cache: "hit" (fresh) or "stale" (bulwark_cache_requests_total's
  // labels), for the access log; empty otherwise.
  std::string_view cache;
};

}  // namespace bulwark
