// The key tables: every key declared once, with its range and default, and config/README.md in
// step with them.
#include "config/key_info.h"
#include "load_helpers.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace bulwark::config {
namespace {

using testing::errorsOf;
using testing::mustLoad;

// A YAML document setting `path` (as allKeys() spells it) to `value`, with what the key needs
// around it (a stdio command for the stdio-only upstream keys, a match for a tool rule).
std::string documentFor(const std::string& path, const std::string& value) {
  std::string prefix;
  std::string rest = path;
  std::string extra;
  if (rest.starts_with("tools[].")) {
    rest = rest.substr(8);
    extra = "match: t, ";
    prefix = "tools";
  } else if (rest.starts_with("methods.<name>.")) {
    rest = "tools/call." + rest.substr(15);
    prefix = "methods";
  } else {
    const auto dot = rest.find('.');
    prefix = rest.substr(0, dot);
    rest = dot == std::string::npos ? std::string() : rest.substr(dot + 1);
    if (prefix == "upstream" && rest != "url" && rest != "connect_timeout") {
      extra = "command: [x], ";
    }
  }
  if (rest.empty()) {
    return prefix + ": " + value + "\n";
  }
  std::string inner = value;
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = rest.find('.', start);
    // "tools/call" holds no dot, so splitting on '.' keeps method names whole.
    parts.push_back(rest.substr(start, dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  for (std::size_t i = parts.size(); i-- > 0;) {
    inner = "{" + std::string(i == 0 ? extra : "") + parts[i] + ": " + inner + "}";
  }
  return prefix + ": " + (prefix == "tools" ? "[" + inner + "]" : inner) + "\n";
}

std::string valueText(const KeyInfo& key, double value) {
  const auto whole = static_cast<long long>(value);
  switch (key.kind) {
  case ValueKind::kDuration:
  case ValueKind::kSecondsOrDuration:
    return std::to_string(whole) + "ms";
  case ValueKind::kNumber: {
    std::ostringstream out;
    out.precision(17);
    out << value;
    return out.str();
  }
  default:
    return std::to_string(whole);
  }
}

TEST_CASE("key table: every path is declared once") {
  std::set<std::string> seen;
  for (const KeyInfo& key : allKeys()) {
    INFO("key: ", key.path);
    CHECK(seen.insert(key.path).second);
  }
  CHECK(seen.count("limits.max_headers") == 1);
  CHECK(seen.count("defaults.retry.budget.ratio") == 1);
  CHECK(seen.count("tools[].match") == 1);
  CHECK(seen.count("tools[].retry.budget.ratio") == 0); // the budget is global
  CHECK(seen.count("defaults.match") == 0);
  CHECK(seen.count("methods.<name>.idempotent") == 1);
  CHECK(seen.count("defaults.idempotent") == 0);
}

TEST_CASE("key table: each key's shown default loads without error") {
  for (const KeyInfo& key : allKeys()) {
    // A cache ttl or stale_if_error alone turns the cache on, and on with both 0 is an error.
    if (key.shown_default.empty() || key.path.ends_with("cache.ttl") ||
        key.path.ends_with("cache.stale_if_error")) {
      continue;
    }
    const std::string yaml = documentFor(key.path, "\"" + key.shown_default + "\"");
    INFO("key: ", key.path, "\nyaml: ", yaml);
    mustLoad(yaml);
  }
  // Spot checks against the structs the defaults live in.
  for (const KeyInfo& key : allKeys()) {
    if (key.path == "limits.max_header_bytes") {
      CHECK(key.shown_default == "64KiB");
    } else if (key.path == "defaults.timeout") {
      CHECK(key.shown_default == "30s");
    } else if (key.path == "defaults.retry.budget.ratio") {
      CHECK(key.shown_default == "0.5");
    } else if (key.path == "listen") {
      CHECK(key.shown_default == "127.0.0.1:8080");
    }
  }
}

TEST_CASE("key table: each bounded key refuses a value just outside its range, at its path") {
  int checked = 0;
  for (const KeyInfo& key : allKeys()) {
    if (key.kind == ValueKind::kBool || key.kind == ValueKind::kCustom) {
      continue;
    }
    std::vector<double> outside;
    if (std::isfinite(key.low)) {
      outside.push_back(key.low_open ? key.low : key.low - 1);
    }
    if (std::isfinite(key.high)) {
      outside.push_back(key.high + 1);
    }
    for (double value : outside) {
      if (value < 0 && key.kind != ValueKind::kWhole && key.kind != ValueKind::kNumber) {
        continue; // durations and sizes cannot be written negative
      }
      const std::string yaml = documentFor(key.path, valueText(key, value));
      INFO("key: ", key.path, " range ", key.range, "\nyaml: ", yaml);
      const std::vector<std::string> errors = errorsOf(yaml);
      REQUIRE(errors.size() == 1);
      std::string path = key.path;
      if (path.starts_with("tools[].")) {
        path = "tools[0]." + path.substr(8);
      } else if (path.starts_with("methods.<name>.")) {
        path = "methods.tools/call." + path.substr(15);
      }
      CHECK(errors[0].find(": " + path + ": ") != std::string::npos);
      ++checked;
    }
  }
  CHECK(checked > 30);
}

TEST_CASE("key table: the range text is what the errors say") {
  CHECK(errorsOf("limits: {max_headers: 7}") ==
        std::vector<std::string>{
            "bulwark.yaml:1:23: limits.max_headers: must be between 8 and 10000"});
  for (const KeyInfo& key : allKeys()) {
    if (key.path == "limits.max_headers") {
      CHECK(key.range == "8..10000");
    } else if (key.path == "defaults.circuit_breaker.failure_ratio") {
      CHECK(key.range == "(0, 1]");
    } else if (key.path == "upstream.stop_timeout") {
      CHECK(key.range == "> 0s");
    }
  }
}

// The key column of config/README.md's table, braces expanded: `a.{b, c}` is a.b and a.c.
std::set<std::string> readmeKeys(std::map<std::string, std::string>* defaults) {
  std::ifstream in(std::string(BULWARK_SOURCE_DIR) + "/config/README.md");
  REQUIRE(in.good());
  std::set<std::string> out;
  std::string line;
  bool in_keys = false; // only the table under "## Keys"
  while (std::getline(in, line)) {
    if (line.starts_with("## ")) {
      in_keys = line == "## Keys";
    }
    if (!in_keys || !line.starts_with("| `")) {
      continue;
    }
    const auto end = line.find("` |");
    const auto cell_end = line.find(" |", 2);
    if (end == std::string::npos || cell_end == std::string::npos || end + 1 != cell_end) {
      continue;
    }
    const std::string key = line.substr(3, end - 3);
    std::vector<std::string> expanded;
    if (const auto open = key.find('{'); open != std::string::npos) {
      const auto close = key.find('}', open);
      std::string list = key.substr(open + 1, close - open - 1);
      std::istringstream items(list);
      std::string item;
      while (std::getline(items, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        expanded.push_back(key.substr(0, open) + item + key.substr(close + 1));
      }
    } else {
      expanded.push_back(key);
    }
    // | key | type | default | meaning |: the default is the third cell.
    std::vector<std::string> cells;
    std::istringstream row(line);
    std::string cell;
    while (std::getline(row, cell, '|')) {
      cells.push_back(cell);
    }
    for (const std::string& k : expanded) {
      out.insert(k);
      if (defaults != nullptr && cells.size() > 3) {
        (*defaults)[k] = cells[3];
      }
    }
  }
  return out;
}

TEST_CASE("config/README.md documents every key of the tables, with the table's default") {
  std::map<std::string, std::string> documented_defaults;
  const std::set<std::string> documented = readmeKeys(&documented_defaults);
  REQUIRE(documented.size() > 40);
  // A key is documented by its own row, by rows for the keys inside it (`retry` by
  // `defaults.retry.max_attempts`), and a tool or method key also by a row for its group
  // (`tools[].retry.max_attempts` by `tools[].retry...`, "as in defaults").
  const auto isDocumented = [&](const std::string& path) {
    std::string group = path;
    for (std::string_view block : {"tools[].", "methods.<name>."}) {
      if (path.starts_with(block)) {
        group = path.substr(0, path.find_first_of(".[", block.size()));
      }
    }
    return std::any_of(documented.begin(), documented.end(), [&](const std::string& d) {
      return d == path || d.starts_with(path + ".") || d.starts_with(path + "[") ||
             d.starts_with(group);
    });
  };
  std::set<std::string> declared;
  for (const KeyInfo& key : allKeys()) {
    declared.insert(key.path);
    INFO("key: ", key.path);
    CHECK(isDocumented(key.path));
    const bool own_row = documented.count(key.path) == 1 && !key.path.starts_with("tools[]") &&
                         !key.path.starts_with("methods.");
    if (own_row && !key.shown_default.empty()) {
      CHECK(documented_defaults[key.path].find("`" + key.shown_default + "`") != std::string::npos);
    }
  }
  // And the other way round: every documented key is declared, is a block holding declared keys,
  // or sits inside a declared key whose value has its own reader (`tools[].fallback.text`).
  for (const std::string& key : documented) {
    INFO("documented: ", key);
    const bool known = std::any_of(declared.begin(), declared.end(), [&](const std::string& d) {
      return d == key || d.starts_with(key + ".") || d.starts_with(key + "[].") ||
             key.starts_with(d + ".");
    });
    CHECK(known);
  }
}

} // namespace
} // namespace bulwark::config
