#include "proxy/admin/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
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

// The per-process key of sessionLogHash: without it, a short or guessable session id could be
// found again from its hash by trying candidates.
std::uint64_t sessionHashKey() {
  static const std::uint64_t key = [] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }();
  return key;
}

// splitmix64's finalizer: every input bit moves about half of the output bits.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

bool isContinuationByte(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

}  // namespace

void setLogLevel(LogLevel level) { g_level = level; }

bool logEnabled(LogLevel level) { return level >= g_level; }

std::string sessionLogHash(std::string_view id) {
  if (id.empty()) {
    return {};
  }
  // FNV-1a over the bytes, seeded with the key, then mixed: fast and stable within the process.
  std::uint64_t hash = 0xcbf29ce484222325ULL ^ sessionHashKey();
  for (const char byte : id) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 0x100000001b3ULL;
  }
  hash = mix(hash ^ sessionHashKey());
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return std::string(buffer, 12);
}

std::string_view utf8Prefix(std::string_view value, std::size_t max_bytes) {
  if (value.size() <= max_bytes) {
    return value;
  }
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the character that would be split.
  std::size_t stepped = 0;
  while (end > 0 && isContinuationByte(value[end]) && stepped < 3) {
    --end;
    ++stepped;
  }
  return value.substr(0, end);
}

void appendLoggedString(std::string& out, std::string_view value) {
  if (value.size() <= kMaxLoggedFieldBytes) {
    appendJsonString(out, value);
    return;
  }
  appendJsonString(out, utf8Prefix(value, kMaxLoggedFieldBytes));
  out.pop_back();  // reopen the string for the marker
  out += "...[cut, ";
  out += std::to_string(value.size());
  out += " bytes]\"";
}

bool isSessionKey(std::string_view key) {
  return key == "session" || key == "session_id" || key.ends_with("_session");
}

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
  appendLoggedString(line, message);
  for (const LogField& field : fields) {
    if (std::holds_alternative<std::monostate>(field.value)) {
      continue;  // does not apply to this line
    }
    line.push_back(',');
    appendJsonString(line, field.key);
    line.push_back(':');
    if (const auto* text = std::get_if<std::string_view>(&field.value)) {
      if (isSessionKey(field.key)) {
        appendJsonString(line, sessionLogHash(*text));
      } else {
        appendLoggedString(line, *text);
      }
    } else if (const auto* session = std::get_if<SessionRef>(&field.value)) {
      appendJsonString(line, sessionLogHash(session->id));
    } else if (const auto* integer = std::get_if<std::int64_t>(&field.value)) {
      line += std::to_string(*integer);
    } else if (const auto* real = std::get_if<double>(&field.value)) {
      char buffer[32];
      const int n = std::snprintf(buffer, sizeof buffer, "%.6g", *real);
      line.append(buffer, static_cast<std::size_t>(n));
    } else if (std::holds_alternative<std::nullptr_t>(field.value)) {
      line += "null";
    } else {
      line += std::get<bool>(field.value) ? "true" : "false";
    }
  }
  line += "}\n";
  // One write keeps the line whole; a short write to a closed stderr is nothing we can fix.
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace bulwark
