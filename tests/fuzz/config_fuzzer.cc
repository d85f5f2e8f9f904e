// The YAML configuration loader on any text. It must never throw or crash, and must report bad
// input the way config/config.h promises: either a Config or errors, never both; every error
// naming the file, a 1-based line and column (the text was read, so each error has a place) and
// a message; errors sorted by place. A loaded Config must describe itself and resolve policies.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr std::string_view kFileName = "fuzz.yaml";

void checkErrors(const bulwark::config::ConfigLoadResult& result) {
  FUZZ_CHECK(result.ok() == result.errors.empty(), "a Config and errors together, or neither");
  int line = 0;
  int column = 0;
  for (const bulwark::config::ConfigError& error : result.errors) {
    FUZZ_CHECK(error.file == kFileName, "an error that does not name the file");
    FUZZ_CHECK(!error.message.empty(), "an error without a message");
    FUZZ_CHECK(error.line >= 1 && error.column >= 1, "an error without a line and column");
    FUZZ_CHECK(error.line > line || (error.line == line && error.column >= column),
               "errors not sorted by line and column");
    line = error.line;
    column = error.column;
    FUZZ_CHECK(error.toString().starts_with(std::string(kFileName) + ":"),
               "an error text that does not start with the file");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const bulwark::config::ConfigLoadResult result =
      bulwark::config::loadConfigString(yaml, kFileName);
  checkErrors(result);
  if (result.ok()) {
    const bulwark::config::Config& config = *result.config;
    FUZZ_CHECK(config.source == kFileName, "Config::source is not the file");
    FUZZ_CHECK(!bulwark::config::describeConfig(config).empty(), "an empty description");
    const bulwark::policies::PolicyTable table = bulwark::config::buildPolicyTable(config);
    (void)table.policyFor("tools/call", "get_weather");
    (void)table.policyFor("tools/list");
    (void)table.policyFor("", "");
  }
  return 0;
}
