#include "config/config.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;
using namespace std::chrono_literals;
using policies::FailureClass;

namespace {

// The block from issue 3, verbatim.
constexpr const char* kIssueExample = R"(listen: 127.0.0.1:8080
admin: 127.0.0.1:9090
upstream: {url: http://127.0.0.1:3000/mcp, connect_timeout: 1s}
defaults:
  timeout: 30s            # overall deadline of one client request, all attempts included
  per_try_timeout: 10s
  retry:
    max_attempts: 3
    backoff: {base: 1s, multiplier: 2, max: 10s}   # full jitter
    on: [upstream, timeout, overload]
    budget: {ratio: 0.2, min_per_second: 10}
    restart_wait: {max: 1500ms, window: 30s}   # refused connections of a restarting upstream
tools:
  - match: get_weather    # exact name or glob ("search_*"); the most specific match wins
    idempotent: true      # overrides the tool's annotations
    timeout: 5s
    retry: {max_attempts: 5, backoff: {base: 50ms, max: 500ms}}
methods:
  resources/read: {retry: {max_attempts: 4}}
)";


} // namespace

TEST_CASE("the issue's example loads exactly as written") {
  const config::Config c = mustLoad(kIssueExample);
  CHECK(c.source == "test.yaml");
  CHECK(c.listen.text() == "127.0.0.1:8080");
  CHECK(c.admin.text() == "127.0.0.1:9090");
  REQUIRE(c.upstream.url.has_value());
  CHECK(c.upstream.url->text == "http://127.0.0.1:3000/mcp");
  CHECK(c.upstream.connect_timeout == 1s);
  const policies::EffectivePolicy& d = c.policies.defaults;
  CHECK(d.timeouts.timeout == 30s);
  CHECK(d.timeouts.per_try_timeout == 10s);
  CHECK(d.retry.max_attempts == 3);
  CHECK(d.retry.backoff.base == 1s);
  CHECK(d.retry.backoff.multiplier == doctest::Approx(2.0));
  CHECK(d.retry.backoff.max == 10s);
  CHECK(d.retry.on == policies::FailureClassSet{FailureClass::kUpstream, FailureClass::kTimeout,
                                                FailureClass::kOverload});
  CHECK(c.retry_budget.ratio == doctest::Approx(0.2));
  CHECK(c.retry_budget.min_per_second == doctest::Approx(10));
  CHECK(c.restart_wait.max == 1500ms);
  CHECK(c.restart_wait.window == 30s);
  REQUIRE(c.policies.tools.size() == 1);
  CHECK(c.policies.tools[0].match == "get_weather");
  REQUIRE(c.policies.methods.size() == 1);
  CHECK(c.policies.methods[0].method == "resources/read");

  const policies::PolicyTable table = config::buildPolicyTable(c);
  const policies::EffectivePolicy& w = table.policyFor("tools/call", "get_weather");
  CHECK(w.timeouts.timeout == 5s);
  CHECK(w.timeouts.per_try_timeout == 10s); // inherited
  CHECK(w.retry.max_attempts == 5);
  CHECK(w.retry.backoff.base == 50ms);
  CHECK(w.retry.backoff.multiplier == doctest::Approx(2.0)); // inherited
  CHECK(w.retry.backoff.max == 500ms);
  REQUIRE(w.idempotent.has_value());
  CHECK(*w.idempotent);
  const policies::EffectivePolicy& other = table.policyFor("tools/call", "send_mail");
  CHECK(other.retry.max_attempts == 3);
  CHECK_FALSE(other.idempotent.has_value());
  CHECK(table.policyFor("resources/read").retry.max_attempts == 4);
  CHECK(table.policyFor("resources/read").timeouts.timeout == 30s);
  CHECK(table.policyFor("tools/list").retry.max_attempts == 3);
}

TEST_CASE("the seed's error_handling block maps onto the defaults") {
  const config::Config c =
      mustLoad("error_handling: {max_retries: 3, retry_delay: 1, fallback_enabled: true, "
               "timeout_seconds: 30}\n");
  CHECK(c.policies.defaults.retry.max_attempts == 4); // max_retries + 1
  CHECK(c.policies.defaults.retry.backoff.base == 1s);
  CHECK(c.policies.defaults.timeouts.timeout == 30s);
  CHECK(c.fallback_enabled);
  CHECK_FALSE(c.upstream.url.has_value());
}

