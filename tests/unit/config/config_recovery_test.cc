// Issue 4's keys: cache, fallback, circuit_breaker, recovery, the global cache budget and the
// seed's fallback_enabled.
#include "config/config.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;
using namespace std::chrono_literals;
using policies::CacheScope;
using policies::FailureClass;
using S = policies::RecoveryStrategy;

namespace {


std::vector<S> steps(std::span<const S> s) { return {s.begin(), s.end()}; }

// The keys as issue 4 writes them.
constexpr const char* kIssueKeys = R"(cache: {max_bytes: 64MiB}
error_handling: {fallback_enabled: false}
defaults:
  cache: {ttl: 60s, stale_if_error: 1h, scope: caller}
  circuit_breaker: {failure_ratio: 0.5, min_requests: 20, window: 10s, open_for: 5s, half_open_probes: 1}
  recovery: {upstream: [retry, stale, fallback], timeout: [retry], resource: [stale]}
tools:
  - match: get_weather
    cache: {ttl: 60s, stale_if_error: 1h, scope: caller}
    fallback: {text: "Weather is unavailable right now"}
  - match: get_forecast
    fallback: {result: {content: [{type: text, text: "No forecast"}], isError: false}}
    circuit_breaker: {failure_ratio: 0.25, min_requests: 5, window: 30s, open_for: 1m, half_open_probes: 2}
methods:
  tools/list: {cache: {ttl: 5m, stale_if_error: 24h, scope: shared}}
  tools/call: {circuit_breaker: {min_requests: 10}}
)";

} // namespace

TEST_CASE("issue 4's keys load as written") {
  const config::Config c = mustLoad(kIssueKeys);
  CHECK(c.cache_max_bytes == 64u * 1024 * 1024);
  CHECK_FALSE(c.fallback_enabled);

  const policies::EffectivePolicy& d = c.policies.defaults;
  CHECK(d.cache.enabled);
  CHECK(d.cache.ttl == 60s);
  CHECK(d.cache.stale_if_error == 1h);
  CHECK(d.cache.scope == CacheScope::kCaller);
  CHECK(d.circuit_breaker.enabled);
  CHECK(d.circuit_breaker.failure_ratio == doctest::Approx(0.5));
  CHECK(d.circuit_breaker.min_requests == 20);
  CHECK(d.circuit_breaker.window == 10s);
  CHECK(d.circuit_breaker.open_for == 5s);
  CHECK(d.circuit_breaker.half_open_probes == 1);
  CHECK_FALSE(d.fallback.has_value());

  CHECK(steps(c.recovery.stepsFor(FailureClass::kUpstream)) ==
        std::vector<S>{S::kRetry, S::kStaleCache, S::kFallback});
  CHECK(steps(c.recovery.stepsFor(FailureClass::kTimeout)) == std::vector<S>{S::kRetry});
  CHECK(steps(c.recovery.stepsFor(FailureClass::kResource)) == std::vector<S>{S::kStaleCache});
  // Classes not written keep their defaults.
  CHECK(steps(c.recovery.stepsFor(FailureClass::kOverload)) ==
        std::vector<S>{S::kRetry, S::kStaleCache});
  CHECK(steps(c.recovery.stepsWhenCircuitOpen()) == std::vector<S>{S::kStaleCache, S::kFallback});

  const policies::PolicyTable table = config::buildPolicyTable(c);
  const policies::EffectivePolicy& weather = table.policyFor("tools/call", "get_weather");
  CHECK(weather.cache.enabled);
  CHECK(weather.cache.ttl == 60s);
  CHECK(weather.cache.stale_if_error == 1h);
  REQUIRE(weather.fallback.has_value());
  CHECK(weather.fallback->kind == policies::FallbackSpec::Kind::kText);
  CHECK(weather.fallback->text == "Weather is unavailable right now");
  CHECK(weather.circuit_breaker.min_requests == 10); // methods.tools/call
  CHECK(weather.circuit_breaker.failure_ratio == doctest::Approx(0.5));

  const policies::EffectivePolicy& forecast = table.policyFor("tools/call", "get_forecast");
  REQUIRE(forecast.fallback.has_value());
  CHECK(forecast.fallback->kind == policies::FallbackSpec::Kind::kResult);
  CHECK(forecast.fallback->result_json ==
        R"({"content":[{"type":"text","text":"No forecast"}],"isError":false})");
  CHECK(forecast.circuit_breaker.failure_ratio == doctest::Approx(0.25));
  CHECK(forecast.circuit_breaker.min_requests == 5);
  CHECK(forecast.circuit_breaker.window == 30s);
  CHECK(forecast.circuit_breaker.open_for == 1min);
  CHECK(forecast.circuit_breaker.half_open_probes == 2);
  // defaults.cache is for reads: tools/call needs its own.
  CHECK_FALSE(forecast.cache.enabled);

  const policies::EffectivePolicy& list = table.policyFor("tools/list");
  CHECK(list.cache.ttl == 5min);
  CHECK(list.cache.stale_if_error == 24h);
  CHECK(list.cache.scope == CacheScope::kShared);
  CHECK(table.policyFor("resources/read").cache.ttl == 60s); // defaults
  CHECK(table.policyFor("resources/read").cache.enabled);
}

