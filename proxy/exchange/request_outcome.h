// How one proxied request ended: success, cancelled by the client, or a failure class. Kept as
// an enum from the moment it is known to the log line and the metrics (no string round trip).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "policies/failure_class.h"

namespace bulwark {

class RequestOutcome {
public:
  constexpr RequestOutcome() = default;  // not known yet

  static constexpr RequestOutcome success() { return RequestOutcome(Kind::kSuccess, {}); }
  static constexpr RequestOutcome cancelled() { return RequestOutcome(Kind::kCancelled, {}); }
  static constexpr RequestOutcome failed(policies::FailureClass failure) {
    return RequestOutcome(Kind::kFailed, failure);
  }
  // A judged answer: kNone is a success, anything else a failure of that class.
  static constexpr RequestOutcome of(policies::FailureClass failure) {
    return failure == policies::FailureClass::kNone ? success() : failed(failure);
  }

  constexpr bool known() const { return kind_ != Kind::kUnknown; }
  constexpr bool succeeded() const { return kind_ == Kind::kSuccess; }
  constexpr bool isCancelled() const { return kind_ == Kind::kCancelled; }
  constexpr bool isFailure() const { return kind_ == Kind::kFailed; }
  // The class a circuit breaker hears: kNone for success (and for an unknown outcome).
  constexpr policies::FailureClass failureClass() const {
    return kind_ == Kind::kFailed ? failure_ : policies::FailureClass::kNone;
  }
  // The label value: "success", "cancelled" or the failure class's name.
  std::string_view name() const {
    switch (kind_) {
    case Kind::kFailed: return policies::failureClassName(failure_);
    case Kind::kCancelled: return "cancelled";
    case Kind::kUnknown:
    case Kind::kSuccess: break;
    }
    return "success";
  }
  constexpr bool operator==(const RequestOutcome&) const = default;

private:
  enum class Kind : std::uint8_t { kUnknown, kSuccess, kCancelled, kFailed };
  constexpr RequestOutcome(Kind kind, policies::FailureClass failure)
      : kind_(kind), failure_(failure) {}

  Kind kind_ = Kind::kUnknown;
  policies::FailureClass failure_ = policies::FailureClass::kNone;
};

// Everything the one report of a finished request needs beyond the request itself.
struct RequestReport {
  RequestOutcome outcome;      // the final outcome, once known
  std::string give_up_reason;  // why no further attempt was made ("unsafe", "deadline", ...)
  std::string error_detail;    // what went wrong, for the one log line of a failed request
  std::string loop_error;      // a libuv call that failed, named with its error
};

}  // namespace bulwark
