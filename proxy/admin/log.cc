#include "proxy/admin/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "proxy/mcp/json_writer.h"

namespace bulwark {
namespace {

LogLevel g_level = LogLevel::kInfo;

std::string_view levelName(LogLevel level) {
  switch (level) {
  case LogLevel::kDebug: return "debug";
  case LogLevel::kInfo: return "info";
  case LogLevel::kWarn: return "warn";
  case LogLevel::kError: return "error";
  }
  return "info";
}

void appendTimestamp(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const int n = std::snprintf(buffer, sizeof buffer, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  out.append(buffer, static_cast<std::size_t>(n));
}

}  // namespace

void setLogLevel(LogLevel level) { g_level = level; }

bool logEnabled(LogLevel level) { return level >= g_level; }

void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!logEnabled(level)) {
    return;
  }
  std::string line;
  line.reserve(256);
  line += "{\"time\":";
  appendTimestamp(line);
  line += ",\"level\":\"";
  line += levelName(level);
  line += "\",\"msg\":";
  appendJsonString(line, message);
  for (const LogField& field : fields) {
    line.push_back(',');
    appendJsonString(line, field.key);
    line.push_back(':');
    if (const auto* text = std::get_if<std::string_view>(&field.value)) {
      appendJsonString(line, *text);
    } else if (const auto* integer = std::get_if<std::int64_t>(&field.value)) {
      line += std::to_string(*integer);
    } else if (const auto* real = std::get_if<double>(&field.value)) {
      char buffer[32];
      const int n = std::snprintf(buffer, sizeof buffer, "%.6g", *real);
      line.append(buffer, static_cast<std::size_t>(n));
    } else {
      line += std::get<bool>(field.value) ? "true" : "false";
    }
  }
  line += "}\n";
  // One write keeps the line whole; a short write to a closed stderr is nothing we can fix.
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace bulwark
