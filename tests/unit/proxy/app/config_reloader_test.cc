// ConfigReloader on a fresh loop with a real file: a good file is loaded, adjusted and applied;
// a bad one is rejected and counted while the old configuration stays; a change of the file
// (seen by polling) and SIGHUP each trigger a reload; stop() leaves no handle. restartOnlyChanges
// names the settings a reload cannot change.
#include "proxy/app/config_reloader.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/quiet_logs.h"
#include "proxy/admin/metrics.h"
#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

using testing::TestLoop;

struct TempFile {
  std::filesystem::path dir;
  std::filesystem::path path;
  TempFile() {
    char name[] = "/tmp/bulwark-reload-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    dir = name;
    path = dir / "bulwark.yaml";
  }
  ~TempFile() { std::filesystem::remove_all(dir); }
  void write(const std::string& text) const {
    // A new file renamed into place, as an editor or a ConfigMap swap does.
    const auto next = dir / "next.yaml";
    std::ofstream(next) << text;
    std::filesystem::rename(next, path);
  }
};

// Applied configurations, and the reloader under test.
struct Fixture {
  testing::QuietLogs quiet;  // destroyed last
  TestLoop loop;
  Metrics metrics;
  TempFile file;
  std::vector<RuntimeConfigPtr> applied;
  ConfigReloader reloader{loop, file.path.string(), metrics,
                          [](config::Config& c) {
                            std::string error;
                            c.listen = *config::parseHostPort("127.0.0.1:7", error);
                          },
                          [this](RuntimeConfigPtr runtime) { applied.push_back(runtime); }};

  int close() {
    reloader.stop();
    CHECK(loop.runToEnd());
    return loop.close();
  }
};

constexpr const char* kGood = "upstream: {url: 'http://127.0.0.1:3000/mcp'}\n";
constexpr const char* kOther = "upstream: {url: 'http://127.0.0.1:3001/mcp'}\n";

}  // namespace

TEST_CASE("config reloader: a good file is adjusted and applied, a bad one rejected and counted") {
  Fixture f;
  f.file.write(kGood);
  f.reloader.reload("test");
  REQUIRE(f.applied.size() == 1);
  CHECK(f.applied[0]->settings.upstream.url->text == "http://127.0.0.1:3000/mcp");
  CHECK(f.applied[0]->settings.listen.text() == "127.0.0.1:7");  // the command-line override

  f.file.write("upstream: {url: 'http://127.0.0.1:3000/mcp'}\nno_such_key: 1\n");
  f.reloader.reload("test");
  CHECK(f.applied.size() == 1);
  const std::string text = f.metrics.serialize();
  CHECK(text.find(R"(bulwark_config_reloads_total{result="success"} 1)") != std::string::npos);
  CHECK(text.find(R"(bulwark_config_reloads_total{result="failure"} 1)") != std::string::npos);
  CHECK(f.close() == 0);
}

TEST_CASE("config reloader: a changed file is reloaded, by polling") {
  Fixture f;
  f.file.write(kGood);
  REQUIRE(f.reloader.start(std::chrono::milliseconds(10)).empty());
  // The poll takes its first look at the file some time after start(); a change made before
  // that look is no change to it. So the file changes every few milliseconds (growing, so each
  // version differs) until a reload has been seen.
  struct Rewriter {
    uv_timer_t timer{};
    const TempFile* file = nullptr;
    std::string text = kOther;
  } rewriter;
  rewriter.file = &f.file;
  REQUIRE(uv_timer_init(f.loop, &rewriter.timer) == 0);
  rewriter.timer.data = &rewriter;
  REQUIRE(uv_timer_start(
              &rewriter.timer,
              [](uv_timer_t* timer) {
                auto* self = static_cast<Rewriter*>(timer->data);
                self->text += "#\n";
                self->file->write(self->text);
              },
              0, 15) == 0);
  CHECK(f.loop.runUntil([&] { return !f.applied.empty(); }));
  uv_close(reinterpret_cast<uv_handle_t*>(&rewriter.timer), nullptr);
  REQUIRE(!f.applied.empty());
  CHECK(f.applied[0]->settings.upstream.url->text == "http://127.0.0.1:3001/mcp");
  CHECK(f.close() == 0);
}

TEST_CASE("config reloader: SIGHUP reloads") {
  Fixture f;
  f.file.write(kGood);
  REQUIRE(f.reloader.start(std::chrono::milliseconds(60000)).empty());
  REQUIRE(::raise(SIGHUP) == 0);
  CHECK(f.loop.runUntil([&] { return !f.applied.empty(); }));
  CHECK(f.applied.size() == 1);
  CHECK(f.close() == 0);
}

TEST_CASE("config reloader: stop without start, and twice, is harmless") {
  Fixture f;
  f.reloader.stop();
  REQUIRE(f.reloader.start(std::chrono::milliseconds(1000)).empty());
  f.reloader.stop();
  CHECK(f.close() == 0);
}

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

}  // namespace bulwark
