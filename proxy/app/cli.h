// Command-line options. Flags override the config file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/address.h"
#include "config/config.h"

namespace bulwark {

struct CliOptions {
  std::optional<std::string> upstream;  // --upstream URL
  std::optional<std::string> listen;    // --listen HOST:PORT
  std::optional<std::string> admin;     // --admin HOST:PORT
  std::optional<std::string> advertise; // --advertise HOST:PORT (shared_state.advertise)
  std::optional<std::string> config;    // --config FILE
  std::optional<std::string> check_config;  // --check-config FILE
  std::optional<std::string> log_level;     // --log-level debug|info|warn|error
  std::optional<std::string> drain_timeout; // --drain-timeout DURATION
  std::vector<std::string> command;  // everything after `--`: a stdio server to spawn
  bool help = false;
  bool version = false;
};

struct CliParse {
  CliOptions options;
  std::string error;  // empty on success; otherwise one line for the user
};

CliParse parseCommandLine(const std::vector<std::string>& args);

// --upstream, --listen, --admin and --advertise as typed values, parsed by the config parser
// functions (so a flag and the config key accept exactly the same text).
struct CliAddresses {
  std::optional<config::UpstreamUrl> upstream;
  std::optional<config::HostPort> listen;
  std::optional<config::HostPort> admin;
  std::optional<config::HostPort> advertise;
};

// Empty `error` on success; otherwise one line naming the flag, e.g. "--listen: invalid port ...".
CliAddresses parseAddressFlags(const CliOptions& options, std::string& error);

// What the flags applied over the config make unworkable, as one line for the user; empty when
// fine. Today: shared_state with a wildcard listen address (--listen 0.0.0.0:8080) and no
// advertise address (neither shared_state.advertise nor --advertise), which the config check
// alone cannot see.
std::string checkFlagsOverConfig(const config::Config& merged, const CliAddresses& flags);

std::string usageText();

}  // namespace bulwark
