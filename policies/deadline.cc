#include "policies/deadline.h"

#include <algorithm>

namespace bulwark::policies {

std::string_view timeoutKindName(TimeoutKind kind) {
  switch (kind) {
  case TimeoutKind::kPerTry:
    return "per_try";
  case TimeoutKind::kDeadline:
    return "deadline";
  }
  return "unknown";
}

AttemptTimeout attemptTimeout(Duration per_try, Duration remaining) {
  remaining = std::max(remaining, Duration{0});
  if (per_try < remaining) {
    return {std::max(per_try, Duration{0}), TimeoutKind::kPerTry};
  }
  return {remaining, TimeoutKind::kDeadline};
}

Duration Deadline::remaining(TimePoint now) const {
  if (now >= at_) {
    return Duration{0};
  }
  return std::chrono::ceil<Duration>(at_ - now);
}

} // namespace bulwark::policies
