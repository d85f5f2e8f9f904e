// The `limits:` and `security:` sections: defaults, every key, and errors that name
// file:line:column and the key.
#include "config/config.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;
using namespace std::chrono_literals;

TEST_CASE("limits and security have safe defaults when absent") {
  const config::Config c = mustLoad("listen: 127.0.0.1:8080\n");
  CHECK(c.limits == config::LimitsConfig{});
  CHECK(c.limits.max_header_bytes == 64 * 1024);
  CHECK(c.limits.max_headers == 100);
  CHECK(c.limits.max_body_bytes == 4 * 1024 * 1024);
  CHECK(c.limits.max_connections == 10000);
  CHECK(c.limits.max_requests_per_connection == 0);
  CHECK(c.limits.header_timeout == 10s);
  CHECK(c.limits.idle_timeout == 60s);
  CHECK(c.limits.max_buffered_bytes == 64 * 1024 * 1024);
  CHECK_FALSE(c.security.allowed_origins.has_value());
  CHECK_FALSE(c.security.allowed_hosts.has_value());
}

TEST_CASE("every limits key is read") {
  const config::Config c = mustLoad(R"(limits:
  max_header_bytes: 16KiB
  max_headers: 40
  max_body_bytes: 1MiB
  max_connections: 500
  max_requests_per_connection: 1000
  max_streams_per_session: 2
  header_timeout: 2s
  body_timeout: 5s
  idle_timeout: 90s
  max_buffered_bytes: 256KiB
)");
  CHECK(c.limits.max_header_bytes == 16 * 1024);
  CHECK(c.limits.max_headers == 40);
  CHECK(c.limits.max_body_bytes == 1024 * 1024);
  CHECK(c.limits.max_connections == 500);
  CHECK(c.limits.max_requests_per_connection == 1000);
  CHECK(c.limits.max_streams_per_session == 2);
  CHECK(c.limits.header_timeout == 2s);
  CHECK(c.limits.body_timeout == 5s);
  CHECK(c.limits.idle_timeout == 90s);
  CHECK(c.limits.max_buffered_bytes == 256 * 1024);
}

TEST_CASE("security lists are read as given") {
  const config::Config c = mustLoad(R"(security:
  allowed_origins: ["https://app.example.com", "http://localhost:*", "http://[::1]:6274"]
  allowed_hosts: [mcp.example.com, "127.0.0.1:*", "*"]
)");
  REQUIRE(c.security.allowed_origins.has_value());
  CHECK(*c.security.allowed_origins ==
        std::vector<std::string>{"https://app.example.com", "http://localhost:*",
                                 "http://[::1]:6274"});
  REQUIRE(c.security.allowed_hosts.has_value());
  CHECK(*c.security.allowed_hosts ==
        std::vector<std::string>{"mcp.example.com", "127.0.0.1:*", "*"});
}

TEST_CASE("an empty allowed_origins list refuses every browser origin") {
  const config::Config c = mustLoad("security:\n  allowed_origins: []\n");
  REQUIRE(c.security.allowed_origins.has_value());
  CHECK(c.security.allowed_origins->empty());
}

TEST_CASE("limits and security errors name file, line, column and key") {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"limits:\n  max_header_bytes: lots\n",
       "bulwark.yaml:2:21: limits.max_header_bytes: invalid size \"lots\" (use bytes or a unit: "
       "512KiB, 64MiB, 1GiB, 100MB; at most 1TiB)"},
      {"limits:\n  max_header_bytes: 100\n",
       "bulwark.yaml:2:21: limits.max_header_bytes: must be between 1024 and 1048576 bytes "
       "(1KiB..1MiB)"},
      {"limits:\n  max_buffered_bytes: 1KiB\n",
       "bulwark.yaml:2:23: limits.max_buffered_bytes: must be between 65536 and 1099511627776 "
       "bytes (64KiB..1TiB)"},
      {"limits:\n  max_headers: 0\n",
       "bulwark.yaml:2:16: limits.max_headers: must be between 8 and 10000"},
      {"limits:\n  max_connections: -1\n",
       "bulwark.yaml:2:20: limits.max_connections: must not be negative"},
      {"limits:\n  idle_timeout: 0s\n",
       "bulwark.yaml:2:17: limits.idle_timeout: must be greater than 0"},
      {"limits:\n  header_timeout: 2d\n",
       "bulwark.yaml:2:19: limits.header_timeout: invalid duration \"2d\" (use e.g. 250ms, 30s, "
       "5m)"},
      {"limits:\n  max_conections: 5\n",
       "bulwark.yaml:2:3: limits.max_conections: unknown key \"max_conections\" (did you mean "
       "\"max_connections\"?)"},
      {"security:\n  allowed_origins: [\"evil.example.com\"]\n",
       "bulwark.yaml:2:21: security.allowed_origins[0]: invalid pattern \"evil.example.com\" "
       "(examples: [\"https://app.example.com\", \"http://localhost:*\", \"*\"])"},
      {"security:\n  allowed_origins: [\"https://app.example.com/path\"]\n",
       "bulwark.yaml:2:21: security.allowed_origins[0]: invalid pattern "
       "\"https://app.example.com/path\" (examples: [\"https://app.example.com\", "
       "\"http://localhost:*\", \"*\"])"},
      {"security:\n  allowed_hosts: \"*\"\n",
       "bulwark.yaml:2:18: security.allowed_hosts: expected a list of patterns, got \"*\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    CHECK(errorsOf(c.yaml) == std::vector<std::string>{c.error});
  }
}

TEST_CASE("describeConfig shows the limits and security in force") {
  const std::string text = config::describeConfig(mustLoad(
      "limits: {max_headers: 50}\nsecurity: {allowed_origins: [\"http://localhost:*\"]}\n"));
  CHECK(text.find("max_headers=50") != std::string::npos);
  CHECK(text.find("allowed_origins=[http://localhost:*]") != std::string::npos);
  CHECK(text.find("allowed_hosts=(default") != std::string::npos);
}
