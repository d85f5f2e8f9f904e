// `sessions`: what Bulwark keeps per MCP session for its recovery (the client's initialize), so
// that no client can pin memory. Bounds keep each value meaningful; the handshake cap may not
// exceed the total.
#include "config/sections/sections.h"

#include <array>

namespace bulwark::config {
namespace {

constexpr double kSevenDays = 7.0 * 24 * 3600 * 1000; // ms

constexpr auto kSessionsKeys = std::to_array<Key<SessionsConfig>>({
    {"max_handshake_bytes", ValueKind::kSize,
     Range{1024, double(64 << 20), false, "must be between 1024 and 67108864 bytes (1KiB..64MiB)",
           "must be between 1024 and 67108864 bytes (1KiB..64MiB)"},
     [](SessionsConfig& c, const Value& v) {
       c.max_handshake_bytes = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return showSize(SessionsConfig{}.max_handshake_bytes); }},
    {"max_total_bytes", ValueKind::kSize,
     Range{65536, double(1ULL << 40), false,
           "must be between 65536 and 1099511627776 bytes (64KiB..1TiB)",
           "must be between 65536 and 1099511627776 bytes (64KiB..1TiB)"},
     [](SessionsConfig& c, const Value& v) {
       c.max_total_bytes = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return showSize(SessionsConfig{}.max_total_bytes); }},
    {"idle_timeout", ValueKind::kDuration,
     Range{0, kSevenDays, false, "", "must be at most 168h (0: never)"},
     [](SessionsConfig& c, const Value& v) { c.idle_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(SessionsConfig{}.idle_timeout); }},
});

} // namespace

void readSessions(Reader& reader, const Field& f, SessionsConfig& out) {
  const std::vector<KeyRead> reads = readKeys<SessionsConfig>(reader, f, kSessionsKeys, out);
  if (out.max_handshake_bytes > out.max_total_bytes) {
    const Field* at = storedField(reads, "max_handshake_bytes");
    const Field& where = at != nullptr ? *at : *storedField(reads, "max_total_bytes");
    reader.error(where.valueLoc(), where.path,
                 "must not exceed sessions.max_total_bytes (" + showSize(out.max_total_bytes) +
                     ")");
  }
}

void appendSessionsKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<SessionsConfig>(out, "sessions.", kSessionsKeys);
}

} // namespace bulwark::config
