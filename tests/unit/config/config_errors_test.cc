#include "config/config.h"

#include <cstdio>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;

namespace {


struct Case {
  const char* name;
  const char* yaml;
  const char* error; // the one expected error, as printed
};

// Columns are counted by hand from the YAML text (1-based).
const Case kCases[] = {
    {"invalid duration", "defaults:\n  retry:\n    backoff: {base: 5 sec}\n",
     "bulwark.yaml:3:21: defaults.retry.backoff.base: invalid duration \"5 sec\" "
     "(use e.g. 250ms, 30s, 5m)"},
    {"plain number where a duration is needed", "defaults: {timeout: 30}\n",
     "bulwark.yaml:1:21: defaults.timeout: invalid duration \"30\" (use e.g. 250ms, 30s, 5m)"},
    {"duration of the wrong kind", "defaults:\n  timeout: [30s]\n",
     "bulwark.yaml:2:12: defaults.timeout: expected a duration (use e.g. 250ms, 30s, 5m), got a "
     "list"},
    {"zero timeout", "defaults: {timeout: 0s}\n",
     "bulwark.yaml:1:21: defaults.timeout: must be greater than 0"},
    {"unknown key with a suggestion", "listne: 127.0.0.1:80\n",
     "bulwark.yaml:1:1: listne: unknown key \"listne\" (did you mean \"listen\"?)"},
    {"unknown key, prefix suggestion", "defaults:\n  per_try: 1s\n",
     "bulwark.yaml:2:3: defaults.per_try: unknown key \"per_try\" (did you mean "
     "\"per_try_timeout\"?)"},
    {"unknown key without a suggestion", "defaults:\n  frobnicate: 1\n",
     "bulwark.yaml:2:3: defaults.frobnicate: unknown key \"frobnicate\" (known keys: timeout "
     "per_try_timeout retry trust_tool_annotations cache fallback circuit_breaker recovery)"},
    {"misplaced key", "tools:\n  - match: x\n    max_attempts: 3\n",
     "bulwark.yaml:3:5: tools[0].max_attempts: unknown key \"max_attempts\" (did you mean "
     "retry.max_attempts?)"},
    {"misplaced backoff key", "defaults:\n  retry: {base: 1s}\n",
     "bulwark.yaml:2:11: defaults.retry.base: unknown key \"base\" (did you mean backoff.base?)"},
    {"circuit breaker key misspelt", "defaults:\n  circuit_breaker: {open: 5s}\n",
     "bulwark.yaml:2:21: defaults.circuit_breaker.open: unknown key \"open\" (did you mean "
     "\"open_for\"?)"},
    // Issue 4: cache, fallback, circuit_breaker, recovery, cache.max_bytes.
    {"cache ttl not a duration", "defaults:\n  cache: {ttl: soon}\n",
     "bulwark.yaml:2:16: defaults.cache.ttl: invalid duration \"soon\" (use e.g. 250ms, 30s, 5m)"},
    {"cache scope unknown", "defaults:\n  cache: {ttl: 60s, scope: everyone}\n",
     "bulwark.yaml:2:28: defaults.cache.scope: expected caller (one entry per caller: session, "
     "credentials, query) or shared (one entry for every caller), got \"everyone\""},
    {"cache enabled with nothing to keep", "tools:\n  - match: a\n    cache: {enabled: true}\n",
     "bulwark.yaml:3:12: tools[0].cache: the cache is enabled but ttl and stale_if_error are both "
     "0s: set ttl (answers served without asking the upstream) or stale_if_error (answers kept "
     "for recovery)"},
    {"fallback under defaults", "defaults:\n  fallback: {text: down}\n",
     "bulwark.yaml:2:3: defaults.fallback: a fallback under defaults would answer every method "
     "with the same result: set it per tool (tools: [{match: \"*\", fallback: ...}] for every "
     "tool) or per method"},
    {"fallback text and result",
     "tools:\n  - match: a\n    fallback: {text: x, result: {content: []}}\n",
     "bulwark.yaml:3:25: tools[0].fallback.result: give either text or result, not both (text is "
     "the short form of a result with one text content item)"},
    {"text fallback outside tools/call", "methods:\n  resources/read: {fallback: {text: x}}\n",
     "bulwark.yaml:2:31: methods.resources/read.fallback.text: a text fallback is a tools/call "
     "result (CallToolResult); for \"resources/read\" write the whole result under "
     "fallback.result"},
    {"fallback result as a string", "tools:\n  - match: a\n    fallback: {result: \"{}\"}\n",
     "bulwark.yaml:3:24: tools[0].fallback.result: expected the result object as a mapping (JSON "
     "works too: {\"content\": [...]}), got \"{}\""},
    {"fallback result without content",
     "tools:\n  - match: a\n    fallback: {result: {isError: true}}\n",
     "bulwark.yaml:3:24: tools[0].fallback.result: a tools/call result needs content, e.g. "
     "{content: [{type: text, text: \"...\"}]}"},
    {"fallback result content not a list",
     "tools:\n  - match: a\n    fallback: {result: {content: {type: text}}}\n",
     "bulwark.yaml:3:34: tools[0].fallback.result.content: expected a list of content items, e.g. "
     "[{type: text, text: \"...\"}], got a mapping"},
    {"fallback result with _meta",
     "tools:\n  - match: a\n    fallback:\n      result: {content: [], _meta: {x: 1}}\n",
     "bulwark.yaml:4:29: tools[0].fallback.result._meta: Bulwark adds _meta to a fallback itself "
     "({\"bulwark/fallback\": true}); leave it out"},
    {"fallback result duplicate key",
     "tools:\n  - match: a\n    fallback: {result: {content: [], content: []}}\n",
     "bulwark.yaml:3:38: tools[0].fallback.result.content: duplicate key (first at line 3)"},
    {"fallback true", "tools:\n  - match: a\n    fallback: true\n",
     "bulwark.yaml:3:15: tools[0].fallback: expected {text: \"...\"}, {result: {...}} or false (no "
     "fallback), got \"true\""},
    {"fallback empty mapping", "tools:\n  - match: a\n    fallback: {}\n",
     "bulwark.yaml:3:15: tools[0].fallback: expected {text: \"...\"} or {result: {...}}"},
    {"fallback empty text", "tools:\n  - match: a\n    fallback: {text: \"\"}\n",
     "bulwark.yaml:3:22: tools[0].fallback.text: must not be empty"},
    {"fallback text not UTF-8", "tools:\n  - match: a\n    fallback: {text: \"a\xff\"}\n",
     "bulwark.yaml:3:22: tools[0].fallback.text: must be valid UTF-8"},
    {"fallback key misspelt", "tools:\n  - match: a\n    fallback: {txt: hi}\n",
     "bulwark.yaml:3:16: tools[0].fallback.txt: unknown key \"txt\" (did you mean \"text\"?)"},
    {"breaker ratio 0", "defaults:\n  circuit_breaker: {failure_ratio: 0}\n",
     "bulwark.yaml:2:36: defaults.circuit_breaker.failure_ratio: must be a fraction greater than 0 "
     "and at most 1 (0.5 = half the attempts fail)"},
    {"breaker ratio above 1", "defaults:\n  circuit_breaker: {failure_ratio: 1.5}\n",
     "bulwark.yaml:2:36: defaults.circuit_breaker.failure_ratio: must be a fraction greater than 0 "
     "and at most 1 (0.5 = half the attempts fail)"},
    {"breaker min_requests 0", "defaults:\n  circuit_breaker: {min_requests: 0}\n",
     "bulwark.yaml:2:35: defaults.circuit_breaker.min_requests: must be between 1 and 1000000"},
    {"breaker probes 0", "defaults:\n  circuit_breaker: {half_open_probes: 0}\n",
     "bulwark.yaml:2:39: defaults.circuit_breaker.half_open_probes: must be between 1 and 1000"},
    {"breaker window 0", "defaults:\n  circuit_breaker: {window: 0s}\n",
     "bulwark.yaml:2:29: defaults.circuit_breaker.window: must be greater than 0"},
    {"breaker counting tool errors", "defaults:\n  circuit_breaker: {on: [upstream, tool_error]}\n",
     "bulwark.yaml:2:36: defaults.circuit_breaker.on[1]: \"tool_error\" never counts against a "
     "circuit: it is an answer from a working upstream"},
    {"breaker unknown class", "defaults:\n  circuit_breaker: {on: [upstrem]}\n",
     "bulwark.yaml:2:26: defaults.circuit_breaker.on[0]: unknown failure class \"upstrem\" (one "
     "of: "
     "upstream timeout overload resource session_lost protocol)"},
    {"breaker per method", "methods:\n  resources/read: {circuit_breaker: {open_for: 1s}}\n",
     "bulwark.yaml:2:20: methods.resources/read.circuit_breaker: circuit breakers are per upstream "
     "(defaults.circuit_breaker) and per tool (methods.tools/call, tools[]), not per method"},
    {"recovery outside defaults", "tools:\n  - match: a\n    recovery: {upstream: [fail]}\n",
     "bulwark.yaml:3:5: tools[0].recovery: the recovery order is global: set it under "
     "defaults.recovery"},
    {"recovery unknown class", "defaults:\n  recovery: {upstrem: [retry]}\n",
     "bulwark.yaml:2:14: defaults.recovery.upstrem: unknown key \"upstrem\" (a failure class: "
     "invalid_input upstream timeout overload resource permission tool_error session_lost "
     "protocol; or circuit_open)"},
    {"recovery unknown strategy", "defaults:\n  recovery: {upstream: [retry, cache]}\n",
     "bulwark.yaml:2:32: defaults.recovery.upstream[1]: unknown strategy \"cache\" (one of: retry "
     "stale fallback fail)"},
    {"recovery step after fail", "defaults:\n  recovery: {upstream: [fail, stale]}\n",
     "bulwark.yaml:2:31: defaults.recovery.upstream[1]: \"stale\" after fail is never reached: "
     "fail ends the list"},
    {"recovery step twice", "defaults:\n  recovery: {upstream: [stale, stale]}\n",
     "bulwark.yaml:2:32: defaults.recovery.upstream[1]: \"stale\" is listed twice"},
    {"recovery for permission", "defaults:\n  recovery: {permission: [stale]}\n",
     "bulwark.yaml:2:27: defaults.recovery.permission[0]: \"permission\" answers go to the client "
     "as they are: only fail is allowed"},
    {"retry while the circuit is open", "defaults:\n  recovery: {circuit_open: [retry]}\n",
     "bulwark.yaml:2:29: defaults.recovery.circuit_open[0]: an open circuit refuses every "
     "attempt: retry cannot help here (use stale, fallback, fail)"},
    {"recovery not a mapping", "defaults:\n  recovery: [retry]\n",
     "bulwark.yaml:2:13: defaults.recovery: expected a mapping of failure classes to strategy "
     "lists, e.g. {upstream: [retry, stale, fallback]}, got a list"},
    {"recovery steps not a list", "defaults:\n  recovery: {upstream: retry}\n",
     "bulwark.yaml:2:24: defaults.recovery.upstream: expected a list of strategies (retry, stale, "
     "fallback, fail), got \"retry\""},
    {"cache size not a size", "cache: {max_bytes: lots}\n",
     "bulwark.yaml:1:20: cache.max_bytes: invalid size \"lots\" (use bytes or a unit: 512KiB, "
     "64MiB, 1GiB, 100MB; at most 1TiB)"},
    {"cache size too large", "cache: {max_bytes: 2048GiB}\n",
     "bulwark.yaml:1:20: cache.max_bytes: invalid size \"2048GiB\" (use bytes or a unit: 512KiB, "
     "64MiB, 1GiB, 100MB; at most 1TiB)"},
    {"per-policy cache key at the top level", "cache: {ttl: 60s}\n",
     "bulwark.yaml:1:9: cache.ttl: unknown key \"ttl\" (did you mean defaults.cache.ttl, "
     "methods.<name>.cache.ttl or tools[].cache.ttl?)"},
    {"fallback_enabled not a boolean", "error_handling: {fallback_enabled: sometimes}\n",
     "bulwark.yaml:1:36: error_handling.fallback_enabled: expected true or false, got "
     "\"sometimes\""},
    {"whole number expected", "defaults:\n  retry:\n    max_attempts: three\n",
     "bulwark.yaml:3:19: defaults.retry.max_attempts: expected a whole number, got \"three\""},
    {"attempts < 1", "defaults: {retry: {max_attempts: 0}}\n",
     "bulwark.yaml:1:34: defaults.retry.max_attempts: must be at least 1 (1 = no retries), got 0"},
    {"attempts too many", "defaults: {retry: {max_attempts: 1000}}\n",
     "bulwark.yaml:1:34: defaults.retry.max_attempts: must be at most 100"},
    {"multiplier < 1", "defaults: {retry: {backoff: {multiplier: 0.5}}}\n",
     "bulwark.yaml:1:42: defaults.retry.backoff.multiplier: must be at least 1 (1 = constant "
     "backoff)"},
    {"max < base in one block", "defaults:\n  retry:\n    backoff: {base: 5s, max: 1s}\n",
     "bulwark.yaml:3:30: defaults.retry.backoff.max: backoff max (1s) is less than base (5s)"},
    {"tool base above the inherited max",
     "tools:\n  - match: slow\n    retry: {backoff: {base: "
     "20s}}\n",
     "bulwark.yaml:3:29: tools[0].retry.backoff.base: backoff base (20s) is greater than max "
     "(10s, inherited from defaults): raise backoff.max too"},
    {"tool max below the inherited base",
     "tools:\n  - match: slow\n    retry: {backoff: {max: "
     "500ms}}\n",
     "bulwark.yaml:3:28: tools[0].retry.backoff.max: backoff max (500ms) is less than base (1s, "
     "inherited from defaults)"},
    {"defaults max below the seed's base",
     "error_handling: {retry_delay: 20}\ndefaults: {retry: {backoff: {max: 5s}}}\n",
     "bulwark.yaml:2:35: defaults.retry.backoff.max: backoff max (5s) is less than base (20s)"},
    {"ratio < 0", "defaults: {retry: {budget: {ratio: -0.1}}}\n",
     "bulwark.yaml:1:36: defaults.retry.budget.ratio: must not be negative"},
    {"ratio not a number", "defaults: {retry: {budget: {ratio: lots}}}\n",
     "bulwark.yaml:1:36: defaults.retry.budget.ratio: expected a number, got \"lots\""},
    {"budget outside defaults", "tools:\n  - match: a\n    retry: {budget: {ratio: 1}}\n",
     "bulwark.yaml:3:13: tools[0].retry.budget: the retry budget is shared by all requests: set "
     "it under defaults.retry.budget"},
    {"restart_wait outside defaults",
     "tools:\n  - match: a\n    retry: {restart_wait: {max: 1s}}\n",
     "bulwark.yaml:3:13: tools[0].retry.restart_wait: the wait for a restarting upstream is "
     "global: set it under defaults.retry.restart_wait"},
    {"unknown failure class", "defaults: {retry: {on: [upstream, timeuot]}}\n",
     "bulwark.yaml:1:35: defaults.retry.on[1]: unknown failure class \"timeuot\" (one of: "
     "upstream timeout overload resource tool_error session_lost protocol)"},
    {"a class that is never retried", "defaults: {retry: {on: [invalid_input]}}\n",
     "bulwark.yaml:1:25: defaults.retry.on[0]: \"invalid_input\" is never retried: repeating the "
     "same request cannot succeed"},
    {"on is not a list", "defaults: {retry: {on: upstream}}\n",
     "bulwark.yaml:1:24: defaults.retry.on: expected a list of failure classes, e.g. [upstream, "
     "timeout, overload], got \"upstream\""},
    {"missing match", "tools:\n  - timeout: 5s\n",
     "bulwark.yaml:2:5: tools[0]: missing key \"match\" (the tool name or a glob such as "
     "\"search_*\")"},
    {"empty match", "tools:\n  - match: \"\"\n",
     "bulwark.yaml:2:12: tools[0].match: must not be empty"},
    {"duplicate match", "tools:\n  - match: a\n  - match: a\n",
     "bulwark.yaml:3:12: tools[1].match: duplicate match \"a\" (first at line 2; only the first "
     "would ever apply)"},
    {"tool entry not a mapping", "tools:\n  - get_weather\n",
     "bulwark.yaml:2:5: tools[0]: expected a tool policy mapping like {match: get_weather, ...}, "
     "got \"get_weather\""},
    {"tools not a list", "tools: {match: a}\n",
     "bulwark.yaml:1:8: tools: expected a list of tool policies, got a mapping"},
    {"boolean expected", "tools:\n  - match: a\n    idempotent: maybe\n",
     "bulwark.yaml:3:17: tools[0].idempotent: expected true or false, got \"maybe\""},
    {"duplicate key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
     "bulwark.yaml:2:1: listen: duplicate key (first at line 1)"},
    {"duplicate method", "methods:\n  tools/list: {}\n  tools/list: {}\n",
     "bulwark.yaml:3:3: methods.tools/list: duplicate method (first at line 2)"},
    {"methods not a mapping", "methods: [a]\n",
     "bulwark.yaml:1:10: methods: expected a mapping of method names to policies, e.g. "
     "{resources/read: {retry: {max_attempts: 4}}}, got a list"},
    {"unknown key in a method policy", "methods:\n  resources/read: {retries: 3}\n",
     "bulwark.yaml:2:20: methods.resources/read.retries: unknown key \"retries\" (did you mean "
     "\"retry\"?)"},
    {"section not a mapping", "defaults: 5\n",
     "bulwark.yaml:1:11: defaults: expected a mapping, got \"5\""},
    {"invalid address", "listen: localhost\n",
     "bulwark.yaml:1:9: listen: invalid address \"localhost\" (use host:port, e.g. "
     "127.0.0.1:8080 or [::1]:8080)"},
    {"port out of range", "admin: 127.0.0.1:70000\n",
     "bulwark.yaml:1:8: admin: invalid address \"127.0.0.1:70000\" (use host:port, e.g. "
     "127.0.0.1:8080 or [::1]:8080)"},
    {"bare IPv6", "listen: \"::1:8080\"\n",
     "bulwark.yaml:1:9: listen: invalid address \"::1:8080\" (use host:port, e.g. "
     "127.0.0.1:8080 or [::1]:8080)"},
    {"missing value", "listen:\n", "bulwark.yaml:1:1: listen: expected host:port, got nothing"},
    {"bad URL", "upstream: {url: ftp://x}\n",
     "bulwark.yaml:1:17: upstream.url: invalid upstream URL \"ftp://x\" (use e.g. "
     "http://127.0.0.1:3000/mcp)"},
    {"https URL", "upstream:\n  url: https://example.com/mcp\n",
     "bulwark.yaml:2:8: upstream.url: https upstreams are not supported (Bulwark runs next to "
     "the server: use http://)"},
    {"zero connect timeout", "upstream: {connect_timeout: 0ms}\n",
     "bulwark.yaml:1:29: upstream.connect_timeout: must be greater than 0"},
    {"seed max_retries negative", "error_handling: {max_retries: -1}\n",
     "bulwark.yaml:1:31: error_handling.max_retries: must be between 0 and 99"},
    {"seed retry_delay", "error_handling: {retry_delay: soon}\n",
     "bulwark.yaml:1:31: error_handling.retry_delay: invalid duration \"soon\" (use seconds, "
     "e.g. 1 or 0.5, or 250ms, 30s, 5m)"},
    {"seed timeout zero", "error_handling: {timeout_seconds: 0}\n",
     "bulwark.yaml:1:35: error_handling.timeout_seconds: must be greater than 0"},
    {"seed fallback not a bool", "error_handling: {fallback_enabled: 1}\n",
     "bulwark.yaml:1:36: error_handling.fallback_enabled: expected true or false, got \"1\""},
    {"seed unknown key", "error_handling: {max_retry: 1}\n",
     "bulwark.yaml:1:18: error_handling.max_retry: unknown key \"max_retry\" (did you mean "
     "\"max_retries\"?)"},
    {"error rate above 1", "monitoring: {alert_threshold: {error_rate: 5}}\n",
     "bulwark.yaml:1:44: monitoring.alert_threshold.error_rate: must be a fraction between 0 and "
     "1 (0.05 = 5%)"},
    {"root not a mapping", "- a\n- b\n", "bulwark.yaml:1:1: expected a mapping, got a list"},
    {"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n",
     "bulwark.yaml:3:1: expected one YAML document, found 2"},
};

} // namespace

