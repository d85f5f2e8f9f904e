// upstream.discovery and defaults.retry.never_ran_statuses (issue #14).
#include "config/config.h"
#include "load_helpers.h"

#include <cstdlib>
#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;

namespace {

bool anyContains(const std::vector<std::string>& errors, std::string_view text) {
  for (const std::string& e : errors) {
    if (e.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("upstream.discovery: defaults") {
  const config::Config c = mustLoad("upstream: {url: http://127.0.0.1:3000/mcp}\n");
  CHECK(c.upstream.discovery.enabled);
  CHECK(c.upstream.discovery.at_start);
  CHECK(c.upstream.discovery.interval == std::chrono::minutes(5));
  CHECK(c.upstream.discovery.headers.empty());
  CHECK(c.never_ran.statuses == std::vector<int>{429, 503});
}

TEST_CASE("upstream.discovery: headers expanded from the environment") {
  ::setenv("BULWARK_DISCOVERY_TEST_TOKEN", "tok-123", 1);
  const config::Config c = mustLoad(
      "upstream:\n"
      "  url: http://127.0.0.1:3000/mcp\n"
      "  discovery:\n"
      "    enabled: true\n"
      "    at_start: true\n"
      "    interval: 30s\n"
      "    headers: {Authorization: \"Bearer ${BULWARK_DISCOVERY_TEST_TOKEN}\", X-Plain: v}\n");
  ::unsetenv("BULWARK_DISCOVERY_TEST_TOKEN");
  const config::DiscoveryConfig& d = c.upstream.discovery;
  CHECK(d.at_start);
  CHECK(d.interval == std::chrono::seconds(30));
  REQUIRE(d.headers.size() == 2);
  CHECK(d.headers[0] == std::pair<std::string, std::string>{"Authorization", "Bearer tok-123"});
  CHECK(d.headers[1] == std::pair<std::string, std::string>{"X-Plain", "v"});
}

TEST_CASE("upstream.discovery: errors name the key, never a value") {
  ::unsetenv("BULWARK_DISCOVERY_TEST_UNSET");
  const auto unset = errorsOf("upstream:\n  url: http://127.0.0.1:3000/mcp\n"
                              "  discovery: {headers: {Authorization: \"Bearer "
                              "${BULWARK_DISCOVERY_TEST_UNSET}\"}}\n");
  CHECK(anyContains(unset, "upstream.discovery.headers.Authorization: environment variable "
                           "\"BULWARK_DISCOVERY_TEST_UNSET\" is not set"));
  CHECK(anyContains(errorsOf("upstream:\n  url: http://127.0.0.1:3000/mcp\n"
                             "  discovery: {headers: {\"Bad Name\": x}}\n"),
                    "not a valid HTTP header name"));
  CHECK(anyContains(errorsOf("upstream:\n  url: http://127.0.0.1:3000/mcp\n"
                             "  discovery: {interval: 10ms}\n"),
                    "upstream.discovery.interval"));
  CHECK(anyContains(errorsOf("upstream:\n  url: http://127.0.0.1:3000/mcp\n"
                             "  discovery: {bogus: 1}\n"),
                    "upstream.discovery.bogus"));
}

TEST_CASE("defaults.retry.never_ran_statuses: a list, empty turns it off, only in defaults") {
  CHECK(mustLoad("upstream: {url: http://127.0.0.1:3000/mcp}\n"
                 "defaults: {retry: {never_ran_statuses: [503]}}\n")
            .never_ran.statuses == std::vector<int>{503});
  CHECK(mustLoad("upstream: {url: http://127.0.0.1:3000/mcp}\n"
                 "defaults: {retry: {never_ran_statuses: []}}\n")
            .never_ran.statuses.empty());
  CHECK(anyContains(errorsOf("upstream: {url: http://127.0.0.1:3000/mcp}\n"
                             "defaults: {retry: {never_ran_statuses: [200]}}\n"),
                    "must be an HTTP error status"));
  CHECK(anyContains(errorsOf("upstream: {url: http://127.0.0.1:3000/mcp}\n"
                             "tools: [{match: x, retry: {never_ran_statuses: [429]}}]\n"),
                    "set it under defaults.retry.never_ran_statuses"));
}
