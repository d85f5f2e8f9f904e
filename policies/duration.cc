#include "policies/duration.h"

#include <charconv>
#include <cmath>

namespace bulwark::policies {
namespace {

// About 31 years: large enough for any sane setting, small enough that sums never overflow.
constexpr double kMaxMilliseconds = 1e12;

std::optional<double> parseNonNegativeNumber(std::string_view text) {
  if (text.empty() || !(text.front() >= '0' && text.front() <= '9')) {
    return std::nullopt; // rejects "-1", "+1", ".5", " 1"
  }
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
  if (ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> fromMilliseconds(double ms) {
  if (!std::isfinite(ms) || ms < 0 || ms > kMaxMilliseconds) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(std::llround(ms))};
}

} // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  std::size_t unit_at = 0;
  while (unit_at < text.size() &&
         ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
    ++unit_at;
  }
  std::string_view unit = text.substr(unit_at);
  double scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e3;
  } else if (unit == "h") {
    scale = 3600e3;
  } else {
    return std::nullopt;
  }
  auto number = parseNonNegativeNumber(text.substr(0, unit_at));
  if (!number) {
    return std::nullopt;
  }
  return fromMilliseconds(*number * scale);
}

std::optional<Duration> parseSeconds(std::string_view text) {
  auto number = parseNonNegativeNumber(text);
  if (!number) {
    return std::nullopt;
  }
  return fromMilliseconds(*number * 1e3);
}

std::string formatDuration(Duration d) {
  const auto ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  const bool negative = ms < 0; // not produced by the parser, but format it honestly
  const auto abs_ms = negative ? -ms : ms;
  std::string sign = negative ? "-" : "";
  if (abs_ms % 3'600'000 == 0) {
    return sign + std::to_string(abs_ms / 3'600'000) + "h";
  }
  if (abs_ms % 60'000 == 0) {
    return sign + std::to_string(abs_ms / 60'000) + "m";
  }
  if (abs_ms % 1000 == 0) {
    return sign + std::to_string(abs_ms / 1000) + "s";
  }
  if (abs_ms < 1000) {
    return sign + std::to_string(abs_ms) + "ms";
  }
  std::string frac = std::to_string(abs_ms % 1000);
  frac.insert(0, 3 - frac.size(), '0');
  while (frac.back() == '0') {
    frac.pop_back();
  }
  return sign + std::to_string(abs_ms / 1000) + "." + frac + "s";
}

} // namespace bulwark::policies