TEST_CASE("each kind of error names file:line:column, key path and the problem") {
  for (const Case& c : kCases) {
    const std::string name = c.name;
    CAPTURE(name);
    const std::vector<std::string> errors = errorsOf(c.yaml);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == c.error);
  }
}

TEST_CASE("the brief's sample error, in a tool rule") {
  const char* yaml = R"(listen: 127.0.0.1:8080
admin: 127.0.0.1:9090
upstream: {url: http://127.0.0.1:3000/mcp}
defaults:
  timeout: 30s
methods:
  tools/list: {timeout: 5s}
tools:
  - match: get_weather
    timeout: 5s
  - match: "search_*"
    retry:
      backoff: {base: 5 sec}
)";
  const std::vector<std::string> errors = errorsOf(yaml);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "bulwark.yaml:13:23: tools[1].retry.backoff.base: invalid duration "
                     "\"5 sec\" (use e.g. 250ms, 30s, 5m)");
}

TEST_CASE("all errors are reported at once, in file order") {
  const char* yaml = R"(listen: nowhere
upstream: {url: http://127.0.0.1:3000/mcp, connect_timeout: soon}
defaults:
  timeout: 30 s
  retry:
    max_attempts: 0
    on: [upstream, bogus]
tools:
  - match: a
    idempotent: yes please
  - timeout: 1s
colour: blue
)";
  const std::vector<std::string> errors = errorsOf(yaml);
  const std::vector<std::string> expected = {
      "bulwark.yaml:1:9: listen: invalid address \"nowhere\" (use host:port, e.g. "
      "127.0.0.1:8080 or [::1]:8080)",
      "bulwark.yaml:2:61: upstream.connect_timeout: invalid duration \"soon\" (use e.g. 250ms, "
      "30s, 5m)",
      "bulwark.yaml:4:12: defaults.timeout: invalid duration \"30 s\" (use e.g. 250ms, 30s, 5m)",
      "bulwark.yaml:6:19: defaults.retry.max_attempts: must be at least 1 (1 = no retries), got 0",
      "bulwark.yaml:7:20: defaults.retry.on[1]: unknown failure class \"bogus\" (one of: upstream "
      "timeout overload resource tool_error session_lost protocol)",
      "bulwark.yaml:10:17: tools[0].idempotent: expected true or false, got \"yes please\"",
      "bulwark.yaml:11:5: tools[1]: missing key \"match\" (the tool name or a glob such as "
      "\"search_*\")",
      "bulwark.yaml:12:1: colour: unknown key \"colour\" (known keys: listen admin upstream "
      "cache defaults tools methods error_handling monitoring limits sessions security "
      "shared_state)",
  };
  CHECK(errors == expected);
}

