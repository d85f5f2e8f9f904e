#include "proxy/app/config_reloader.h"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

namespace bulwark {
namespace {

using Names = std::vector<std::string_view>;

TEST_CASE("restartOnlyChanges: nothing for equal files or for settings a reload applies") {
  config::Config running;
  config::Config next;
  CHECK(restartOnlyChanges(running, next).empty());
  next.monitoring.alert_error_rate = 0.01;
  next.limits.max_body_bytes = 1024;
  next.cache_max_bytes = 1;
  CHECK(restartOnlyChanges(running, next).empty());
}

TEST_CASE("restartOnlyChanges names each setting that needs a restart, by its key path") {
  config::Config running;
  config::Config next;
  next.admin.port = 9902;
  CHECK(restartOnlyChanges(running, next) == Names{"admin"});

  next = running;
  next.listen.host = "0.0.0.0";
  next.upstream.connect_timeout = std::chrono::seconds(3);
  next.upstream.restart.backoff.multiplier = 3;
  next.upstream.max_sessions = 7;
  CHECK(restartOnlyChanges(running, next) ==
        Names{"listen", "upstream.connect_timeout", "upstream.restart", "upstream.max_sessions"});

  next = running;
  std::string error;
  next.upstream.url = config::parseUpstreamUrl("http://127.0.0.1:3001/mcp", error);
  REQUIRE(next.upstream.url);
  next.upstream.command = {"node", "server.js"};
  next.upstream.env = {{"A", "1"}};
  next.upstream.cwd = "/tmp";
  next.upstream.stop_timeout = std::chrono::seconds(9);
  next.upstream.session_idle_timeout = std::chrono::seconds(9);
  CHECK(restartOnlyChanges(running, next) ==
        Names{"upstream.url", "upstream.command", "upstream.env", "upstream.cwd",
              "upstream.stop_timeout", "upstream.session_idle_timeout"});
}

} // namespace
} // namespace bulwark
