#include "policies/retry_safety.h"

#include <algorithm>
#include <array>

namespace bulwark::policies {

bool isSafeMethod(std::string_view method) {
  static constexpr std::array<std::string_view, 16> kSafe = {"initialize",
                                                             "ping",
                                                             "server/discover",
                                                             "tools/list",
                                                             "resources/list",
                                                             "resources/templates/list",
                                                             "resources/read",
                                                             "resources/subscribe",
                                                             "resources/unsubscribe",
                                                             "prompts/list",
                                                             "prompts/get",
                                                             "completion/complete",
                                                             "logging/setLevel",
                                                             "tasks/get",
                                                             "tasks/list",
                                                             "tasks/result"};
  return std::find(kSafe.begin(), kSafe.end(), method) != kSafe.end();
}

RetrySafety assessRetrySafety(const RetrySafetyFacts& f) {
  if (!f.may_have_reached_upstream) {
    return RetrySafety::kNeverSent;
  }
  if (f.kind != MessageKind::kRequest) {
    return RetrySafety::kOneWay;
  }
  if (f.idempotent_override.has_value()) {
    return *f.idempotent_override ? RetrySafety::kIdempotentPolicy
                                  : RetrySafety::kNotIdempotentPolicy;
  }
  if (f.method == "tools/call") {
    const bool hinted = f.annotations.read_only_hint.value_or(false) ||
                        f.annotations.idempotent_hint.value_or(false);
    return hinted && f.trust_annotations ? RetrySafety::kAnnotated
                                         : RetrySafety::kUnknownSideEffects;
  }
  return isSafeMethod(f.method) ? RetrySafety::kSafeMethod : RetrySafety::kUnknownSideEffects;
}

bool isSafe(RetrySafety verdict) {
  switch (verdict) {
  case RetrySafety::kNeverSent:
  case RetrySafety::kIdempotentPolicy:
  case RetrySafety::kAnnotated:
  case RetrySafety::kSafeMethod:
    return true;
  case RetrySafety::kOneWay:
  case RetrySafety::kNotIdempotentPolicy:
  case RetrySafety::kUnknownSideEffects:
    return false;
  }
  return false;
}

bool mayRetry(const RetrySafetyFacts& facts) { return isSafe(assessRetrySafety(facts)); }

std::string_view retrySafetyName(RetrySafety verdict) {
  switch (verdict) {
  case RetrySafety::kNeverSent:
    return "never_sent";
  case RetrySafety::kIdempotentPolicy:
    return "idempotent_policy";
  case RetrySafety::kAnnotated:
    return "annotated";
  case RetrySafety::kSafeMethod:
    return "safe_method";
  case RetrySafety::kOneWay:
    return "one_way";
  case RetrySafety::kNotIdempotentPolicy:
    return "not_idempotent_policy";
  case RetrySafety::kUnknownSideEffects:
    return "unknown_side_effects";
  }
  return "unknown";
}

} // namespace bulwark::policies
