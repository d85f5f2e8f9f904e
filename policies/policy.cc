#include "policies/policy.h"

#include <sstream>

namespace bulwark::policies {

EffectivePolicy applyOverride(const EffectivePolicy& base, const PolicyOverride& o,
                              std::string origin) {
  EffectivePolicy p = base;
  if (o.timeout) {
    p.timeouts.timeout = *o.timeout;
  }
  if (o.per_try_timeout) {
    p.timeouts.per_try_timeout = *o.per_try_timeout;
  }
  if (o.retry.max_attempts) {
    p.retry.max_attempts = *o.retry.max_attempts;
  }
  if (o.retry.base) {
    p.retry.backoff.base = *o.retry.base;
  }
  if (o.retry.multiplier) {
    p.retry.backoff.multiplier = *o.retry.multiplier;
  }
  if (o.retry.max) {
    p.retry.backoff.max = *o.retry.max;
  }
  if (o.retry.on) {
    p.retry.on = *o.retry.on;
  }
  if (o.idempotent) {
    p.idempotent = o.idempotent;
  }
  p.origin = std::move(origin);
  return p;
}

std::string describePolicy(const EffectivePolicy& p) {
  std::ostringstream out;
  out << "timeout=" << formatDuration(p.timeouts.timeout)
      << " per_try_timeout=" << formatDuration(p.timeouts.per_try_timeout)
      << " max_attempts=" << p.retry.max_attempts
      << " backoff=" << formatDuration(p.retry.backoff.base) << "*" << p.retry.backoff.multiplier
      << "^n<=" << formatDuration(p.retry.backoff.max) << " on=" << p.retry.on.toString()
      << " idempotent=" << (p.idempotent ? (*p.idempotent ? "true" : "false") : "auto")
      << " trust_tool_annotations=" << (p.trust_tool_annotations ? "true" : "false");
  return out.str();
}

} // namespace bulwark::policies
