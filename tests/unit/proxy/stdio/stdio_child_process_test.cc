// ChildProcess on a fresh loop: lines both ways, exit reporting, spawn failure, and the MCP
// stdio shutdown (stdin closed, then SIGTERM, then SIGKILL). Every case ends by closing the
// loop with no handle left. Nothing here measures time: the grace periods are short only so
// that the escalation case finishes quickly.
#include <doctest/doctest.h>
#include <signal.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/admin/log.h"
#include "proxy/stdio/child_process.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/test_loop.h"

namespace bulwark::stdio {
namespace {

struct Recorder final : ChildObserver {
  std::vector<std::string> lines;
  std::vector<bool> truncated;
  std::optional<ChildExit> exited;
  ChildProcess* child = nullptr;
  std::size_t stop_after_lines = 0;  // 0: never stop from here

  void onChildLine(std::string_view line, bool was_truncated) override {
    lines.emplace_back(line);
    truncated.push_back(was_truncated);
    if (stop_after_lines != 0 && lines.size() == stop_after_lines) {
      child->stop();
    }
  }
  void onChildExit(const ChildExit& e) override { exited = e; }
};

// The shared test loop, with the child's start and stop lines kept out of the test's output.
struct Loop {
  bulwark::testing::QuietLogs quiet;  // destroyed last
  bulwark::testing::TestLoop harness;
  uv_loop_t& loop = *harness.get();
  void run() { CHECK(harness.runToEnd()); }
  ~Loop() { CHECK(harness.close() == 0); }  // no handle left behind
};

ChildCommand shell(const std::string& script) {
  ChildCommand command;
  command.argv = {"/bin/sh", "-c", script};
  command.stop_grace = std::chrono::milliseconds(50);
  return command;
}

std::string readFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool processGone(int pid) { return ::kill(pid, 0) != 0; }

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/bulwark-child-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST_CASE("child: lines written to stdin come back on stdout; exit status is reported") {
  Loop loop;
  Recorder recorder;
  std::string error;
  ChildCommand command = shell(R"(read -r a; read -r b; echo "$b"; echo "$a"; exit 7)");
  command.env = {{"BULWARK_TEST_VAR", "x"}};
  ChildProcess* child = ChildProcess::spawn(&loop.loop, command, recorder, error);
  REQUIRE(child != nullptr);
  CHECK(error.empty());
  const int pid = child->pid();
  child->send(R"({"id":1})");
  child->send(R"({"id":2})");
  loop.run();
  CHECK(recorder.lines == std::vector<std::string>{R"({"id":2})", R"({"id":1})"});
  REQUIRE(recorder.exited);
  CHECK(recorder.exited->exit_status == 7);
  CHECK(recorder.exited->term_signal == 0);
  CHECK(processGone(pid));
}

TEST_CASE("child: environment overrides and the working directory reach it") {
  Loop loop;
  Recorder recorder;
  TempDir dir;
  std::string error;
  ChildCommand command = shell(R"sh(echo "$BULWARK_TEST_VAR $(pwd)")sh");
  command.env = {{"BULWARK_TEST_VAR", "from-config"}};
  command.cwd = dir.path.string();
  REQUIRE(ChildProcess::spawn(&loop.loop, command, recorder, error) != nullptr);
  loop.run();
  REQUIRE(recorder.lines.size() == 1);
  CHECK(recorder.lines[0] ==
        "from-config " + std::filesystem::canonical(dir.path).string());
}

TEST_CASE("child: a line over the cap is reported truncated") {
  Loop loop;
  Recorder recorder;
  std::string error;
  ChildCommand command = shell(R"(echo 0123456789abcdef; echo ok)");
  command.max_line_bytes = 10;
  REQUIRE(ChildProcess::spawn(&loop.loop, command, recorder, error) != nullptr);
  loop.run();
  CHECK(recorder.lines == std::vector<std::string>{"0123456789", "ok"});
  CHECK(recorder.truncated == std::vector<bool>{true, false});
}

TEST_CASE("child: a program that does not exist fails at spawn, with no handle left") {
  Loop loop;
  Recorder recorder;
  std::string error;
  ChildCommand command;
  command.argv = {"/nonexistent/bulwark-test-program"};
  CHECK(ChildProcess::spawn(&loop.loop, command, recorder, error) == nullptr);
  CHECK(error.rfind("uv_spawn: ENOENT", 0) == 0);
  loop.run();  // the handles close and the object frees itself
  CHECK_FALSE(recorder.exited);
}

// Runs `script` (which prints a line once it is up; `$LOG` names a file it may write), stops
// it after that line, and runs the loop until the process is gone. Returns what it logged.
std::string stopOnceUp(const std::string& script) {
  Loop loop;
  Recorder recorder;
  TempDir dir;
  const auto log = dir.path / "log";
  std::string error;
  ChildCommand command = shell(script);
  command.env = {{"LOG", log.string()}};
  ChildProcess* child = ChildProcess::spawn(&loop.loop, command, recorder, error);
  REQUIRE(child != nullptr);
  recorder.child = child;
  recorder.stop_after_lines = 1;
  const int pid = child->pid();
  loop.run();  // returns only once the process is gone and every handle closed
  CHECK_FALSE(recorder.exited);  // stop() detaches the observer
  CHECK(processGone(pid));
  return readFile(log);
}

TEST_CASE("stop: a server that exits when stdin closes gets no signal") {
  CHECK(stopOnceUp(R"(trap 'echo term >> "$LOG"; exit 1' TERM; echo up; cat > /dev/null; )"
                   R"(echo eof >> "$LOG")") == "eof\n");
}

TEST_CASE("stop: a server that ignores stdin and SIGTERM is killed") {
  // It ignores both, so only SIGKILL can have ended it; SIGTERM came first.
  CHECK(stopOnceUp(R"(trap 'echo term >> "$LOG"' TERM; exec 0</dev/null; echo up; )"
                   R"(while :; do sleep 0.02; done)")
            .find("term") != std::string::npos);
}

}  // namespace
}  // namespace bulwark::stdio
