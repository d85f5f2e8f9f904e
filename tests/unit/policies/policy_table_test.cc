#include "policies/policy_table.h"

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <utility>

using namespace bulwark::policies;
using namespace std::chrono_literals;

namespace {

ToolRule tool(std::string match, Duration timeout) {
  ToolRule r;
  r.match = std::move(match);
  r.policy.timeout = timeout;
  return r;
}

} // namespace

TEST_CASE("the most specific tool rule wins") {
  PolicySet set;
  set.tools = {tool("*", 1s),          tool("search_*", 2s),   tool("search_web*", 3s),
               tool("search_web", 4s), tool("search_w?b", 5s), tool("s*", 6s),
               tool("*_web", 7s)};
  const PolicyTable table(set);
  struct Row {
    const char* tool;
    Duration timeout;
  };
  const Row rows[] = {
      {"search_web", 4s},    // exact beats every glob
      {"search_webs", 3s},   // search_web* has 10 literals
      {"search_wab", 5s},    // search_w?b has 9 literals, beats search_* (7)
      {"search_images", 2s}, // search_* (7) beats s* (1) and * (0)
      {"sum", 6s},           // s* (1) beats * (0)
      {"fetch_web", 7s},     // *_web (4)
      {"other", 1s},         // only *
  };
  for (const Row& r : rows) {
    const std::string tool_name = r.tool;
    CAPTURE(tool_name);
    CHECK(table.policyFor("tools/call", r.tool).timeouts.timeout == r.timeout);
  }
}

TEST_CASE("ties between globs go to the first in the file") {
  PolicySet set;
  set.tools = {tool("a*", 1s), tool("*b", 2s), tool("?b*", 3s)};
  const PolicyTable table(set);
  // "ab": a* (1 literal), *b (1 literal), ?b* (1 literal): first wins
  CHECK(table.policyFor("tools/call", "ab").timeouts.timeout == 1s);
  CHECK(table.policyFor("tools/call", "xb").timeouts.timeout == 2s);
  PolicySet reversed;
  reversed.tools = {tool("*b", 2s), tool("a*", 1s)};
  CHECK(PolicyTable(reversed).policyFor("tools/call", "ab").timeouts.timeout == 2s);
}

TEST_CASE("merge: tool over methods[tools/call] over defaults, field by field") {
  PolicySet set;
  set.defaults.timeouts = {30s, 10s};
  set.defaults.retry = RetryPolicy{3, BackoffParams{1s, 2.0, 10s}, kDefaultRetryOn};
  MethodRule calls;
  calls.method = "tools/call";
  calls.policy.per_try_timeout = 8s;
  calls.policy.retry.multiplier = 3.0;
  MethodRule reads;
  reads.method = "resources/read";
  reads.policy.retry.max_attempts = 4;
  set.methods = {calls, reads};
  ToolRule weather;
  weather.match = "get_weather";
  weather.policy.idempotent = true;
  weather.policy.timeout = 5s;
  weather.policy.retry.max_attempts = 5;
  weather.policy.retry.base = 50ms;
  weather.policy.retry.max = 500ms;
  set.tools = {weather};
  const PolicyTable table(set);

  const EffectivePolicy& w = table.policyFor("tools/call", "get_weather");
  CHECK(w.timeouts.timeout == 5s);         // tool
  CHECK(w.timeouts.per_try_timeout == 8s); // methods.tools/call
  CHECK(w.retry.max_attempts == 5);
  CHECK(w.retry.backoff.base == 50ms);
  CHECK(w.retry.backoff.multiplier == doctest::Approx(3.0));
  CHECK(w.retry.backoff.max == 500ms);
  CHECK(w.retry.on == kDefaultRetryOn);
  REQUIRE(w.idempotent.has_value());
  CHECK(*w.idempotent);
  CHECK(w.origin == "tools[0] get_weather");

  const EffectivePolicy& other_tool = table.policyFor("tools/call", "send_mail");
  CHECK(other_tool.origin == "methods.tools/call");
  CHECK(other_tool.timeouts.per_try_timeout == 8s);
  CHECK_FALSE(other_tool.idempotent.has_value());

  const EffectivePolicy& read = table.policyFor("resources/read", "get_weather");
  CHECK(read.retry.max_attempts == 4);
  CHECK(read.timeouts.timeout == 30s);
  CHECK(read.retry.backoff.multiplier == doctest::Approx(2.0));

  const EffectivePolicy& list = table.policyFor("tools/list");
  CHECK(&list == &table.defaults());
  CHECK(list.origin == "defaults");
}

