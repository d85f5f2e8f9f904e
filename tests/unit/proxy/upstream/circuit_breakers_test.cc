// The breaker set of one upstream (the upstream's and one per tool): opening on failures,
// refusing with who refused and until when, tool breakers apart from the upstream's, the probe
// after the upstream is reachable again, reloads, and the metrics it keeps. No loop: time is
// passed in.
#include "proxy/upstream/circuit_breakers.h"

#include <doctest/doctest.h>

#include <string>

#include "tests/support/quiet_logs.h"
#include "proxy/admin/metrics.h"

namespace bulwark {
namespace {

using policies::FailureClass;
using std::chrono::seconds;

RuntimeConfig runtimeWith(int min_requests) {
  config::Config config;
  config.policies.defaults.circuit_breaker.min_requests = min_requests;
  config.policies.defaults.circuit_breaker.failure_ratio = 0.5;
  config.policies.defaults.circuit_breaker.open_for = seconds(5);
  return RuntimeConfig(std::move(config));
}

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

// A sample of `family` with all of `labels` (in whatever order they are printed) and `value`.
bool hasSample(const std::string& text, const std::string& family,
               std::initializer_list<std::string> labels, const std::string& value) {
  std::size_t at = 0;
  while ((at = text.find("\n" + family + "{", at)) != std::string::npos) {
    const std::size_t end = text.find('\n', at + 1);
    const std::string line = text.substr(at + 1, end - at - 1);
    at = end;
    bool all = line.ends_with("} " + value);
    for (const std::string& label : labels) {
      all = all && line.find(label) != std::string::npos;
    }
    if (all) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("circuit breakers: upstream failures open it; it refuses, then probes after open_for") {
  const testing::QuietLogs quiet;
  Metrics metrics;
  CircuitBreakers breakers(metrics);
  const RuntimeConfig runtime = runtimeWith(2);
  breakers.configure(runtime);
  const policies::EffectivePolicy tool_policy = runtime.settings.policies.defaults;
  const auto t0 = policies::Clock::now();

  for (int i = 0; i < 2; ++i) {
    const auto permits = breakers.admit("", tool_policy, t0);
    REQUIRE(permits.allowed);
    breakers.report(permits, "", FailureClass::kUpstream, t0);
  }
  const auto refused = breakers.admit("", tool_policy, t0 + seconds(1));
  CHECK_FALSE(refused.allowed);
  CHECK(refused.refused_by == "upstream");
  CHECK(refused.retry_after == seconds(4));
  const std::string text = metrics.serialize();
  CHECK(hasLine(text, R"(bulwark_circuit_state{target="upstream"} 2)"));
  CHECK(hasSample(text, "bulwark_circuit_transitions_total",
                  {R"(target="upstream")", R"(from="closed")", R"(to="open")"}, "1"));

  // After open_for one probe passes; its success closes the circuit.
  const auto probe = breakers.admit("", tool_policy, t0 + seconds(6));
  CHECK(probe.allowed);
  breakers.report(probe, "", FailureClass::kNone, t0 + seconds(6));
  CHECK(breakers.admit("", tool_policy, t0 + seconds(6)).allowed);
  CHECK(hasLine(metrics.serialize(), R"(bulwark_circuit_state{target="upstream"} 0)"));
}

TEST_CASE("circuit breakers: a tool's breaker opens alone and refuses by the tool's name") {
  const testing::QuietLogs quiet;
  Metrics metrics;
  CircuitBreakers breakers(metrics);
  const RuntimeConfig runtime = runtimeWith(100);  // the upstream's never opens here
  breakers.configure(runtime);
  policies::EffectivePolicy tool_policy = runtime.settings.policies.defaults;
  tool_policy.circuit_breaker.min_requests = 1;
  const auto t0 = policies::Clock::now();

  const auto first = breakers.admit("flaky", tool_policy, t0);
  REQUIRE(first.allowed);
  REQUIRE(first.tool.has_value());
  breakers.report(first, "flaky", FailureClass::kTimeout, t0);
  const auto refused = breakers.admit("flaky", tool_policy, t0);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.refused_by == "flaky");
  CHECK(breakers.admit("other_tool", tool_policy, t0).allowed);
  CHECK(breakers.admit("", tool_policy, t0).allowed);
  // "other" (the folded label) never gets a breaker of its own.
  CHECK_FALSE(breakers.admit("other", tool_policy, t0).tool.has_value());
  CHECK(hasLine(metrics.serialize(), R"(bulwark_circuit_state{target="flaky"} 2)"));

  // A reload rebuilds tool breakers: the tool is allowed again.
  breakers.configure(runtime);
  CHECK(breakers.admit("flaky", tool_policy, t0).allowed);
}

TEST_CASE("circuit breakers: a reachable-again upstream may probe before open_for ends") {
  const testing::QuietLogs quiet;
  Metrics metrics;
  CircuitBreakers breakers(metrics);
  const RuntimeConfig runtime = runtimeWith(1);
  breakers.configure(runtime);
  const policies::EffectivePolicy policy = runtime.settings.policies.defaults;
  const auto t0 = policies::Clock::now();
  const auto permits = breakers.admit("", policy, t0);
  breakers.report(permits, "", FailureClass::kUpstream, t0);
  CHECK_FALSE(breakers.admit("", policy, t0).allowed);
  breakers.upstreamReachableAgain(t0 + seconds(1));
  CHECK(breakers.admit("", policy, t0 + seconds(1)).allowed);
}

TEST_CASE("circuit breakers: answers from a working upstream never open it") {
  const testing::QuietLogs quiet;
  Metrics metrics;
  CircuitBreakers breakers(metrics);
  const RuntimeConfig runtime = runtimeWith(1);
  breakers.configure(runtime);
  const policies::EffectivePolicy policy = runtime.settings.policies.defaults;
  const auto t0 = policies::Clock::now();
  for (FailureClass answer : {FailureClass::kInvalidInput, FailureClass::kPermission,
                              FailureClass::kToolError}) {
    const auto permits = breakers.admit("", policy, t0);
    REQUIRE(permits.allowed);
    breakers.report(permits, "", answer, t0);
  }
  // An abandoned attempt is no evidence either.
  breakers.abandon(breakers.admit("", policy, t0), "");
  CHECK(breakers.admit("", policy, t0).allowed);
}

}  // namespace bulwark
