#include "config/yaml_reader.h"

#include "policies/edit_distance.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>

namespace bulwark::config {

// 1 TiB: far above any sensible size, far below overflow.
constexpr std::uint64_t kMaxByteSize = std::uint64_t{1} << 40;
constexpr std::string_view kDurationHint = "(use e.g. 250ms, 30s, 5m)";

Loc locOf(const YAML::Node& n) {
  if (!n.IsDefined()) {
    return {};
  }
  const YAML::Mark m = n.Mark();
  if (m.is_null() || m.line < 0) {
    return {};
  }
  return {m.line + 1, m.column + 1};
}

Loc Field::keyLoc() const {
  Loc l = key.IsDefined() ? locOf(key) : Loc{};
  return l.line > 0 ? l : valueLoc();
}

Loc Field::valueLoc() const {
  if (value.IsDefined() && !value.IsNull()) {
    Loc l = locOf(value);
    if (l.line > 0) {
      return l;
    }
  }
  Loc l = key.IsDefined() ? locOf(key) : locOf(value);
  return l.line > 0 ? l : fallback;
}

std::string joinPath(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string describeKind(const YAML::Node& n) {
  switch (n.Type()) {
  case YAML::NodeType::Scalar:
    return "\"" + n.Scalar() + "\"";
  case YAML::NodeType::Sequence:
    return "a list";
  case YAML::NodeType::Map:
    return "a mapping";
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    break;
  }
  return "nothing";
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

namespace {

// The closest known key when it is obviously what was meant.
std::optional<std::string_view> closestKey(std::string_view name,
                                           std::span<const std::string_view> known) {
  std::optional<std::string_view> best;
  std::size_t best_distance = std::max<std::size_t>(1, name.size() / 3) + 1;
  for (std::string_view k : known) {
    const std::size_t d = policies::editDistance(name, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  if (best) {
    return best;
  }
  // A prefix of a longer key ("per_try" -> "per_try_timeout"), or a longer word sharing a key's
  // first four letters ("retries" -> "retry").
  for (std::string_view k : known) {
    if (name.size() >= 3 && k.substr(0, name.size()) == name) {
      return k;
    }
  }
  for (std::string_view k : known) {
    const std::size_t n = std::min<std::size_t>(4, k.size());
    if (name.size() >= n && k.substr(0, n) == name.substr(0, n)) {
      return k;
    }
  }
  return std::nullopt;
}

} // namespace

// "64MiB", "512KiB", "1GiB", "10MB", "1000" (bytes): a whole or decimal number and an optional
// unit (B, KB, MB, GB decimal; KiB, MiB, GiB binary).
std::optional<std::uint64_t> parseByteSize(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  const std::string_view number = text.substr(0, i);
  const std::string_view unit = text.substr(i);
  if (number.empty() || number.front() == '.' || number.back() == '.') {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || ptr != number.data() + number.size()) {
    return std::nullopt;
  }
  static constexpr std::array<std::pair<std::string_view, double>, 8> kUnits = {{
      {"", 1},
      {"B", 1},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"KiB", 1024.0},
      {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      const double bytes = std::round(value * factor);
      if (bytes > static_cast<double>(kMaxByteSize)) {
        return std::nullopt;
      }
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

std::vector<Field> Reader::fields(const Field& at, std::span<const std::string_view> known,
                                  Hints hints) {
  std::vector<Field> out;
  if (at.empty()) {
    return out; // `key:` with nothing: same as an empty mapping
  }
  if (!at.value.IsMap()) {
    error(at.valueLoc(), at.path, "expected a mapping, got " + describeKind(at.value));
    return out;
  }
  std::map<std::string, Loc> seen;
  for (auto it = at.value.begin(); it != at.value.end(); ++it) {
    Field f{it->first, it->second, "", at.fallback};
    if (!f.key.IsScalar()) {
      error(f.keyLoc(), at.path, "keys must be plain names, got " + describeKind(f.key));
      continue;
    }
    const std::string name = f.key.Scalar();
    f.path = joinPath(at.path, name);
    if (auto [prev, inserted] = seen.emplace(name, f.keyLoc()); !inserted) {
      error(f.keyLoc(), f.path,
            "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = "unknown key " + quoted(name);
      const auto hint =
          std::find_if(hints.begin(), hints.end(), [&](const auto& h) { return h.first == name; });
      if (hint != hints.end()) {
        message += " (did you mean " + std::string(hint->second) + "?)";
      } else if (auto close = closestKey(name, known)) {
        message += " (did you mean " + quoted(*close) + "?)";
      } else {
        message += " (known keys:";
        for (std::string_view k : known) {
          message += " " + std::string(k);
        }
        message += ")";
      }
      error(f.keyLoc(), f.path, std::move(message));
      continue;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Field> Reader::elements(const Field& at, std::string_view what) {
  std::vector<Field> out;
  if (at.empty()) {
    return out;
  }
  if (!at.value.IsSequence()) {
    error(at.valueLoc(), at.path,
          "expected a list of " + std::string(what) + ", got " + describeKind(at.value));
    return out;
  }
  std::size_t i = 0;
  for (auto it = at.value.begin(); it != at.value.end(); ++it, ++i) {
    Field f{YAML::Node(YAML::NodeType::Undefined), *it, at.path + "[" + std::to_string(i) + "]",
            at.valueLoc()};
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<std::string> Reader::scalar(const Field& f, std::string_view expected) {
  if (!f.value.IsScalar()) {
    error(f.valueLoc(), f.path,
          "expected " + std::string(expected) + ", got " + describeKind(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<Duration> Reader::duration(const Field& f) {
  auto text = scalar(f, "a duration " + std::string(kDurationHint));
  if (!text) {
    return std::nullopt;
  }
  auto d = policies::parseDuration(*text);
  if (!d) {
    error(f.valueLoc(), f.path,
          "invalid duration " + quoted(*text) + " " + std::string(kDurationHint));
  }
  return d;
}

std::optional<Duration> Reader::positiveDuration(const Field& f) {
  auto d = duration(f);
  if (d && d->count() <= 0) {
    error(f.valueLoc(), f.path, "must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<Duration> Reader::secondsOrDuration(const Field& f) {
  auto text = scalar(f, "a number of seconds or a duration");
  if (!text) {
    return std::nullopt;
  }
  if (auto d = policies::parseSeconds(*text)) {
    return d;
  }
  if (auto d = policies::parseDuration(*text)) {
    return d;
  }
  error(f.valueLoc(), f.path,
        "invalid duration " + quoted(*text) + " (use seconds, e.g. 1 or 0.5, or 250ms, 30s, 5m)");
  return std::nullopt;
}

std::optional<long long> Reader::integer(const Field& f) {
  auto text = scalar(f, "a whole number");
  if (!text) {
    return std::nullopt;
  }
  long long value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end) {
    error(f.valueLoc(), f.path, "expected a whole number, got " + quoted(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<double> Reader::number(const Field& f) {
  auto text = scalar(f, "a number");
  if (!text) {
    return std::nullopt;
  }
  double value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    error(f.valueLoc(), f.path, "expected a number, got " + quoted(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::boolean(const Field& f) {
  auto text = scalar(f, "true or false");
  if (!text) {
    return std::nullopt;
  }
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    return true;
  }
  if (*text == "false" || *text == "False" || *text == "FALSE") {
    return false;
  }
  error(f.valueLoc(), f.path, "expected true or false, got " + quoted(*text));
  return std::nullopt;
}

std::optional<std::string> Reader::nonEmptyString(const Field& f) {
  auto text = scalar(f, "a string");
  if (text && text->empty()) {
    error(f.valueLoc(), f.path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<std::uint64_t> Reader::byteSize(const Field& f) {
  auto text = scalar(f, "a size such as 64MiB");
  if (!text) {
    return std::nullopt;
  }
  auto bytes = parseByteSize(*text);
  if (!bytes) {
    error(f.valueLoc(), f.path,
          "invalid size " + quoted(*text) +
              " (use bytes or a unit: 512KiB, 64MiB, 1GiB, 100MB; at most 1TiB)");
  }
  return bytes;
}

} // namespace bulwark::config
