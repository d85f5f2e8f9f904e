// The key table: every key of a mapping declared once, with how its value is read, the range it
// must lie in and where it is stored; readKeys() walks a mapping against it. Unknown keys, type
// errors and range errors are reported by the walk with file, line, column and key path.
// Defaults live in the structs the keys are stored into (config.h, policies/); each entry shows
// its own through `shown_default`, so documentation and tests read them from one place.
#pragma once

#include "config/key_info.h"
#include "config/yaml_reader.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::config {

// The allowed range of a value: durations in milliseconds, sizes in bytes. A message may hold
// "{got}" (the value as written); an empty one reads "must be between LOW and HIGH".
struct Range {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false; // low itself is refused
  std::string_view below = {};
  std::string_view above = {};

  // "1..100", "> 0s", "(0s, 24h]", "1KiB..1MiB": for documentation and tests.
  std::string describe(ValueKind kind) const;
};

constexpr Range between(double low, double high) { return Range{low, high}; }
constexpr Range positive() { return Range{0, Range{}.high, true, "must be greater than 0"}; }

// A value as read, before it is stored. Only the member matching the key's kind is set.
struct Value {
  bool flag = false;
  long long whole = 0; // kWhole, kCount, kSize
  double number = 0;
  Duration duration{};
};

template <class Target> struct Key {
  std::string_view name;
  ValueKind kind;
  Range range = {};
  void (*store)(Target&, const Value&) = nullptr;         // all kinds but kCustom
  void (*read)(Reader&, const Field&, Target&) = nullptr; // kCustom
  std::string (*shown_default)() = nullptr;               // nullptr: none / see docs
  unsigned only_in = ~0u; // a mask of the blocks that accept the key (see readKeys)
};

// Reads one value of `kind`, checking `range`; errors are recorded in `reader`.
std::optional<Value> readValue(Reader& reader, const Field& f, ValueKind kind, const Range& range);

// A known key met by readKeys, and whether its value was valid and stored.
struct KeyRead {
  Field field;
  bool stored = false;
};

// The read of `name` among `reads` when its value was stored (cross-field checks point there).
const Field* storedField(const std::vector<KeyRead>& reads, std::string_view name);

// Walks the mapping at `at`: each key found in `table` (and allowed in `block`) is read and
// stored into `target`; any other key is an error. Returns every known key met, in file order.
template <class Target>
std::vector<KeyRead> readKeys(Reader& reader, const Field& at, std::span<const Key<Target>> table,
                              Target& target, Hints hints = {}, unsigned block = ~0u) {
  std::vector<std::string_view> names;
  for (const Key<Target>& key : table) {
    if ((key.only_in & block) != 0) {
      names.push_back(key.name);
    }
  }
  std::vector<KeyRead> reads;
  for (Field& f : reader.fields(at, names, hints)) {
    for (const Key<Target>& key : table) {
      if (key.name != f.key.Scalar() || (key.only_in & block) == 0) {
        continue;
      }
      bool stored = true;
      if (key.kind == ValueKind::kCustom) {
        key.read(reader, f, target);
      } else if (std::optional<Value> v = readValue(reader, f, key.kind, key.range)) {
        key.store(target, *v);
      } else {
        stored = false;
      }
      reads.push_back({std::move(f), stored});
      break;
    }
  }
  return reads;
}

template <class Target>
void appendKeyInfo(std::vector<KeyInfo>& out, std::string_view prefix,
                   std::span<const Key<Target>> table, unsigned block = ~0u) {
  for (const Key<Target>& key : table) {
    if ((key.only_in & block) != 0) {
      out.push_back({std::string(prefix) + std::string(key.name), key.kind, key.range.low,
                     key.range.high, key.range.low_open, key.range.describe(key.kind),
                     key.shown_default ? key.shown_default() : std::string()});
    }
  }
}

// Defaults as documented: "64KiB", "10s", "true", "0.05".
std::string showSize(std::uint64_t bytes);
std::string showNumber(double value);
inline std::string showBool(bool value) { return value ? "true" : "false"; }

} // namespace bulwark::config