TEST_CASE("built-in values when nothing is configured") {
  const config::Config c = mustLoad("");
  const policies::EffectivePolicy& d = c.policies.defaults;
  CHECK_FALSE(d.cache.enabled);
  CHECK_FALSE(d.fallback.has_value());
  CHECK(d.circuit_breaker == policies::CircuitBreakerParams{});
  CHECK(d.circuit_breaker.enabled);
  CHECK(c.recovery == policies::RecoveryPlan{});
  CHECK(c.cache_max_bytes == policies::ResponseCache::kDefaultMaxBytes);
  CHECK(c.fallback_enabled);
}

TEST_CASE("fallback.result: a YAML mapping becomes JSON text") {
  const config::Config c = mustLoad(R"(tools:
  - match: t
    fallback:
      result:
        content:
          - type: text
            text: "He said \"no\"\n"
          - {type: text, text: 'Zürich ☀'}
        structuredContent:
          count: 42
          ratio: -0.5e3
          ok: true
          off: False
          nothing: null
          tilde: ~
          empty:
          quoted_number: "42"
          quoted_bool: 'true'
          tagged: !!str 7
          yaml_only: 0x1F
          yes_word: yes
          list: [1, two, [3]]
          nested: {a: {b: {}}}
          "key with \"quotes\"": 1
)");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  const policies::EffectivePolicy& p = table.policyFor("tools/call", "t");
  REQUIRE(p.fallback.has_value());
  CHECK(
      p.fallback->result_json ==
      R"({"content":[{"type":"text","text":"He said \"no\"\n"},{"type":"text","text":"Zürich ☀"}],)"
      R"("structuredContent":{"count":42,"ratio":-0.5e3,"ok":true,"off":false,"nothing":null,)"
      R"("tilde":null,"empty":null,"quoted_number":"42","quoted_bool":"true","tagged":"7",)"
      R"("yaml_only":"0x1F","yes_word":"yes","list":[1,"two",[3]],"nested":{"a":{"b":{}}},)"
      R"("key with \"quotes\"":1}})");
}

TEST_CASE("fallback.result in JSON syntax (a YAML flow mapping) is taken as it is") {
  const config::Config c = mustLoad(
      R"(tools: [{match: t, fallback: {result: {"content": [{"type": "text", "text": "x"}], "isError": true}}}])");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  const auto& p = table.policyFor("tools/call", "t");
  REQUIRE(p.fallback.has_value());
  CHECK(p.fallback->result_json == R"({"content":[{"type":"text","text":"x"}],"isError":true})");
}

TEST_CASE("fallback under methods: text for tools/call, any result object elsewhere") {
  const config::Config c = mustLoad(R"(methods:
  tools/call: {fallback: {text: "busy"}}
  resources/read: {fallback: {result: {contents: []}}}
tools:
  - {match: "exact_*", fallback: false}
)");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  REQUIRE(table.policyFor("tools/call", "anything").fallback.has_value());
  CHECK(table.policyFor("tools/call", "anything").fallback->text == "busy");
  CHECK_FALSE(table.policyFor("tools/call", "exact_match").fallback.has_value()); // switched off
  REQUIRE(table.policyFor("resources/read").fallback.has_value());
  CHECK(table.policyFor("resources/read").fallback->result_json == R"({"contents":[]})");
  CHECK_FALSE(table.policyFor("prompts/get").fallback.has_value());
}

