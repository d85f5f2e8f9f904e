// The breakers of one upstream: one for the upstream as a whole and one per listed tool, with
// their state exported as metrics. Decisions are policies::CircuitBreaker's; this keeps the set,
// follows reloads, and counts transitions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policies/circuit_breaker.h"
#include "policies/policy.h"
#include "proxy/app/runtime_config.h"

namespace bulwark {

class Metrics;

class CircuitBreakers {
public:
  explicit CircuitBreakers(Metrics& metrics);
  CircuitBreakers(const CircuitBreakers&) = delete;
  CircuitBreakers& operator=(const CircuitBreakers&) = delete;

  // On start and on every reload: breakers whose parameters changed start afresh.
  void configure(const RuntimeConfig& runtime);

  // The permits of one attempt: the upstream's, and the tool's when `tool` names a listed tool.
  struct Permits {
    policies::CircuitPermit upstream;
    std::optional<policies::CircuitPermit> tool;
    bool allowed = true;
    policies::Duration retry_after{0};  // when refused: until a request may pass
    std::string_view refused_by;        // "upstream" or the tool's name
  };
  Permits admit(std::string_view tool, const policies::EffectivePolicy& tool_policy,
                policies::TimePoint now);
  void report(const Permits& permits, std::string_view tool, policies::FailureClass result,
              policies::TimePoint now);
  void abandon(const Permits& permits, std::string_view tool);

  // The health check connected to the upstream again: its open circuit may probe at once.
  void upstreamReachableAgain(policies::TimePoint now) { note("upstream", upstream_.probeNow(now)); }

  // Time-driven transitions (open -> half_open), so the gauges are exact at scrape time.
  void refresh(policies::TimePoint now);

private:
  void note(std::string_view target, const std::optional<policies::CircuitTransition>& change);

  Metrics& metrics_;
  policies::CircuitBreaker upstream_;
  std::unordered_map<std::string, policies::CircuitBreaker> tools_;
  // Bounded like the tool label set: a breaker exists only for tools the upstream listed.
  static constexpr std::size_t kMaxToolBreakers = 256;
};

}  // namespace bulwark