TEST_CASE("without a tools/call method rule, unmatched tools get the defaults") {
  PolicySet set;
  set.tools = {tool("get_*", 5s)};
  const PolicyTable table(set);
  CHECK(&table.policyFor("tools/call", "put_x") == &table.defaults());
  CHECK(table.policyFor("tools/call", "get_x").timeouts.timeout == 5s);
  // tool rules only apply to tools/call
  CHECK(&table.policyFor("prompts/get", "get_x") == &table.defaults());
}

TEST_CASE("references survive moving the table") {
  PolicySet set;
  set.tools = {tool("a", 2s)};
  PolicyTable table(set);
  const EffectivePolicy* before = &table.policyFor("tools/call", "a");
  const EffectivePolicy* defaults_before = &table.defaults();
  PolicyTable moved(std::move(table));
  CHECK(&moved.policyFor("tools/call", "a") == before);
  CHECK(&moved.defaults() == defaults_before);
}

TEST_CASE("describe lists every resolved policy in resolution order") {
  PolicySet set;
  MethodRule reads;
  reads.method = "resources/read";
  reads.policy.retry.max_attempts = 4;
  set.methods = {reads};
  set.tools = {tool("search_*", 2s), tool("get_weather", 5s)};
  const PolicyTable table(set);
  const auto entries = table.entries();
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].selector == "defaults");
  CHECK(entries[1].selector == "method resources/read");
  CHECK(entries[2].selector == "tool get_weather");
  CHECK(entries[3].selector == "tool search_*");
  const std::string text = table.describe();
  CHECK(text.find("method resources/read (methods.resources/read): timeout=30s "
                  "per_try_timeout=10s max_attempts=4 backoff=uniform[0,min(10s,1s*2^(n-1))] "
                  "on=[upstream, timeout, overload] idempotent=auto "
                  "trust_tool_annotations=true cache=off fallback=none "
                  "circuit_breaker=failure_ratio:0.5,min_requests:20,window:10s,open_for:5s,"
                  "half_open_probes:1,on:[upstream, timeout, overload]\n") != std::string::npos);
  CHECK(text.find("tool get_weather (tools[1] get_weather): timeout=5s") != std::string::npos);
}

TEST_CASE("applyOverride: cache fields, and setting ttl or stale_if_error turns the cache on") {
  const EffectivePolicy base;
  CHECK_FALSE(base.cache.enabled);
  PolicyOverride o;
  o.cache.ttl = 60s;
  EffectivePolicy p = applyOverride(base, o, "x");
  CHECK(p.cache.enabled);
  CHECK(p.cache.ttl == 60s);
  CHECK(p.cache.stale_if_error == 0s);
  CHECK(p.cache.scope == CacheScope::kCaller);

  PolicyOverride stale_only;
  stale_only.cache.stale_if_error = 1h;
  stale_only.cache.scope = CacheScope::kShared;
  p = applyOverride(base, stale_only, "x");
  CHECK(p.cache.enabled);
  CHECK(p.cache.ttl == 0s);
  CHECK(p.cache.stale_if_error == 1h);
  CHECK(p.cache.scope == CacheScope::kShared);

  PolicyOverride off;
  off.cache.enabled = false;
  const EffectivePolicy cached = applyOverride(base, o, "x");
  p = applyOverride(cached, off, "y");
  CHECK_FALSE(p.cache.enabled);
  CHECK(p.cache.ttl == 60s); // kept, so a lower layer can switch it back on

  PolicyOverride scope_only; // only the scope: inherits enabled
  scope_only.cache.scope = CacheScope::kShared;
  CHECK_FALSE(applyOverride(base, scope_only, "x").cache.enabled);
  CHECK(applyOverride(cached, scope_only, "x").cache.enabled);
}