TEST_CASE("cache: enabled switches, stale-only caches, inherited values") {
  const config::Config c = mustLoad(R"(defaults:
  cache: {ttl: 30s, scope: shared}
methods:
  prompts/list: {cache: {enabled: false}}
  resources/list: {cache: {ttl: 0s, stale_if_error: 1h}}
tools:
  - {match: lookup, cache: {enabled: true}}
  - {match: "read_*", cache: {stale_if_error: 10m}}
)");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  CHECK_FALSE(table.policyFor("prompts/list").cache.enabled);
  CHECK(table.policyFor("prompts/list").cache.ttl == 30s);
  const auto& rl = table.policyFor("resources/list").cache;
  CHECK(rl.enabled);
  CHECK(rl.ttl == 0s);
  CHECK(rl.stale_if_error == 1h);
  CHECK(rl.scope == CacheScope::kShared);
  const auto& lookup = table.policyFor("tools/call", "lookup").cache;
  CHECK(lookup.enabled);
  CHECK(lookup.ttl == 30s);
  CHECK(lookup.scope == CacheScope::kShared);
  const auto& read = table.policyFor("tools/call", "read_file").cache;
  CHECK(read.enabled);
  CHECK(read.ttl == 30s);
  CHECK(read.stale_if_error == 10min);
  CHECK_FALSE(table.policyFor("tools/call", "write_file").cache.enabled);
}

TEST_CASE("circuit_breaker: enabled flag and counted classes") {
  const config::Config c = mustLoad(R"(defaults:
  circuit_breaker: {on: [upstream, session_lost, protocol]}
tools:
  - {match: flaky, circuit_breaker: {enabled: false}}
  - {match: slow, circuit_breaker: {on: [timeout]}}
)");
  const policies::PolicyTable table = config::buildPolicyTable(c);
  CHECK(c.policies.defaults.circuit_breaker.on ==
        policies::FailureClassSet{FailureClass::kUpstream, FailureClass::kSessionLost,
                                  FailureClass::kProtocol});
  CHECK_FALSE(table.policyFor("tools/call", "flaky").circuit_breaker.enabled);
  CHECK(table.policyFor("tools/call", "slow").circuit_breaker.on ==
        policies::FailureClassSet{FailureClass::kTimeout});
  CHECK(table.policyFor("tools/call", "other")
            .circuit_breaker.on.contains(FailureClass::kSessionLost));
}

TEST_CASE("recovery: every class, circuit_open, explicit fail and empty lists") {
  const config::Config c = mustLoad(R"(defaults:
  recovery:
    upstream: [stale, retry]
    overload: [retry, stale, fallback]
    tool_error: []
    session_lost: [retry, fail]
    invalid_input: [fail]
    permission: []
    circuit_open: [fallback, stale]
)");
  CHECK(steps(c.recovery.stepsFor(FailureClass::kUpstream)) ==
        std::vector<S>{S::kStaleCache, S::kRetry});
  CHECK(steps(c.recovery.stepsFor(FailureClass::kOverload)) ==
        std::vector<S>{S::kRetry, S::kStaleCache, S::kFallback});
  CHECK(c.recovery.stepsFor(FailureClass::kToolError).empty());
  CHECK(steps(c.recovery.stepsFor(FailureClass::kSessionLost)) == std::vector<S>{S::kRetry});
  CHECK(c.recovery.stepsFor(FailureClass::kInvalidInput).empty());
  CHECK(steps(c.recovery.stepsWhenCircuitOpen()) == std::vector<S>{S::kFallback, S::kStaleCache});
  CHECK(steps(c.recovery.stepsFor(FailureClass::kTimeout)) ==
        std::vector<S>{S::kRetry, S::kStaleCache}); // untouched
}

TEST_CASE("cache.max_bytes: bytes and units") {
  struct Row {
    const char* text;
    std::size_t bytes;
  };
  const Row rows[] = {
      {"0", 0},
      {"1000", 1000},
      {"1000B", 1000},
      {"512KiB", 512u * 1024},
      {"64MiB", 64u * 1024 * 1024},
      {"1GiB", 1024u * 1024 * 1024},
      {"1.5MiB", 1536u * 1024},
      {"10KB", 10000},
      {"100MB", 100000000},
      {"2GB", 2000000000},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    const config::Config c = mustLoad("cache: {max_bytes: " + std::string(r.text) + "}\n");
    CHECK(c.cache_max_bytes == r.bytes);
  }
}

TEST_CASE("cache.identity_headers: lower-cased names, shown by describeConfig") {
  CHECK(mustLoad("").cache_identity_headers.empty());
  const config::Config c = mustLoad("cache: {identity_headers: [X-Tenant-Id, x-client-cert]}\n");
  CHECK(c.cache_identity_headers == std::vector<std::string>{"x-tenant-id", "x-client-cert"});
  CHECK(config::describeConfig(c).find(
            "cache: max_bytes=67108864 identity_headers=x-tenant-id,x-client-cert\n") !=
        std::string::npos);
}