TEST_CASE("seed values: other numbers and units") {
  const config::Config c =
      mustLoad("error_handling: {max_retries: 0, retry_delay: 0.25, fallback_enabled: false, "
               "timeout_seconds: 12}\n");
  CHECK(c.policies.defaults.retry.max_attempts == 1);
  CHECK(c.policies.defaults.retry.backoff.base == 250ms);
  CHECK(c.policies.defaults.timeouts.timeout == 12s);
  CHECK_FALSE(c.fallback_enabled);
  // The design sketch writes retry_delay with a unit; both forms work.
  CHECK(mustLoad("error_handling: {retry_delay: 1s}").policies.defaults.retry.backoff.base == 1s);
}

TEST_CASE("defaults win over error_handling where both set something") {
  const config::Config c = mustLoad(R"(
error_handling: {max_retries: 5, retry_delay: 2, timeout_seconds: 20}
defaults:
  retry: {max_attempts: 2}
  timeout: 45s
)");
  CHECK(c.policies.defaults.retry.max_attempts == 2);  // defaults
  CHECK(c.policies.defaults.timeouts.timeout == 45s);  // defaults
  CHECK(c.policies.defaults.retry.backoff.base == 2s); // seed only
}

TEST_CASE("a seed retry_delay above the built-in cap raises the cap") {
  const config::Config c = mustLoad("error_handling: {retry_delay: 20}\n");
  CHECK(c.policies.defaults.retry.backoff.base == 20s);
  CHECK(c.policies.defaults.retry.backoff.max == 20s);
}

TEST_CASE("an empty document gives the built-in defaults") {
  const config::Config c = mustLoad("");
  CHECK(c.listen.text() == "127.0.0.1:8080");
  CHECK(c.admin.text() == "127.0.0.1:9901");
  CHECK_FALSE(c.upstream.url.has_value());
  CHECK(c.upstream.connect_timeout == 1s);
  const auto& d = c.policies.defaults;
  CHECK(d.timeouts.timeout == 30s);
  CHECK(d.timeouts.per_try_timeout == 10s);
  CHECK(d.retry.max_attempts == 3);
  CHECK(d.retry.backoff.base == 1s);
  CHECK(d.retry.backoff.max == 10s);
  CHECK(d.retry.on == policies::kDefaultRetryOn);
  CHECK(d.trust_tool_annotations);
  CHECK(c.retry_budget.ratio == doctest::Approx(0.5));
  CHECK(c.retry_budget.min_per_second == doctest::Approx(10));
  CHECK(c.retry_budget.window == 10s);
  CHECK(c.restart_wait == policies::RestartWaitParams{});
  // Issue 4: configured fallbacks are used unless error_handling.fallback_enabled says false
  // (issue 3 only stored the flag, defaulting to false).
  CHECK(c.fallback_enabled);
  CHECK(c.cache_max_bytes == 64u * 1024 * 1024);
  CHECK(c.monitoring.log_errors);
  CHECK(c.monitoring.alert_error_rate == doctest::Approx(0.05));
  CHECK(c.monitoring.alert_recovery_time == 5s);
  CHECK(c.policies.tools.empty());
  CHECK(c.policies.methods.empty());
}

TEST_CASE("empty sections are accepted") {
  const config::Config c = mustLoad("defaults:\ntools:\nmethods:\nupstream:\n");
  CHECK(c.policies.defaults.retry.max_attempts == 3);
  CHECK(c.policies.tools.empty());
}

TEST_CASE("the annotated example file loads") {
  config::ConfigLoadResult r =
      config::loadConfigFile(BULWARK_SOURCE_DIR "/config/bulwark.example.yaml");
  INFO(r.errorText());
  REQUIRE(r.ok());
  const config::Config& c = *r.config;
  CHECK(c.source == BULWARK_SOURCE_DIR "/config/bulwark.example.yaml");
  CHECK(c.retry_budget.ratio == doctest::Approx(0.5));
  CHECK(c.retry_budget.window == 10s);
  CHECK(c.policies.tools.size() == 3);
  CHECK(c.policies.methods.size() == 2);
  CHECK(c.monitoring.log_errors);
  const policies::PolicyTable table = config::buildPolicyTable(c);
  CHECK(table.policyFor("tools/call", "get_weather").retry.max_attempts == 5);
  CHECK(table.policyFor("tools/call", "search_web").timeouts.per_try_timeout == 3s);
  CHECK(table.policyFor("tools/call", "search_web").retry.on.contains(FailureClass::kToolError));
  const auto& del = table.policyFor("tools/call", "delete_user");
  REQUIRE(del.idempotent.has_value());
  CHECK_FALSE(*del.idempotent);
  CHECK(del.retry.max_attempts == 1);
  CHECK(table.policyFor("tools/list").timeouts.timeout == 5s);
}

