// Every configuration key as the key tables declare it: its path, kind, allowed range and
// default. For documentation checks and tests; no yaml-cpp here.
#pragma once

#include <string>
#include <vector>

namespace bulwark::config {

enum class ValueKind {
  kBool,
  kWhole,             // an integer
  kCount,             // an integer >= 0 ("must not be negative")
  kNumber,            // a finite number
  kDuration,          // 250ms, 30s, 5m
  kSecondsOrDuration, // 1, 0.5 (seconds) or a duration: the FastMCP-style keys
  kSize,              // bytes or 512KiB, 64MiB, ...
  kCustom,            // read by Key::read (lists, mappings, strings with their own checks)
};

// What documentation and tests need to know of one key.
struct KeyInfo {
  std::string path; // "limits.max_headers", "tools[].retry.max_attempts"
  ValueKind kind;
  double low;                // the allowed range (durations in ms, sizes in bytes); infinite
  double high;               // when unbounded
  bool low_open;             // low itself is refused
  std::string range;         // the range as text: "1..100", "> 0"; empty when unbounded
  std::string shown_default; // empty when the key has none of its own
};

// Every key of the configuration, in document order. Policy keys appear under `defaults.`,
// `tools[].` and `methods.<name>.`, each with the keys that block accepts.
std::vector<KeyInfo> allKeys();

} // namespace bulwark::config