TEST_CASE("cache.identity_headers: errors name the entry") {
  CHECK(errorsOf("cache: {identity_headers: X-Tenant}\n") ==
        std::vector<std::string>{"bulwark.yaml:1:27: cache.identity_headers: expected a list of "
                                 "header names such as [X-Tenant-Id]"});
  CHECK(errorsOf("cache: {identity_headers: [\"bad name\", Cookie, X-T, x-t]}\n") ==
        std::vector<std::string>{
            "bulwark.yaml:1:28: cache.identity_headers[0]: not a header name: \"bad name\"",
            "bulwark.yaml:1:40: cache.identity_headers[1]: \"Cookie\" is always part of the "
            "caller identity; list only others",
            "bulwark.yaml:1:53: cache.identity_headers[3]: header \"x-t\" is listed twice"});
  // A global key written in a policy's cache block says where it belongs.
  const std::vector<std::string> misplaced =
      errorsOf("defaults:\n  cache: {ttl: 1s, identity_headers: [X-T]}\n");
  REQUIRE(misplaced.size() == 1);
  CHECK(misplaced[0].find("did you mean cache.identity_headers") != std::string::npos);
}

TEST_CASE("the seed's fallback_enabled switches fallbacks globally, both ways") {
  CHECK(mustLoad("error_handling: {fallback_enabled: true}").fallback_enabled);
  CHECK_FALSE(mustLoad("error_handling: {fallback_enabled: false}").fallback_enabled);
}

TEST_CASE("describeConfig shows the cache budget, the recovery plan and each policy's new fields") {
  const std::string text = config::describeConfig(mustLoad(kIssueKeys));
  CHECK(text.find("cache: max_bytes=67108864\n") != std::string::npos);
  CHECK(text.find("fallback_enabled: false\n") != std::string::npos);
  CHECK(
      text.find("recovery: invalid_input=[] upstream=[retry, stale, fallback] timeout=[retry] ") !=
      std::string::npos);
  CHECK(text.find("circuit_open=[stale, fallback]\n") != std::string::npos);
  CHECK(text.find("method tools/list (methods.tools/list): ") != std::string::npos);
  CHECK(text.find("cache=ttl:5m,stale_if_error:1d") == std::string::npos); // no such unit
  CHECK(text.find("cache=ttl:5m,stale_if_error:24h,scope:shared fallback=none") !=
        std::string::npos);
  CHECK(text.find("fallback=text circuit_breaker=failure_ratio:0.5,min_requests:10,") !=
        std::string::npos);
}

TEST_CASE("the annotated example file shows every issue 4 key, and loads") {
  config::ConfigLoadResult r =
      config::loadConfigFile(BULWARK_SOURCE_DIR "/config/bulwark.example.yaml");
  INFO(r.errorText());
  REQUIRE(r.ok());
  const config::Config& c = *r.config;
  CHECK(c.cache_max_bytes == 64u * 1024 * 1024);
  CHECK(c.fallback_enabled);
  CHECK(c.recovery == policies::RecoveryPlan{}); // the example spells out the defaults
  CHECK(c.policies.defaults.circuit_breaker == policies::CircuitBreakerParams{});
  const policies::PolicyTable table = config::buildPolicyTable(c);
  const auto& weather = table.policyFor("tools/call", "get_weather");
  CHECK(weather.cache.enabled);
  CHECK(weather.cache.ttl == 60s);
  REQUIRE(weather.fallback.has_value());
  CHECK(weather.fallback->text == "Weather is unavailable right now");
  CHECK(weather.circuit_breaker.min_requests == 10);
  CHECK(weather.circuit_breaker.open_for == 10s);
  const auto& search = table.policyFor("tools/call", "search_web");
  REQUIRE(search.fallback.has_value());
  CHECK(search.fallback->result_json ==
        R"({"content":[{"type":"text","text":"Search is unavailable; try again in a minute"}],)"
        R"("structuredContent":{"results":[],"degraded":true}})");
  CHECK_FALSE(table.policyFor("tools/call", "delete_user").fallback.has_value());
  CHECK(table.policyFor("resources/read").cache.ttl == 0s);
  CHECK(table.policyFor("resources/read").cache.stale_if_error == 1h);
  CHECK(table.policyFor("tools/list").cache.ttl == 5min);
  CHECK_FALSE(table.policyFor("prompts/get").cache.enabled);
}