TEST_CASE("a YAML syntax error is reported with its position") {
  const config::ConfigLoadResult r =
      config::loadConfigString("defaults:\n  retry: {max_attempts: [1, 2}\n", "bad.yaml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].file == "bad.yaml");
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].column >= 1);
  CHECK(r.errors[0].key_path.empty());
  CHECK(r.errors[0].message.rfind("YAML syntax error: ", 0) == 0);
  CHECK(r.errorText().rfind("bad.yaml:2:", 0) == 0);
}

TEST_CASE("a stray ',' (which makes yaml-cpp's LoadAll loop forever) is an error, not a hang") {
  // Inputs the config fuzzer found; each must come back, as an error with a position.
  for (const char* text :
       {",", "- a\n,", "\"x\",", "--- ,", "upstream: {url: http://127.0.0.1:1/mcp}\n,\n"}) {
    CAPTURE(text);
    const config::ConfigLoadResult r = config::loadConfigString(text, "stray.yaml");
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line >= 1);
    CHECK(r.errors[0].message.rfind("YAML syntax error: ", 0) == 0);
  }
  // Several documents still load far enough to be told apart from a stall.
  const config::ConfigLoadResult two =
      config::loadConfigString("listen: 127.0.0.1:1\n---\nadmin: 127.0.0.1:2\n", "two.yaml");
  REQUIRE(two.errors.size() == 1);
  CHECK(two.errors[0].message.find("expected one YAML document") != std::string::npos);
}

