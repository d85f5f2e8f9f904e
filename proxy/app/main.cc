// bulwark: parse the command line, start the server, run the loop, exit 0 after a clean stop.
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "policies/duration.h"
#include "proxy/admin/log.h"
#include "proxy/app/cli.h"
#include "proxy/app/server.h"
#include "proxy/net/uv_util.h"

namespace {

bulwark::stdio::BridgeSettings
stdioBridgeSettings(const bulwark::config::UpstreamConfig& upstream) {
  bulwark::stdio::BridgeSettings settings;
  settings.command.argv = upstream.command;
  settings.command.env = upstream.env;
  settings.command.cwd = upstream.cwd;
  settings.command.stop_grace = upstream.stop_timeout;
  settings.restart.backoff = upstream.restart.backoff;
  settings.restart.max_restarts = upstream.restart.max_restarts;
  settings.restart.stable_after = upstream.restart.stable_after;
  settings.max_sessions = upstream.max_sessions;
  settings.session_idle_timeout = upstream.session_idle_timeout;
  return settings;
}

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

  if (options.check_config) {
    const config::ConfigLoadResult checked = config::loadConfigFile(*options.check_config);
    if (!checked.ok()) {
      std::fputs(checked.errorText().c_str(), stderr);
      return 1;
    }
    std::fputs(config::describeConfig(*checked.config).c_str(), stdout);
    return 0;
  }

  std::string error;
  const CliAddresses flags = parseAddressFlags(options, error);
  if (!error.empty()) {
    return fail(error);
  }
  config::Config loaded;
  if (options.config) {
    config::ConfigLoadResult result = config::loadConfigFile(*options.config);
    if (!result.ok()) {
      // Every error, one line each (file:line:column: key: message), and nothing else.
      std::fputs(result.errorText().c_str(), stderr);
      return 1;
    }
    loaded = std::move(*result.config);
  }
  // Command-line flags override the file, on start and on every reload.
  const auto apply_flags = [flags, command = options.command](config::Config& config) {
    if (flags.upstream) {
      config.upstream.url = *flags.upstream;
      config.upstream.command.clear();
    }
    if (!command.empty()) {
      config.upstream.command = command;
      config.upstream.url.reset();
    }
    if (flags.listen) {
      config.listen = *flags.listen;
    }
    if (flags.admin) {
      config.admin = *flags.admin;
    }
    if (flags.advertise && config.shared_state) {
      config.shared_state->advertise = *flags.advertise;
    }
  };
  apply_flags(loaded);
  if (flags.advertise && !loaded.shared_state) {
    return fail("--advertise: only with a shared_state block in --config (see config/README.md)");
  }
  if (const std::string problem = checkFlagsOverConfig(loaded, flags); !problem.empty()) {
    return fail(problem);
  }

  ServerSettings settings;
  std::string upstream_text;
  std::optional<std::string> upstream_warning; // said after "listening", where users look
  if (!loaded.upstream.command.empty()) {
    settings.stdio = stdioBridgeSettings(loaded.upstream);
    upstream_text = "stdio:";
    for (const std::string& arg : loaded.upstream.command) {
      upstream_text += " " + arg;
    }
  } else {
    if (!loaded.upstream.url) {
      return fail("no upstream: give --upstream URL, -- COMMAND, or upstream.url or "
                  "upstream.command in --config (see bulwark --help)");
    }
    settings.upstream = *loaded.upstream.url;
    upstream_text = loaded.upstream.url->text;
    upstream_warning = config::rootPathWarning(*loaded.upstream.url);
  }
  settings.listen = loaded.listen;
  settings.admin = loaded.admin;
  settings.pool.connect_timeout = loaded.upstream.connect_timeout;
  if (options.drain_timeout) {
    const auto grace = policies::parseDuration(*options.drain_timeout);
    if (!grace) {
      return fail("--drain-timeout: invalid duration '" + *options.drain_timeout +
                  "' (use e.g. 500ms, 15s, 1m)");
    }
    settings.drain_timeout = *grace;
  }
  settings.runtime = std::make_shared<const RuntimeConfig>(std::move(loaded));
  if (options.config) {
    settings.config_path = *options.config;
    settings.adjust_reloaded = apply_flags;
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
               {"upstream", std::string_view(upstream_text)},
               {"version", BULWARK_VERSION}});
      if (upstream_warning) {
        logLine(LogLevel::kWarn, *upstream_warning);
      }
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
