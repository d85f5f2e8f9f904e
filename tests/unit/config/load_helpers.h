// What the config tests share: load a YAML text that must be valid, or collect the errors of one
// that is not, each error as "file:line:column: key: message".
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulwark::testing {

inline config::Config mustLoad(std::string_view yaml) {
  config::ConfigLoadResult r = config::loadConfigString(yaml, "test.yaml");
  INFO(r.errorText());
  REQUIRE(r.ok());
  REQUIRE(r.errors.empty());
  return *r.config;
}

inline std::vector<std::string> errorsOf(std::string_view yaml) {
  const config::ConfigLoadResult r = config::loadConfigString(yaml, "bulwark.yaml");
  CHECK(r.ok() == r.errors.empty());
  std::vector<std::string> out;
  for (const config::ConfigError& e : r.errors) {
    out.push_back(e.toString());
  }
  return out;
}

}  // namespace bulwark::testing
