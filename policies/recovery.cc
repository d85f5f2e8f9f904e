#include "policies/recovery.h"

#include <algorithm>

namespace bulwark::policies {

std::string_view recoveryStrategyName(RecoveryStrategy strategy) {
  switch (strategy) {
  case RecoveryStrategy::kRetry:
    return "retry";
  case RecoveryStrategy::kStaleCache:
    return "stale";
  case RecoveryStrategy::kFallback:
    return "fallback";
  case RecoveryStrategy::kFail:
    return "fail";
  }
  return "fail";
}

std::optional<RecoveryStrategy> parseRecoveryStrategy(std::string_view name) {
  for (RecoveryStrategy s : {RecoveryStrategy::kRetry, RecoveryStrategy::kStaleCache,
                             RecoveryStrategy::kFallback, RecoveryStrategy::kFail}) {
    if (recoveryStrategyName(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

namespace {

std::size_t slot(FailureClass c) { return static_cast<std::size_t>(c); }

} // namespace

RecoveryPlan::RecoveryPlan() {
  using S = RecoveryStrategy;
  for (FailureClass c : kAllFailureClasses) {
    by_class_[slot(c)] = {S::kRetry}; // whatever retry.on allows, as in issue 3
  }
  by_class_[slot(FailureClass::kNone)] = {};
  by_class_[slot(FailureClass::kInvalidInput)] = {};
  by_class_[slot(FailureClass::kPermission)] = {};
  by_class_[slot(FailureClass::kUpstream)] = {S::kRetry, S::kStaleCache, S::kFallback};
  by_class_[slot(FailureClass::kTimeout)] = {S::kRetry, S::kStaleCache};
  by_class_[slot(FailureClass::kOverload)] = {S::kRetry, S::kStaleCache};
  by_class_[slot(FailureClass::kResource)] = {S::kRetry, S::kStaleCache};
  circuit_open_ = {S::kStaleCache, S::kFallback};
}

RecoverySteps RecoveryPlan::normalise(RecoverySteps steps) {
  auto fail = std::find(steps.begin(), steps.end(), RecoveryStrategy::kFail);
  steps.erase(fail, steps.end());
  return steps;
}

std::span<const RecoveryStrategy> RecoveryPlan::stepsFor(FailureClass c) const {
  const std::size_t i = slot(c);
  if (i >= by_class_.size()) {
    return {};
  }
  return by_class_[i];
}

void RecoveryPlan::set(FailureClass c, RecoverySteps steps) {
  const std::size_t i = slot(c);
  if (i < by_class_.size()) {
    by_class_[i] = normalise(std::move(steps));
  }
}

void RecoveryPlan::setCircuitOpen(RecoverySteps steps) {
  circuit_open_ = normalise(std::move(steps));
}

std::string describeSteps(std::span<const RecoveryStrategy> steps) {
  std::string out = "[";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) {
      out += ", ";
    }
    out += recoveryStrategyName(steps[i]);
  }
  out += "]";
  return out;
}

std::string RecoveryPlan::describe() const {
  std::string out;
  for (FailureClass c : kAllFailureClasses) {
    if (c == FailureClass::kNone) {
      continue;
    }
    out += failureClassName(c);
    out += "=";
    out += describeSteps(stepsFor(c));
    out += " ";
  }
  out += "circuit_open=" + describeSteps(circuit_open_);
  return out;
}

RecoveryStrategy chooseRecovery(std::span<const RecoveryStrategy> steps,
                                const RecoveryFacts& facts) {
  for (RecoveryStrategy s : steps) {
    switch (s) {
    case RecoveryStrategy::kRetry:
      if (facts.retry_allowed) {
        return s;
      }
      break;
    case RecoveryStrategy::kStaleCache:
      if (facts.stale_available) {
        return s;
      }
      break;
    case RecoveryStrategy::kFallback:
      if (facts.fallback_available) {
        return s;
      }
      break;
    case RecoveryStrategy::kFail:
      return s;
    }
  }
  return RecoveryStrategy::kFail;
}

bool isValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<std::size_t>(extra)) {
      return false; // truncated sequence
    }
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

} // namespace bulwark::policies
