// The walk over a YAML document that every config section shares: a key with its value and key
// path (Field), and a Reader that collects errors (file:line:column: key: message) and reads the
// primitive values (durations, numbers, sizes, booleans). Private to config/: included only by
// key_table.h, sections/sections.h and config/ sources, never by a header the proxy includes
// (config.h, address.h, key_info.h stay free of yaml-cpp).
#pragma once

#include "config/config.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace bulwark::config {

struct Loc {
  int line = 0;
  int column = 0;
};

Loc locOf(const YAML::Node& n);

// A key and its value inside a mapping (or an element of a list), with its key path.
struct Field {
  YAML::Node key; // undefined for list elements and the document root
  YAML::Node value;
  std::string path;
  Loc fallback{1, 1}; // where to point when neither node has a position

  Loc keyLoc() const;
  // yaml-cpp places an implicit null (`key:` with nothing after it) at the next token, so this
  // points at the key in that case.
  Loc valueLoc() const;
  bool empty() const { return !value.IsDefined() || value.IsNull(); }
  std::string name() const { return key.IsScalar() ? key.Scalar() : std::string(); }
};

std::string describeKind(const YAML::Node& n);
std::string quoted(std::string_view s);
std::string joinPath(const std::string& path, std::string_view key);

// A known key a user wrote one level too high or too low, and where it belongs.
using Hint = std::pair<std::string_view, std::string_view>;
using Hints = std::span<const Hint>;

// "64MiB", "512KiB", "1GiB", "10MB", "1000" (bytes); nullopt past 1TiB or when malformed.
std::optional<std::uint64_t> parseByteSize(std::string_view text);

class Reader {
public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void error(Loc at, std::string path, std::string message) {
    errors_.push_back({file_, at.line, at.column, std::move(path), std::move(message)});
  }
  std::vector<ConfigError>& errors() { return errors_; }

  // The entries of a mapping whose keys are in `known`; every other key (unknown, duplicate, not
  // a plain name) is an error, with a hint or the closest known key when one is obvious.
  std::vector<Field> fields(const Field& at, std::span<const std::string_view> known,
                            Hints hints = {});
  std::vector<Field> elements(const Field& at, std::string_view what);

  std::optional<std::string> scalar(const Field& f, std::string_view expected);
  std::optional<Duration> duration(const Field& f);
  std::optional<Duration> positiveDuration(const Field& f);
  std::optional<Duration> secondsOrDuration(const Field& f);
  std::optional<long long> integer(const Field& f);
  std::optional<double> number(const Field& f);
  std::optional<bool> boolean(const Field& f);
  std::optional<std::string> nonEmptyString(const Field& f);
  std::optional<std::uint64_t> byteSize(const Field& f);

private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

} // namespace bulwark::config
