// Structured logging: one JSON object per line on stderr. Secrets (Authorization, cookies) are
// never passed in; callers log facts about a request, not its headers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <variant>

namespace bulwark {

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool> value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
};

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);

// Writes {"time":..., "level":..., "msg": message, fields...} and a newline in one write(2),
// so lines from one process never interleave.
void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace bulwark
