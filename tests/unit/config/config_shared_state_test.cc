// The `shared_state:` section: Redis for replicas. Defaults, every key, the URL forms, and the
// errors (URL, variable names, heartbeat TTL, advertise on a wildcard listen, stdio upstream).
#include "config/config.h"
#include "load_helpers.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;
using namespace std::chrono_literals;

TEST_CASE("shared_state: off unless configured; defaults when the block is there") {
  CHECK_FALSE(mustLoad("listen: 127.0.0.1:8080\n").shared_state.has_value());
  const config::Config c = mustLoad("shared_state: {redis: \"redis://10.1.2.3\"}\n");
  REQUIRE(c.shared_state.has_value());
  const config::SharedStateConfig& s = *c.shared_state;
  CHECK(s.redis == config::HostPort{"10.1.2.3", 6379});
  CHECK(s.redis_db == 0);
  CHECK(s.key_prefix == "bulwark:");
  CHECK_FALSE(s.advertise.has_value()); // the listen address, 127.0.0.1:8080
  CHECK(s.timeout == 50ms);
  CHECK(s.session_ttl == 1h);
  CHECK(s.heartbeat_interval == 1s);
  CHECK(s.heartbeat_ttl == 3s);
  CHECK(s.password_env.empty());
}

TEST_CASE("shared_state: every key is read") {
  const config::Config c = mustLoad(R"(listen: 0.0.0.0:8080
shared_state:
  redis: redis://redis.default.svc:6380/2
  password_env: REDIS_PASSWORD
  key_prefix: "mcp1:"
  advertise: 10.0.0.5:8080
  key_secret_env: BULWARK_KEY_SECRET
  timeout: 20ms
  session_ttl: 10m
  heartbeat_interval: 500ms
  heartbeat_ttl: 2s
)");
  const config::SharedStateConfig& s = *c.shared_state;
  CHECK(s.redis == config::HostPort{"redis.default.svc", 6380});
  CHECK(s.redis_db == 2);
  CHECK(s.redis_url == "redis://redis.default.svc:6380/2");
  CHECK(s.password_env == "REDIS_PASSWORD");
  CHECK(s.key_prefix == "mcp1:");
  CHECK(s.advertise == config::HostPort{"10.0.0.5", 8080});
  CHECK(s.key_secret_env == "BULWARK_KEY_SECRET");
  CHECK(s.timeout == 20ms);
  CHECK(s.session_ttl == 10min);
  CHECK(s.heartbeat_interval == 500ms);
  CHECK(s.heartbeat_ttl == 2s);
  CHECK(config::describeConfig(c).find("shared_state: redis=redis://redis.default.svc:6380/2 "
                                       "advertise=10.0.0.5:8080") != std::string::npos);
  CHECK(mustLoad("shared_state: {redis: \"redis://[::1]\"}\n").shared_state->redis ==
        config::HostPort{"::1", 6379});
}

TEST_CASE("shared_state: errors name the key") {
  CHECK(errorsOf("shared_state:\n  redis: http://127.0.0.1:6379\n") ==
        std::vector<std::string>{"bulwark.yaml:2:10: shared_state.redis: invalid Redis URL "
                                 "\"http://127.0.0.1:6379\": expected redis://HOST:PORT[/DB], e.g. "
                                 "redis://127.0.0.1:6379/0"});
  CHECK(errorsOf("shared_state:\n  redis: redis://:pw@127.0.0.1:6379\n")[0].find(
            "put no credentials in the URL") != std::string::npos);
  CHECK(errorsOf("shared_state:\n  redis: rediss://127.0.0.1:6379\n")[0].find("TLS") !=
        std::string::npos);
  CHECK(errorsOf("shared_state:\n  redis: redis://127.0.0.1:6379/x\n")[0].find(
            "the database after '/' must be a number") != std::string::npos);
  CHECK(errorsOf("shared_state:\n  password_env: \"$REDIS\"\n")[0].find(
            "shared_state.password_env: expected the name of an environment variable") !=
        std::string::npos);
  CHECK(errorsOf("shared_state:\n  heartbeat_interval: 3s\n  heartbeat_ttl: 3s\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:18: shared_state.heartbeat_ttl: shared_state.heartbeat_ttl (3s) must "
            "be longer than heartbeat_interval (3s), or a live sidecar would look gone between "
            "two heartbeats"});
  CHECK(errorsOf("shared_state:\n  timeout: 0s\n").size() == 1);
  CHECK(errorsOf("shared_state:\n  owner: x\n").size() == 1); // unknown key
  CHECK(errorsOf("shared_state:\n").size() == 1);
}

TEST_CASE("shared_state: a wildcard listen address without advertise is left to the flags") {
  // --advertise may complete the file (the pod IP in Kubernetes): main() checks the merged result.
  CHECK(errorsOf("listen: 0.0.0.0:8080\nshared_state:\n  redis: redis://127.0.0.1:6379\n").empty());
  const std::string problem =
      config::missingAdvertiseProblem(config::HostPort{"0.0.0.0", 8080}, std::nullopt);
  CHECK(problem.starts_with("listen is 0.0.0.0:8080, which other sidecars cannot reach"));
  CHECK(problem.find("--advertise=$(POD_IP):8080") != std::string::npos);
  CHECK(problem.find("shared_state.advertise: \"10.0.0.5:8080\"") != std::string::npos);
  CHECK(config::missingAdvertiseProblem(config::HostPort{"0.0.0.0", 8080},
                                        config::HostPort{"10.0.0.5", 8080})
            .empty());
  CHECK(config::missingAdvertiseProblem(config::HostPort{"127.0.0.1", 8080}, std::nullopt).empty());
  CHECK(errorsOf("shared_state: {advertise: \"0.0.0.0:8080\"}\n").size() == 1);
  CHECK(errorsOf("shared_state: {advertise: \"10.0.0.5:0\"}\n").size() == 1);
}

TEST_CASE("shared_state: refused with a stdio upstream") {
  const std::vector<std::string> errors =
      errorsOf("upstream:\n  command: [server]\nshared_state:\n  redis: redis://127.0.0.1\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with("bulwark.yaml:3:1: shared_state: shared_state needs an HTTP "
                              "upstream (upstream.url)"));
}
