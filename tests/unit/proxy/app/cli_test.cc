#include "proxy/app/cli.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

namespace bulwark {
namespace {

struct Flag {
  const char* name;
  std::optional<std::string> CliOptions::*slot;
};

const Flag kFlags[] = {
    {"--upstream", &CliOptions::upstream},
    {"--listen", &CliOptions::listen},
    {"--admin", &CliOptions::admin},
    {"--config", &CliOptions::config},
    {"--check-config", &CliOptions::check_config},
    {"--log-level", &CliOptions::log_level},
};

// Every value-taking option other than `except` is unset.
void checkOthersUnset(const CliOptions& options, const Flag* except) {
  for (const Flag& flag : kFlags) {
    if (&flag != except) {
      INFO("flag: ", flag.name);
      CHECK_FALSE((options.*flag.slot).has_value());
    }
  }
  CHECK_FALSE(options.help);
  CHECK_FALSE(options.version);
}

TEST_CASE("no arguments: nothing set, no error") {
  const CliParse parsed = parseCommandLine({});
  CHECK(parsed.error.empty());
  checkOthersUnset(parsed.options, nullptr);
}

TEST_CASE("every flag takes its value as the next argument") {
  for (const Flag& flag : kFlags) {
    INFO("flag: ", flag.name);
    const CliParse parsed = parseCommandLine({flag.name, "some value"});
    CHECK(parsed.error.empty());
    REQUIRE((parsed.options.*flag.slot).has_value());
    CHECK(*(parsed.options.*flag.slot) == "some value");
    checkOthersUnset(parsed.options, &flag);
  }
}

TEST_CASE("every flag takes its value after '='") {
  for (const Flag& flag : kFlags) {
    INFO("flag: ", flag.name);
    const CliParse parsed = parseCommandLine({std::string(flag.name) + "=v1"});
    CHECK(parsed.error.empty());
    REQUIRE((parsed.options.*flag.slot).has_value());
    CHECK(*(parsed.options.*flag.slot) == "v1");
    checkOthersUnset(parsed.options, &flag);
  }
}

TEST_CASE("a value after '=' is split at the first '=' only and may look like a flag") {
  CliParse parsed = parseCommandLine({"--upstream=http://h/mcp?a=b=c"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.upstream == "http://h/mcp?a=b=c");

  parsed = parseCommandLine({"--config=--listen"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.config == "--listen");
  CHECK_FALSE(parsed.options.listen.has_value());
}

TEST_CASE("all flags together, both forms mixed") {
  const CliParse parsed = parseCommandLine({"--upstream", "http://127.0.0.1:3000/mcp",
                                            "--listen=127.0.0.1:8080", "--admin", "127.0.0.1:9090",
                                            "--config=/etc/bulwark.yaml", "--log-level", "debug"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.upstream == "http://127.0.0.1:3000/mcp");
  CHECK(parsed.options.listen == "127.0.0.1:8080");
  CHECK(parsed.options.admin == "127.0.0.1:9090");
  CHECK(parsed.options.config == "/etc/bulwark.yaml");
  CHECK(parsed.options.log_level == "debug");
  CHECK_FALSE(parsed.options.check_config.has_value());
  CHECK_FALSE(parsed.options.help);
  CHECK_FALSE(parsed.options.version);
}

TEST_CASE("a repeated flag keeps the last value") {
  const CliParse parsed = parseCommandLine({"--listen", "a:1", "--listen=b:2"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.listen == "b:2");
}

TEST_CASE("--help, -h and --version") {
  CliParse parsed = parseCommandLine({"--help"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.help);
  CHECK_FALSE(parsed.options.version);

  parsed = parseCommandLine({"-h"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.help);

  parsed = parseCommandLine({"--version"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.version);
  CHECK_FALSE(parsed.options.help);

  parsed = parseCommandLine({"--listen", "h:1", "--version", "--help"});
  CHECK(parsed.error.empty());
  CHECK(parsed.options.help);
  CHECK(parsed.options.version);
  CHECK(parsed.options.listen == "h:1");
}

TEST_CASE("--help and --version take no value") {
  CliParse parsed = parseCommandLine({"--help=yes"});
  CHECK(parsed.error == "unknown option '--help=yes' (see bulwark --help)");
  parsed = parseCommandLine({"--version=1"});
  CHECK(parsed.error == "unknown option '--version=1' (see bulwark --help)");
}

TEST_CASE("usage text names every flag") {
  const std::string usage = usageText();
  for (const Flag& flag : kFlags) {
    INFO("flag: ", flag.name);
    CHECK(usage.find(flag.name) != std::string::npos);
  }
  CHECK(usage.find("--help") != std::string::npos);
  CHECK(usage.find("--version") != std::string::npos);
}

TEST_CASE("usage text: the three ways to start, and one column for every description") {
  const std::string usage = usageText();
  CHECK(usage.find("bulwark --upstream URL [options]") != std::string::npos);
  CHECK(usage.find("bulwark [options] -- COMMAND [ARGS...]") != std::string::npos);
  CHECK(usage.find("bulwark --config FILE [options]") != std::string::npos);
  // An option line is "  --name ARG  description"; its description starts where the first
  // option line's does, and so do the continuation lines below it.
  std::size_t column = 0;
  std::size_t start = usage.find("\noptions:\n");
  REQUIRE(start != std::string::npos);
  start += 10;
  while (start < usage.size()) {
    const std::size_t end = usage.find('\n', start);
    const std::string line = usage.substr(start, end - start);
    start = end == std::string::npos ? usage.size() : end + 1;
    if (!line.starts_with("  ")) {
      continue;
    }
    INFO("line: ", line);
    const std::size_t text = line.find_first_not_of(' ');
    const std::size_t gap = line.find("  ", text);
    const std::size_t description =
        line.starts_with("  -") ? line.find_first_not_of(' ', gap) : text;
    REQUIRE(description != std::string::npos);
    if (column == 0) {
      column = description;
    }
    CHECK(description == column);
  }
  CHECK(column > 0);
}

TEST_CASE("an unknown flag or a stray argument is an error naming it") {
  CHECK(parseCommandLine({"--upstrem", "x"}).error ==
        "unknown option '--upstrem' (see bulwark --help)");
  CHECK(parseCommandLine({"--upstrem=x"}).error ==
        "unknown option '--upstrem=x' (see bulwark --help)");
  CHECK(parseCommandLine({"http://127.0.0.1/mcp"}).error ==
        "unknown option 'http://127.0.0.1/mcp' (see bulwark --help)");
  CHECK(parseCommandLine({"-u", "x"}).error == "unknown option '-u' (see bulwark --help)");
  // `--` starts a stdio command (stdio_restart_test.cc).
  // Names are case-sensitive.
  CHECK_FALSE(parseCommandLine({"--LISTEN", "h:1"}).error.empty());
  // Flags before the bad one were parsed, which does not make the result usable.
  CHECK_FALSE(parseCommandLine({"--listen", "h:1", "--bogus"}).error.empty());
}

TEST_CASE("a flag at the end without its value is an error") {
  for (const Flag& flag : kFlags) {
    INFO("flag: ", flag.name);
    const CliParse parsed = parseCommandLine({"--help", flag.name});
    CHECK(parsed.error ==
          "option '" + std::string(flag.name) + "' needs a value (see bulwark --help)");
  }
}

TEST_CASE("an empty value is an error in either form") {
  for (const Flag& flag : kFlags) {
    INFO("flag: ", flag.name);
    const std::string expected = "option '" + std::string(flag.name) + "' needs a non-empty value";
    CHECK(parseCommandLine({flag.name, ""}).error == expected);
    CHECK(parseCommandLine({std::string(flag.name) + "="}).error == expected);
  }
}

TEST_CASE("--advertise is a HOST:PORT read like --listen") {
  const CliParse parsed =
      parseCommandLine({"--advertise=10.0.0.7:8080", "--upstream", "http://127.0.0.1:3000/mcp"});
  REQUIRE(parsed.error.empty());
  std::string error;
  const CliAddresses flags = parseAddressFlags(parsed.options, error);
  CHECK(error.empty());
  REQUIRE(flags.advertise.has_value());
  CHECK(flags.advertise->host == "10.0.0.7");
  CHECK(flags.advertise->port == 8080);

  const CliParse bad = parseCommandLine({"--advertise", "10.0.0.7"});
  REQUIRE(bad.error.empty());
  parseAddressFlags(bad.options, error);
  CHECK(error.starts_with("--advertise: "));
}

TEST_CASE("--listen on a wildcard with shared_state and no advertise address is refused") {
  std::string parse_error;
  const CliAddresses flags =
      parseAddressFlags(parseCommandLine({"--listen", "0.0.0.0:8080"}).options, parse_error);
  REQUIRE(parse_error.empty());
  config::Config merged;
  merged.listen = *flags.listen;
  CHECK(checkFlagsOverConfig(merged, flags).empty()); // no shared_state: nothing to advertise

  merged.shared_state.emplace();
  const std::string error = checkFlagsOverConfig(merged, flags);
  CHECK(error.starts_with("shared_state: no advertise address: --listen is 0.0.0.0:8080, "));
  CHECK(error.find("shared_state.advertise") != std::string::npos);
  CHECK(error.find("--advertise=$(POD_IP):8080") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos); // one line

  merged.listen = {"::", 8080};
  CHECK(checkFlagsOverConfig(merged, flags).find("--listen is [::]:8080") != std::string::npos);

  merged.shared_state->advertise = config::HostPort{"10.0.0.5", 8080}; // key or --advertise
  CHECK(checkFlagsOverConfig(merged, flags).empty());
  merged.shared_state->advertise.reset();
  merged.listen = {"127.0.0.1", 8080}; // reachable as it is: advertised as bound
  CHECK(checkFlagsOverConfig(merged, flags).empty());
}

} // namespace
} // namespace bulwark
