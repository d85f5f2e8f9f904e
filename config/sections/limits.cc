// `limits`: what one client may cost Bulwark. Bounds catch typos and keep each limit meaningful
// (a 0 would refuse everything).
#include "config/sections/sections.h"

#include <array>

namespace bulwark::config {
namespace {

constexpr double k24h = 24.0 * 3600 * 1000; // ms
constexpr Range kTimeoutRange{0, k24h, true, "must be greater than 0", "must be at most 24h"};

constexpr auto kLimitsKeys = std::to_array<Key<LimitsConfig>>({
    {"max_header_bytes", ValueKind::kSize,
     Range{1024, 1 << 20, false, "must be between 1024 and 1048576 bytes (1KiB..1MiB)",
           "must be between 1024 and 1048576 bytes (1KiB..1MiB)"},
     [](LimitsConfig& c, const Value& v) {
       c.max_header_bytes = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return showSize(LimitsConfig{}.max_header_bytes); }},
    {"max_headers", ValueKind::kCount, between(8, 10000),
     [](LimitsConfig& c, const Value& v) { c.max_headers = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return std::to_string(LimitsConfig{}.max_headers); }},
    {"max_body_bytes", ValueKind::kSize,
     Range{1024, double(1 << 30), false, "must be between 1024 and 1073741824 bytes (1KiB..1GiB)",
           "must be between 1024 and 1073741824 bytes (1KiB..1GiB)"},
     [](LimitsConfig& c, const Value& v) { c.max_body_bytes = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return showSize(LimitsConfig{}.max_body_bytes); }},
    {"max_connections", ValueKind::kCount, between(1, 1000000),
     [](LimitsConfig& c, const Value& v) { c.max_connections = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return std::to_string(LimitsConfig{}.max_connections); }},
    {"max_requests_per_connection", ValueKind::kCount, Range{}, // 0: unlimited
     [](LimitsConfig& c, const Value& v) {
       c.max_requests_per_connection = static_cast<std::uint64_t>(v.whole);
     },
     nullptr, [] { return std::to_string(LimitsConfig{}.max_requests_per_connection); }},
    {"max_streams_per_session", ValueKind::kCount, between(1, 10000),
     [](LimitsConfig& c, const Value& v) {
       c.max_streams_per_session = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return std::to_string(LimitsConfig{}.max_streams_per_session); }},
    {"max_held_answer_bytes", ValueKind::kSize,
     Range{4096, double(1 << 30), false, "must be between 4096 and 1073741824 bytes (4KiB..1GiB)",
           "must be between 4096 and 1073741824 bytes (4KiB..1GiB)"},
     [](LimitsConfig& c, const Value& v) {
       c.max_held_answer_bytes = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return showSize(LimitsConfig{}.max_held_answer_bytes); }},
    {"max_buffered_bytes", ValueKind::kSize,
     Range{65536, double(1ULL << 40), false,
           "must be between 65536 and 1099511627776 bytes (64KiB..1TiB)",
           "must be between 65536 and 1099511627776 bytes (64KiB..1TiB)"},
     [](LimitsConfig& c, const Value& v) {
       c.max_buffered_bytes = static_cast<std::size_t>(v.whole);
     },
     nullptr, [] { return showSize(LimitsConfig{}.max_buffered_bytes); }},
    {"header_timeout", ValueKind::kDuration, kTimeoutRange,
     [](LimitsConfig& c, const Value& v) { c.header_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(LimitsConfig{}.header_timeout); }},
    {"body_timeout", ValueKind::kDuration, kTimeoutRange,
     [](LimitsConfig& c, const Value& v) { c.body_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(LimitsConfig{}.body_timeout); }},
    {"idle_timeout", ValueKind::kDuration, kTimeoutRange,
     [](LimitsConfig& c, const Value& v) { c.idle_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(LimitsConfig{}.idle_timeout); }},
    {"send_timeout", ValueKind::kDuration, kTimeoutRange,
     [](LimitsConfig& c, const Value& v) { c.send_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(LimitsConfig{}.send_timeout); }},
});

} // namespace

void readLimits(Reader& reader, const Field& f, LimitsConfig& out) {
  readKeys<LimitsConfig>(reader, f, kLimitsKeys, out);
}

void appendLimitsKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<LimitsConfig>(out, "limits.", kLimitsKeys);
}

} // namespace bulwark::config
