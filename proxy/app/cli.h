// Command-line options. Flags override the config file.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bulwark {

struct CliOptions {
  std::optional<std::string> upstream;  // --upstream URL
  std::optional<std::string> listen;    // --listen HOST:PORT
  std::optional<std::string> admin;     // --admin HOST:PORT
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

std::string usageText();

}  // namespace bulwark
