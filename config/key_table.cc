#include "config/key_table.h"

#include <charconv>
#include <cmath>

namespace bulwark::config {

std::string showNumber(double value) {
  if (std::abs(value) < 1e15 && value == std::floor(value)) {
    return std::to_string(static_cast<long long>(value));
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

std::string showSize(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, std::string_view> kUnits[] = {
      {std::uint64_t{1} << 30, "GiB"}, {std::uint64_t{1} << 20, "MiB"}, {1024, "KiB"}};
  for (const auto& [factor, unit] : kUnits) {
    if (bytes != 0 && bytes % factor == 0) {
      return std::to_string(bytes / factor) + std::string(unit);
    }
  }
  return std::to_string(bytes);
}

std::string Range::describe(ValueKind kind) const {
  const auto show = [kind](double v) {
    if (kind == ValueKind::kDuration || kind == ValueKind::kSecondsOrDuration) {
      return policies::formatDuration(Duration(static_cast<Duration::rep>(v)));
    }
    return kind == ValueKind::kSize ? showSize(static_cast<std::uint64_t>(v)) : showNumber(v);
  };
  const bool has_low = std::isfinite(low);
  const bool has_high = std::isfinite(high);
  if (has_low && has_high) {
    return low_open ? "(" + show(low) + ", " + show(high) + "]" : show(low) + ".." + show(high);
  }
  if (has_low) {
    return (low_open ? "> " : ">= ") + show(low);
  }
  return has_high ? "<= " + show(high) : std::string();
}

namespace {

std::string rangeMessage(std::string_view message, const Range& range, const std::string& got) {
  if (message.empty()) {
    return "must be between " + std::to_string(static_cast<long long>(range.low)) + " and " +
           std::to_string(static_cast<long long>(range.high));
  }
  std::string out(message);
  if (const auto at = out.find("{got}"); at != std::string::npos) {
    out.replace(at, 5, got);
  }
  return out;
}

} // namespace

const Field* storedField(const std::vector<KeyRead>& reads, std::string_view name) {
  for (const KeyRead& r : reads) {
    if (r.stored && r.field.key.Scalar() == name) {
      return &r.field;
    }
  }
  return nullptr;
}

std::optional<Value> readValue(Reader& reader, const Field& f, ValueKind kind, const Range& range) {
  Value v;
  double measured = 0;
  std::string got;
  switch (kind) {
  case ValueKind::kBool: {
    const auto b = reader.boolean(f);
    if (!b) {
      return std::nullopt;
    }
    v.flag = *b;
    return v;
  }
  case ValueKind::kWhole:
  case ValueKind::kCount: {
    const auto n = reader.integer(f);
    if (!n) {
      return std::nullopt;
    }
    if (kind == ValueKind::kCount && *n < 0) {
      reader.error(f.valueLoc(), f.path, "must not be negative");
      return std::nullopt;
    }
    v.whole = *n;
    measured = static_cast<double>(*n);
    got = std::to_string(*n);
    break;
  }
  case ValueKind::kNumber: {
    const auto n = reader.number(f);
    if (!n) {
      return std::nullopt;
    }
    v.number = *n;
    measured = *n;
    got = showNumber(*n);
    break;
  }
  case ValueKind::kDuration:
  case ValueKind::kSecondsOrDuration: {
    const auto d = kind == ValueKind::kDuration ? reader.duration(f) : reader.secondsOrDuration(f);
    if (!d) {
      return std::nullopt;
    }
    v.duration = *d;
    measured = static_cast<double>(d->count());
    got = policies::formatDuration(*d);
    break;
  }
  case ValueKind::kSize: {
    const auto bytes = reader.byteSize(f);
    if (!bytes) {
      return std::nullopt;
    }
    v.whole = static_cast<long long>(*bytes);
    measured = static_cast<double>(*bytes);
    got = std::to_string(*bytes);
    break;
  }
  case ValueKind::kCustom:
    return std::nullopt;
  }
  if (measured < range.low || (range.low_open && measured == range.low)) {
    reader.error(f.valueLoc(), f.path, rangeMessage(range.below, range, got));
    return std::nullopt;
  }
  if (measured > range.high) {
    reader.error(f.valueLoc(), f.path, rangeMessage(range.above, range, got));
    return std::nullopt;
  }
  return v;
}

} // namespace bulwark::config