TEST_CASE("layering: methods.tools/call sits between defaults and tool rules") {
  const config::Config c = mustLoad(R"(
defaults: {per_try_timeout: 10s}
methods:
  tools/call: {per_try_timeout: 4s, retry: {backoff: {max: 2s}}}
tools:
  - {match: "fast_*", retry: {backoff: {base: 100ms}}}
)");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  const auto& fast = table.policyFor("tools/call", "fast_lookup");
  CHECK(fast.timeouts.per_try_timeout == 4s);
  CHECK(fast.retry.backoff.max == 2s);
  CHECK(fast.retry.backoff.base == 100ms);
  CHECK(table.policyFor("tools/call", "slow").retry.backoff.base == 1s);
  CHECK(table.policyFor("tools/call", "slow").timeouts.per_try_timeout == 4s);
  CHECK(table.policyFor("prompts/get").timeouts.per_try_timeout == 10s);
}

TEST_CASE("values that look odd but are allowed") {
  const config::Config c = mustLoad(R"(
listen: "[::1]:0"
admin: localhost:9090
defaults:
  timeout: 5s
  per_try_timeout: 1m        # longer than the deadline: the deadline bounds each attempt
  trust_tool_annotations: false
  retry:
    backoff: {base: 0s, max: 0s}   # immediate retries
    on: []                         # never retry
    budget: {ratio: 2, min_per_second: 0, window: 1s}
monitoring: {log_errors: false, alert_threshold: {error_rate: 0.01, recovery_time: 1}}
)");
  CHECK(c.listen.text() == "[::1]:0");
  CHECK(c.admin.text() == "localhost:9090");
  CHECK(c.policies.defaults.timeouts.per_try_timeout == 1min);
  CHECK_FALSE(c.policies.defaults.trust_tool_annotations);
  CHECK(c.policies.defaults.retry.on.empty());
  CHECK(c.policies.defaults.retry.backoff.max == 0s);
  CHECK(c.retry_budget.ratio == doctest::Approx(2.0));
  CHECK(c.retry_budget.window == 1s);
  CHECK_FALSE(c.monitoring.log_errors);
  CHECK(c.monitoring.alert_error_rate == doctest::Approx(0.01));
  CHECK(c.monitoring.alert_recovery_time == 1s);
  // trust_tool_annotations reaches every resolved policy
  const policies::PolicyTable table = config::buildPolicyTable(c);
  CHECK_FALSE(table.policyFor("tools/call", "x").trust_tool_annotations);
}

TEST_CASE("describeConfig summarises addresses, budget and every policy") {
  const config::Config c = mustLoad(kIssueExample);
  const std::string text = config::describeConfig(c);
  CHECK(text.find("listen: 127.0.0.1:8080\n") != std::string::npos);
  CHECK(text.find("upstream: http://127.0.0.1:3000/mcp connect_timeout=1s\n") != std::string::npos);
  CHECK(text.find("retry budget: ratio=0.2 min_per_second=10 window=10s\n") != std::string::npos);
  CHECK(text.find("restart wait: max=1.5s window=30s\n") != std::string::npos);
  CHECK(text.find("tool get_weather (tools[0] get_weather): timeout=5s per_try_timeout=10s "
                  "max_attempts=5 backoff=uniform[0,min(500ms,50ms*2^(n-1))]") !=
        std::string::npos);
  CHECK(text.find("method resources/read (methods.resources/read): timeout=30s") !=
        std::string::npos);
}

TEST_CASE("monitoring.access_log and monitoring.max_tool_labels") {
  const auto defaults = config::loadConfigString("listen: 127.0.0.1:1\n", "m.yaml");
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults.config->monitoring.access_log);
  CHECK(defaults.config->monitoring.max_tool_labels == 100);

  const auto set = config::loadConfigString(
      "monitoring: {access_log: true, max_tool_labels: 7, log_errors: false}\n", "m.yaml");
  REQUIRE(set.ok());
  CHECK(set.config->monitoring.access_log);
  CHECK(set.config->monitoring.max_tool_labels == 7);
  CHECK_FALSE(set.config->monitoring.log_errors);

  const auto bad = config::loadConfigString(
      "monitoring:\n  max_tool_labels: -3\n  access_log: maybe\n", "m.yaml");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].toString().starts_with("m.yaml:2:20: monitoring.max_tool_labels: "));
  CHECK(bad.errors[1].toString().starts_with("m.yaml:3:15: monitoring.access_log: "));
}
