// `error_handling`: the FastMCP-style block, folded into the global defaults (the loader applies
// it under `defaults`, which wins where both say something).
#include "config/sections/sections.h"

#include <array>

namespace bulwark::config {
namespace {

// Attempts are capped at 100 (policy.cc); max_retries counts the retries only.
constexpr int kMaxRetries = 99;

struct Seed {
  Layer& layer;
  Config& config;
};

constexpr auto kErrorHandlingKeys = std::to_array<Key<Seed>>({
    {"max_retries", ValueKind::kWhole, between(0, kMaxRetries),
     [](Seed& s, const Value& v) {
       s.layer.value.retry.max_attempts = static_cast<int>(v.whole) + 1;
     }},
    {"retry_delay", ValueKind::kSecondsOrDuration, Range{},
     [](Seed& s, const Value& v) { s.layer.value.retry.base = v.duration; }},
    {"fallback_enabled", ValueKind::kBool, Range{},
     [](Seed& s, const Value& v) { s.config.fallback_enabled = v.flag; }, nullptr,
     [] { return showBool(Config{}.fallback_enabled); }},
    {"timeout_seconds", ValueKind::kSecondsOrDuration, positive(),
     [](Seed& s, const Value& v) { s.layer.value.timeout = v.duration; }},
});

} // namespace

void readErrorHandling(Reader& reader, const Field& f, Layer& seed, Config& config) {
  Seed target{seed, config};
  const std::vector<KeyRead> reads = readKeys<Seed>(reader, f, kErrorHandlingKeys, target);
  if (const Field* delay = storedField(reads, "retry_delay")) {
    seed.base_at = *delay;
  }
}

void appendErrorHandlingKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<Seed>(out, "error_handling.", kErrorHandlingKeys);
}

} // namespace bulwark::config
