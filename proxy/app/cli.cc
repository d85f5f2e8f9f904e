#include "proxy/app/cli.h"

#include <string_view>

namespace bulwark {

std::string usageText() {
  return R"(bulwark - a resilience sidecar for MCP servers

usage: bulwark --upstream URL [options]
       bulwark [options] -- COMMAND [ARGS...]
       bulwark --config FILE [options]

options:
  --upstream URL        the MCP server, e.g. http://127.0.0.1:3000/mcp (its path is the
                        MCP endpoint; every other path is forwarded untouched)
  --listen HOST:PORT    data port for MCP clients (default 127.0.0.1:8080)
  --admin HOST:PORT     admin port: /metrics /healthz /readyz (default 127.0.0.1:9901)
  --advertise ADDR      with shared_state: HOST:PORT where other sidecars reach this one's
                        data port (in Kubernetes the pod IP: --advertise=$(POD_IP):8080)
  --config FILE         policy configuration (YAML); flags override it
  --check-config FILE   validate FILE, print every error, exit 0 (valid) or 1
  --log-level LEVEL     debug, info, warn or error (default info)
  --drain-timeout D     after SIGTERM, how long requests in flight may finish (default 15s);
                        a second SIGTERM stops at once
  -- COMMAND [ARGS...]  spawn a stdio MCP server and serve it over Streamable HTTP (one
                        child per client session), e.g.
                        bulwark -- npx -y @modelcontextprotocol/server-memory
  --help                this text
  --version             the version
)";
}

CliParse parseCommandLine(const std::vector<std::string>& args) {
  CliParse result;
  CliOptions& options = result.options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--") {
      options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      if (options.command.empty()) {
        result.error = "'--' must be followed by the command of a stdio MCP server";
      } else if (options.upstream) {
        result.error = "give either --upstream URL or -- COMMAND, not both";
      }
      return result;
    }
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg == "--version") {
      options.version = true;
      continue;
    }
    // Both "--flag value" and "--flag=value".
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const auto equals = arg.find('=');
        arg.starts_with("--") && equals != std::string_view::npos) {
      name = arg.substr(0, equals);
      value = std::string(arg.substr(equals + 1));
    }
    std::optional<std::string>* slot = nullptr;
    if (name == "--upstream") {
      slot = &options.upstream;
    } else if (name == "--listen") {
      slot = &options.listen;
    } else if (name == "--admin") {
      slot = &options.admin;
    } else if (name == "--advertise") {
      slot = &options.advertise;
    } else if (name == "--config") {
      slot = &options.config;
    } else if (name == "--check-config") {
      slot = &options.check_config;
    } else if (name == "--log-level") {
      slot = &options.log_level;
    } else if (name == "--drain-timeout") {
      slot = &options.drain_timeout;
    } else {
      result.error = "unknown option '" + std::string(arg) + "' (see bulwark --help)";
      return result;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        result.error = "option '" + std::string(name) + "' needs a value (see bulwark --help)";
        return result;
      }
      if (args[i + 1].starts_with("--")) {
        result.error = "option '" + std::string(name) + "' needs a value, got the option '" +
                       args[i + 1] + "' (see bulwark --help)";
        return result;
      }
      value = args[++i];
    }
    if (value->empty()) {
      result.error = "option '" + std::string(name) + "' needs a non-empty value";
      return result;
    }
    *slot = std::move(*value);
  }
  return result;
}

CliAddresses parseAddressFlags(const CliOptions& options, std::string& error) {
  CliAddresses out;
  std::string detail;
  if (options.upstream) {
    out.upstream = config::parseUpstreamUrl(*options.upstream, detail);
    if (!out.upstream) {
      error = "--upstream: " + detail;
      return out;
    }
  }
  if (options.listen) {
    out.listen = config::parseHostPort(*options.listen, detail);
    if (!out.listen) {
      error = "--listen: " + detail;
      return out;
    }
  }
  if (options.admin) {
    out.admin = config::parseHostPort(*options.admin, detail);
    if (!out.admin) {
      error = "--admin: " + detail;
      return out;
    }
  }
  if (options.advertise) {
    out.advertise = config::parseHostPort(*options.advertise, detail);
    if (!out.advertise) {
      error = "--advertise: " + detail;
    }
  }
  return out;
}

std::string checkFlagsOverConfig(const config::Config& merged, const CliAddresses& flags) {
  if (!merged.shared_state) {
    return {};
  }
  const std::string problem = config::missingAdvertiseProblem(
      merged.listen, merged.shared_state->advertise, flags.listen.has_value());
  return problem.empty() ? problem : "shared_state: no advertise address: " + problem;
}

}  // namespace bulwark
