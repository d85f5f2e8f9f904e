#include "proxy/upstream/circuit_breakers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"

namespace bulwark {

CircuitBreakers::CircuitBreakers(Metrics& metrics) : metrics_(metrics) {}

void CircuitBreakers::configure(const RuntimeConfig& runtime) {
  const policies::CircuitBreakerParams& params =
      runtime.settings.policies.defaults.circuit_breaker;
  if (!(params == upstream_.params())) {
    upstream_ = policies::CircuitBreaker(params);
  }
  // Both families are exposed from the start (a family without series is not), at their
  // present values.
  metrics_.setCircuitState("upstream", upstream_.state(policies::Clock::now()));
  metrics_.recordCircuitTransition("upstream", policies::CircuitState::kClosed,
                                   policies::CircuitState::kOpen, 0);
  // Tool breakers are rebuilt lazily with the new parameters.
  tools_.clear();
}

CircuitBreakers::Permits CircuitBreakers::admit(std::string_view tool,
                                                const policies::EffectivePolicy& tool_policy,
                                                policies::TimePoint now) {
  Permits permits;
  permits.upstream = upstream_.allow(now);
  note("upstream", permits.upstream.transition);
  if (!permits.upstream.allowed) {
    permits.allowed = false;
    permits.retry_after = permits.upstream.retry_after;
    permits.refused_by = "upstream";
    return permits;
  }
  if (tool.empty() || tool == "other") {
    return permits;
  }
  auto found = tools_.find(std::string(tool));
  if (found == tools_.end()) {
    if (tools_.size() >= kMaxToolBreakers) {
      return permits;
    }
    found = tools_.emplace(std::string(tool), policies::CircuitBreaker(tool_policy.circuit_breaker))
                .first;
  }
  permits.tool = found->second.allow(now);
  note(found->first, permits.tool->transition);
  if (!permits.tool->allowed) {
    upstream_.onAbandoned(permits.upstream);  // the upstream was not asked: nothing to count
    permits.allowed = false;
    permits.retry_after = permits.tool->retry_after;
    permits.refused_by = found->first;
  }
  return permits;
}

void CircuitBreakers::report(const Permits& permits, std::string_view tool,
                             policies::FailureClass result, policies::TimePoint now) {
  if (!permits.allowed) {
    return;
  }
  note("upstream", upstream_.onResult(now, permits.upstream, result));
  if (permits.tool) {
    if (const auto found = tools_.find(std::string(tool)); found != tools_.end()) {
      note(found->first, found->second.onResult(now, *permits.tool, result));
    }
  }
}

void CircuitBreakers::abandon(const Permits& permits, std::string_view tool) {
  if (!permits.allowed) {
    return;
  }
  upstream_.onAbandoned(permits.upstream);
  if (permits.tool) {
    if (const auto found = tools_.find(std::string(tool)); found != tools_.end()) {
      found->second.onAbandoned(*permits.tool);
    }
  }
}

void CircuitBreakers::refresh(policies::TimePoint now) {
  note("upstream", upstream_.refresh(now));
  for (auto& [name, breaker] : tools_) {
    note(name, breaker.refresh(now));
  }
}

void CircuitBreakers::note(std::string_view target,
                           const std::optional<policies::CircuitTransition>& change) {
  if (!change) {
    return;
  }
  metrics_.recordCircuitTransition(target, change->from, change->to);
  metrics_.setCircuitState(target, change->to);
  logLine(change->to == policies::CircuitState::kOpen ? LogLevel::kWarn : LogLevel::kInfo,
          "circuit breaker changed state",
          {{"target", target},
           {"from", policies::circuitStateName(change->from)},
           {"to", policies::circuitStateName(change->to)}});
}

}  // namespace bulwark