TEST_CASE("file errors: missing file and directory") {
  const config::ConfigLoadResult missing = config::loadConfigFile("/nonexistent/bulwark.yaml");
  REQUIRE(missing.errors.size() == 1);
  CHECK_FALSE(missing.ok());
  CHECK(missing.errors[0].line == 0);
  CHECK(missing.errors[0].toString() ==
        "/nonexistent/bulwark.yaml: cannot read the file: it does not exist");
  const config::ConfigLoadResult dir = config::loadConfigFile(BULWARK_SOURCE_DIR "/config");
  REQUIRE(dir.errors.size() == 1);
  CHECK(dir.errors[0].message == "cannot read the file: not a regular file");
}

TEST_CASE("errors from a file carry its path") {
  const auto path = std::filesystem::temp_directory_path() / "bulwark_config_errors_test.yaml";
  {
    std::ofstream out(path);
    out << "defaults:\n  timeout: 5 sec\n";
  }
  const config::ConfigLoadResult r = config::loadConfigFile(path.string());
  std::filesystem::remove(path);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].toString() == path.string() +
                                      ":2:12: defaults.timeout: invalid duration \"5 sec\" "
                                      "(use e.g. 250ms, 30s, 5m)");
}

TEST_CASE("ConfigError formatting") {
  CHECK(config::ConfigError{"f.yaml", 3, 4, "a.b", "bad"}.toString() == "f.yaml:3:4: a.b: bad");
  CHECK(config::ConfigError{"f.yaml", 3, 4, "", "bad"}.toString() == "f.yaml:3:4: bad");
  CHECK(config::ConfigError{"f.yaml", 0, 0, "", "bad"}.toString() == "f.yaml: bad");
}
