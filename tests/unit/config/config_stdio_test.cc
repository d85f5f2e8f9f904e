// upstream.command and the keys of a stdio server.
#include "config/config.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "load_helpers.h"

using namespace bulwark;
using testing::errorsOf;
using testing::mustLoad;

namespace {


TEST_CASE("upstream.command with env, cwd, restart and limits") {
  const auto r = config::loadConfigString(
      "upstream:\n"
      "  command: [npx, -y, \"@modelcontextprotocol/server-memory\"]\n"
      "  env: {MEMORY_FILE_PATH: /tmp/m.jsonl, EMPTY: \"\"}\n"
      "  cwd: /srv\n"
      "  restart: {backoff: {base: 50ms, multiplier: 3, max: 2s}, max_restarts: 7, "
      "stable_after: 30s}\n"
      "  stop_timeout: 500ms\n"
      "  session_idle_timeout: 5m\n"
      "  max_sessions: 8\n",
      "bulwark.yaml");
  REQUIRE(r.ok());
  const config::UpstreamConfig& u = r.config->upstream;
  CHECK_FALSE(u.url);
  CHECK(u.command == std::vector<std::string>{"npx", "-y", "@modelcontextprotocol/server-memory"});
  REQUIRE(u.env.size() == 2);
  CHECK(u.env[0] == std::pair<std::string, std::string>{"MEMORY_FILE_PATH", "/tmp/m.jsonl"});
  CHECK(u.env[1] == std::pair<std::string, std::string>{"EMPTY", ""});
  CHECK(u.cwd == "/srv");
  CHECK(u.restart.backoff.base == std::chrono::milliseconds(50));
  CHECK(u.restart.backoff.multiplier == 3.0);
  CHECK(u.restart.backoff.max == std::chrono::seconds(2));
  CHECK(u.restart.max_restarts == 7);
  CHECK(u.restart.stable_after == std::chrono::seconds(30));
  CHECK(u.stop_timeout == std::chrono::milliseconds(500));
  CHECK(u.session_idle_timeout == std::chrono::minutes(5));
  CHECK(u.max_sessions == 8);
  CHECK(config::describeConfig(*r.config).find("stdio command: npx -y") != std::string::npos);
}

TEST_CASE("upstream.command errors name file, line, column and key") {
  CHECK(errorsOf("upstream:\n  url: http://127.0.0.1:1/mcp\n  command: [x]\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:3: upstream.command: give either upstream.url (an HTTP server) or "
            "upstream.command (a stdio server to spawn), not both"});
  CHECK(errorsOf("upstream:\n  command: npx -y server\n") ==
        std::vector<std::string>{
            "bulwark.yaml:2:12: upstream.command: expected the command as a list, e.g. [npx, -y, "
            "@modelcontextprotocol/server-memory], got \"npx -y server\""});
  CHECK(errorsOf("upstream:\n  command: []\n") ==
        std::vector<std::string>{"bulwark.yaml:2:12: upstream.command: must name a program to run"});
  CHECK(errorsOf("upstream:\n  command: [npx, \"\"]\n") ==
        std::vector<std::string>{"bulwark.yaml:2:18: upstream.command[1]: must not be empty"});
  CHECK(errorsOf("upstream:\n  url: http://127.0.0.1:1/mcp\n  env: {A: b}\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:3: upstream.env: applies only to a stdio server: set "
            "upstream.command too"});
  CHECK(errorsOf("upstream:\n  command: [x]\n  env: [A=b]\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:8: upstream.env: expected a mapping of variable names to values, e.g. "
            "{MEMORY_FILE_PATH: /tmp/memory.jsonl}, got a list"});
  CHECK(errorsOf("upstream:\n  command: [x]\n  restart: {max_restart: 3}\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:13: upstream.restart.max_restart: unknown key \"max_restart\" (did "
            "you mean \"max_restarts\"?)"});
  CHECK(errorsOf("upstream:\n  command: [x]\n  restart: {backoff: {base: 2s, max: 1s}}\n") ==
        std::vector<std::string>{
            "bulwark.yaml:3:22: upstream.restart.backoff: max (1s) must be at least base (2s)"});
  CHECK(errorsOf("upstream:\n  command: [x]\n  max_sessions: 0\n") ==
        std::vector<std::string>{"bulwark.yaml:3:17: upstream.max_sessions: must be between 1 and "
                                 "100000"});
}

}  // namespace
