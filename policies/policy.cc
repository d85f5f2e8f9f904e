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

  if (o.cache.ttl) {
    p.cache.ttl = *o.cache.ttl;
  }
  if (o.cache.stale_if_error) {
    p.cache.stale_if_error = *o.cache.stale_if_error;
  }
  if (o.cache.scope) {
    p.cache.scope = *o.cache.scope;
  }
  if (o.cache.enabled) {
    p.cache.enabled = *o.cache.enabled;
  } else if (o.cache.ttl || o.cache.stale_if_error) {
    p.cache.enabled = true;
  }

  if (o.fallback_off) {
    p.fallback.reset();
  } else if (o.fallback) {
    p.fallback = o.fallback;
  }

  const CircuitBreakerOverride& cb = o.circuit_breaker;
  if (cb.enabled) {
    p.circuit_breaker.enabled = *cb.enabled;
  }
  if (cb.failure_ratio) {
    p.circuit_breaker.failure_ratio = *cb.failure_ratio;
  }
  if (cb.min_requests) {
    p.circuit_breaker.min_requests = *cb.min_requests;
  }
  if (cb.window) {
    p.circuit_breaker.window = *cb.window;
  }
  if (cb.open_for) {
    p.circuit_breaker.open_for = *cb.open_for;
  }
  if (cb.half_open_probes) {
    p.circuit_breaker.half_open_probes = *cb.half_open_probes;
  }
  if (cb.on) {
    p.circuit_breaker.on = *cb.on;
  }
  p.origin = std::move(origin);
  return p;
}

std::string describePolicy(const EffectivePolicy& p) {
  std::ostringstream out;
  out << "timeout=" << formatDuration(p.timeouts.timeout)
      << " per_try_timeout=" << formatDuration(p.timeouts.per_try_timeout)
      << " max_attempts=" << p.retry.max_attempts
      // The delay before retry n (n = 1 before the second attempt), as backoffDelay() draws it
      // and config/README.md states it; a longer Retry-After is waited instead.
      << " backoff=uniform[0,min(" << formatDuration(p.retry.backoff.max) << ","
      << formatDuration(p.retry.backoff.base) << "*" << p.retry.backoff.multiplier
      << "^(n-1))] on=" << p.retry.on.toString()
      << " idempotent=" << (p.idempotent ? (*p.idempotent ? "true" : "false") : "auto")
      << " trust_tool_annotations=" << (p.trust_tool_annotations ? "true" : "false");
  out << " cache=";
  if (p.cache.enabled) {
    out << "ttl:" << formatDuration(p.cache.ttl)
        << ",stale_if_error:" << formatDuration(p.cache.stale_if_error)
        << ",scope:" << cacheScopeName(p.cache.scope);
  } else {
    out << "off";
  }
  out << " fallback=";
  if (!p.fallback) {
    out << "none";
  } else {
    out << (p.fallback->kind == FallbackSpec::Kind::kText ? "text" : "result");
  }
  const CircuitBreakerParams& cb = p.circuit_breaker;
  out << " circuit_breaker=";
  if (cb.enabled) {
    out << "failure_ratio:" << cb.failure_ratio << ",min_requests:" << cb.min_requests
        << ",window:" << formatDuration(cb.window) << ",open_for:" << formatDuration(cb.open_for)
        << ",half_open_probes:" << cb.half_open_probes << ",on:" << cb.on.toString();
  } else {
    out << "off";
  }
  return out.str();
}

} // namespace bulwark::policies
