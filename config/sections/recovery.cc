// `defaults.recovery`: the recovery order per failure class (policies::RecoveryPlan).
#include "config/sections/sections.h"
#include "policies/failure_class.h"

#include <algorithm>
#include <map>

namespace bulwark::config {

using policies::FailureClass;

void readRecovery(Reader& reader, const Field& f, policies::RecoveryPlan& out) {
  if (f.empty()) {
    return;
  }
  if (!f.value.IsMap()) {
    reader.error(f.valueLoc(), f.path,
                 "expected a mapping of failure classes to strategy lists, e.g. {upstream: [retry, "
                 "stale, fallback]}, got " +
                     describeKind(f.value));
    return;
  }
  std::map<std::string, Loc> seen;
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    Field entry{it->first, it->second, f.path, f.fallback};
    if (!entry.key.IsScalar()) {
      reader.error(entry.keyLoc(), f.path,
                   "keys must be plain names, got " + describeKind(entry.key));
      continue;
    }
    const std::string name = entry.key.Scalar();
    entry.path = joinPath(f.path, name);
    if (auto [prev, inserted] = seen.emplace(name, entry.keyLoc()); !inserted) {
      reader.error(entry.keyLoc(), entry.path,
                   "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
      continue;
    }
    const bool circuit_open = name == "circuit_open";
    const std::optional<FailureClass> cls = policies::parseFailureClass(name);
    if (!circuit_open && (!cls || *cls == FailureClass::kNone)) {
      std::string message = "unknown key " + quoted(name) + " (a failure class:";
      for (FailureClass known : policies::kAllFailureClasses) {
        if (known != FailureClass::kNone) {
          message += " " + std::string(policies::failureClassName(known));
        }
      }
      reader.error(entry.keyLoc(), entry.path, message + "; or circuit_open)");
      continue;
    }
    if (!entry.empty() && !entry.value.IsSequence()) {
      reader.error(entry.valueLoc(), entry.path,
                   "expected a list of strategies (retry, stale, fallback, fail), got " +
                       describeKind(entry.value));
      continue;
    }
    policies::RecoverySteps steps;
    bool ok = true;
    bool failed = false;
    for (const Field& e : reader.elements(entry, "strategies")) {
      auto word = reader.scalar(e, "a strategy");
      if (!word) {
        ok = false;
        continue;
      }
      auto s = policies::parseRecoveryStrategy(*word);
      if (!s) {
        reader.error(e.valueLoc(), e.path,
                     "unknown strategy " + quoted(*word) + " (one of: retry stale fallback fail)");
        ok = false;
        continue;
      }
      if (failed) {
        reader.error(e.valueLoc(), e.path,
                     quoted(*word) + " after fail is never reached: fail ends the list");
        ok = false;
        continue;
      }
      if (std::find(steps.begin(), steps.end(), *s) != steps.end()) {
        reader.error(e.valueLoc(), e.path, quoted(*word) + " is listed twice");
        ok = false;
        continue;
      }
      if (*s == policies::RecoveryStrategy::kFail) {
        failed = true;
      } else if (cls &&
                 (*cls == FailureClass::kInvalidInput || *cls == FailureClass::kPermission)) {
        reader.error(e.valueLoc(), e.path,
                     quoted(name) + " answers go to the client as they are: only fail is allowed");
        ok = false;
        continue;
      } else if (circuit_open && *s == policies::RecoveryStrategy::kRetry) {
        reader.error(e.valueLoc(), e.path,
                     "an open circuit refuses every attempt: retry cannot help here (use stale, "
                     "fallback, fail)");
        ok = false;
        continue;
      }
      steps.push_back(*s);
    }
    if (!ok) {
      continue;
    }
    if (circuit_open) {
      out.setCircuitOpen(std::move(steps));
    } else {
      out.set(*cls, std::move(steps));
    }
  }
}

} // namespace bulwark::config
