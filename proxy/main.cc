// bulwark: parse the command line, start the server, run the loop, exit 0 after a clean stop.
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "proxy/cli.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/uv_util.h"

namespace {

int fail(const std::string& line) {
  std::fprintf(stderr, "bulwark: %s\n", line.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bulwark;
  const CliParse parsed = parseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.error.empty()) {
    return fail(parsed.error);
  }
  const CliOptions& options = parsed.options;
  if (options.help) {
    std::fputs(usageText().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("bulwark %s\n", BULWARK_VERSION);
    return 0;
  }
  if (options.log_level) {
    const std::string& level = *options.log_level;
    if (level == "debug") {
      setLogLevel(LogLevel::kDebug);
    } else if (level == "info") {
      setLogLevel(LogLevel::kInfo);
    } else if (level == "warn") {
      setLogLevel(LogLevel::kWarn);
    } else if (level == "error") {
      setLogLevel(LogLevel::kError);
    } else {
      return fail("--log-level must be debug, info, warn or error (got '" + level + "')");
    }
  }

  ServerSettings settings;
  std::string error;
  if (!options.upstream) {
    return fail("no upstream: give --upstream URL (see bulwark --help)");
  }
  const auto upstream = parseUpstreamUrl(*options.upstream, error);
  if (!upstream) {
    return fail("--upstream: " + error);
  }
  settings.upstream = *upstream;
  if (options.listen) {
    const auto listen = parseHostPort(*options.listen, error);
    if (!listen) {
      return fail("--listen: " + error);
    }
    settings.listen = *listen;
  }
  if (options.admin) {
    const auto admin = parseHostPort(*options.admin, error);
    if (!admin) {
      return fail("--admin: " + error);
    }
    settings.admin = *admin;
  }

  // A peer that closes while we write must be an error code, not a fatal signal.
  std::signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop;
  if (const int rc = uv_loop_init(&loop); rc != 0) {
    return fail(uvError("uv_loop_init", rc));
  }
  int exit_code = 0;
  {
    Server server(&loop);
    error = server.start(settings);
    if (!error.empty()) {
      std::fprintf(stderr, "bulwark: %s\n", error.c_str());
      exit_code = 1;
    } else {
      logLine(LogLevel::kInfo, "listening",
              {{"listen", std::string_view(server.dataAddress())},
               {"admin", std::string_view(server.adminAddress())},
               {"upstream", std::string_view(*options.upstream)},
               {"version", BULWARK_VERSION}});
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  const int rc = uv_loop_close(&loop);
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_loop_close", rc));
    return exit_code != 0 ? exit_code : 1;
  }
  if (exit_code == 0) {
    logLine(LogLevel::kInfo, "stopped");
  }
  return exit_code;
}