TEST_CASE("applyOverride: fallback set, inherited, and switched off") {
  EffectivePolicy base;
  CHECK_FALSE(base.fallback.has_value());
  PolicyOverride o;
  o.fallback = FallbackSpec::fromText("down");
  const EffectivePolicy with = applyOverride(base, o, "x");
  REQUIRE(with.fallback.has_value());
  CHECK(with.fallback->text == "down");
  CHECK(applyOverride(with, PolicyOverride{}, "y").fallback == with.fallback);
  PolicyOverride off;
  off.fallback_off = true;
  CHECK_FALSE(applyOverride(with, off, "z").fallback.has_value());
}

TEST_CASE("applyOverride: circuit breaker fields one by one") {
  const EffectivePolicy base;
  PolicyOverride o;
  o.circuit_breaker.failure_ratio = 0.25;
  o.circuit_breaker.open_for = 30s;
  const EffectivePolicy p = applyOverride(base, o, "x");
  CHECK(p.circuit_breaker.failure_ratio == doctest::Approx(0.25));
  CHECK(p.circuit_breaker.open_for == 30s);
  CHECK(p.circuit_breaker.min_requests == 20); // inherited
  CHECK(p.circuit_breaker.window == 10s);
  CHECK(p.circuit_breaker.enabled);
  PolicyOverride rest;
  rest.circuit_breaker.enabled = false;
  rest.circuit_breaker.min_requests = 5;
  rest.circuit_breaker.window = 1s;
  rest.circuit_breaker.half_open_probes = 3;
  rest.circuit_breaker.on = FailureClassSet{FailureClass::kUpstream};
  const EffectivePolicy q = applyOverride(p, rest, "y");
  CHECK_FALSE(q.circuit_breaker.enabled);
  CHECK(q.circuit_breaker.min_requests == 5);
  CHECK(q.circuit_breaker.window == 1s);
  CHECK(q.circuit_breaker.half_open_probes == 3);
  CHECK(q.circuit_breaker.on == FailureClassSet{FailureClass::kUpstream});
  CHECK(q.circuit_breaker.failure_ratio == doctest::Approx(0.25));
}

TEST_CASE("a cache under defaults serves reads; tools/call must enable it itself") {
  PolicySet set;
  set.defaults.cache = CachePolicy{true, 60s, 1h, CacheScope::kCaller};
  ToolRule weather;
  weather.match = "get_weather";
  weather.policy.cache.enabled = true;
  ToolRule other;
  other.match = "send_*";
  other.policy.timeout = 3s;
  set.tools = {weather, other};
  const PolicyTable table(set);
  CHECK(table.policyFor("tools/list").cache.enabled);
  CHECK(table.policyFor("resources/read").cache.ttl == 60s);
  CHECK_FALSE(table.policyFor("tools/call", "unknown").cache.enabled);
  CHECK_FALSE(table.policyFor("tools/call", "send_mail").cache.enabled);
  const EffectivePolicy& w = table.policyFor("tools/call", "get_weather");
  CHECK(w.cache.enabled);
  CHECK(w.cache.ttl == 60s); // inherited from defaults
  CHECK(w.cache.stale_if_error == 1h);
  // The implicit tools/call policy shows up in the listing.
  const auto entries = table.entries();
  REQUIRE(entries.size() == 4);
  CHECK(entries[1].selector == "method tools/call");
  CHECK_FALSE(entries[1].policy->cache.enabled);
}

TEST_CASE("methods.tools/call enables the cache for every tool") {
  PolicySet set;
  MethodRule calls;
  calls.method = "tools/call";
  calls.policy.cache.ttl = 5s;
  set.methods = {calls};
  ToolRule no_cache;
  no_cache.match = "write_*";
  no_cache.policy.cache.enabled = false;
  set.tools = {no_cache};
  const PolicyTable table(set);
  CHECK(table.policyFor("tools/call", "read_file").cache.enabled);
  CHECK(table.policyFor("tools/call", "read_file").cache.ttl == 5s);
  CHECK_FALSE(table.policyFor("tools/call", "write_file").cache.enabled);
  CHECK_FALSE(table.policyFor("tools/list").cache.enabled);
  CHECK(table.entries().size() == 3); // no implicit entry: defaults has no cache
}
