// The `sessions:` section: what Bulwark keeps per MCP session for its recovery. Defaults, every
// key, and the errors (range, the handshake cap above the total) at file:line:column and key.
#include "config/config.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;
using namespace std::chrono_literals;

TEST_CASE("sessions: bounded by default") {
  const config::Config c = mustLoad("listen: 127.0.0.1:8080\n");
  CHECK(c.sessions == config::SessionsConfig{});
  CHECK(c.sessions.max_handshake_bytes == 64 * 1024);
  CHECK(c.sessions.max_total_bytes == 16 * 1024 * 1024);
  CHECK(c.sessions.idle_timeout == 1h);
}

TEST_CASE("sessions: every key is read") {
  const config::Config c = mustLoad(R"(sessions:
  max_handshake_bytes: 8KiB
  max_total_bytes: 1MiB
  idle_timeout: 10m
)");
  CHECK(c.sessions.max_handshake_bytes == 8 * 1024);
  CHECK(c.sessions.max_total_bytes == 1024 * 1024);
  CHECK(c.sessions.idle_timeout == 10min);
  CHECK(mustLoad("sessions: {idle_timeout: 0s}\n").sessions.idle_timeout == 0s);
  CHECK(config::describeConfig(c).find("sessions: max_handshake_bytes=8192 "
                                       "max_total_bytes=1048576 idle_timeout=10m") !=
        std::string::npos);
}

TEST_CASE("sessions: errors name the key") {
  CHECK(errorsOf("sessions:\n  max_handshake_bytes: 512\n") ==
        std::vector<std::string>{"bulwark.yaml:2:24: sessions.max_handshake_bytes: must be "
                                 "between 1024 and 67108864 bytes (1KiB..64MiB)"});
  CHECK(errorsOf("sessions:\n  max_handshake_bytes: 2MiB\n  max_total_bytes: 1MiB\n") ==
        std::vector<std::string>{"bulwark.yaml:2:24: sessions.max_handshake_bytes: must not "
                                 "exceed sessions.max_total_bytes (1MiB)"});
  CHECK(errorsOf("sessions:\n  idle_timeout: 169h\n") ==
        std::vector<std::string>{
            "bulwark.yaml:2:17: sessions.idle_timeout: must be at most 168h (0: never)"});
  CHECK(errorsOf("sessions:\n  max_sessions: 10\n").size() == 1);  // unknown key
}
