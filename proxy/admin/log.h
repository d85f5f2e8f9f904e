// Structured logging: one JSON object per line on stderr. Secrets (Authorization, cookies) are
// never passed in; callers log facts about a request, not its headers.
//
// Two rules the logger enforces itself, so that no call site can forget them:
// - a string field longer than kMaxLoggedFieldBytes is cut (at a UTF-8 character boundary) and
//   marked, so a 3 MB tool name or id costs a log line of a few hundred bytes;
// - a session id is bearer-like: a SessionRef field, or any string field whose key names a
//   session ("session", "*_session", "session_id"), is written as sessionLogHash(), never clear.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bulwark {

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError };

// An Mcp-Session-Id to be logged: the line carries its hash, never the value.
struct SessionRef {
  std::string_view id;
};

struct LogField {
  std::string_view key;
  // std::monostate: the field does not apply to this line and is left out (see ifNonEmpty);
  // std::nullptr_t: a field every line of its kind carries, written as null when it has no value.
  std::variant<std::string_view, std::int64_t, double, bool, SessionRef, std::monostate,
               std::nullptr_t>
      value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, SessionRef v) : key(k), value(v) {}

  // Fields that apply only sometimes, left out of the line when they do not, so that no line
  // carries "" or 0 standing for "none": a text or session when non-empty, a number when set.
  static LogField ifNonEmpty(std::string_view k, std::string_view v) {
    return v.empty() ? LogField(k, std::monostate{}) : LogField(k, v);
  }
  static LogField ifNonEmpty(std::string_view k, SessionRef v) {
    return v.id.empty() ? LogField(k, std::monostate{}) : LogField(k, v);
  }
  static LogField ifSet(std::string_view k, std::optional<std::int64_t> v) {
    return v ? LogField(k, *v) : LogField(k, std::monostate{});
  }
  // A number every line of its kind has, null when there is none (rather than a made-up 0).
  static LogField orNull(std::string_view k, std::optional<std::int64_t> v) {
    return v ? LogField(k, *v) : LogField(k, nullptr);
  }

private:
  LogField(std::string_view k, std::monostate) : key(k), value(std::monostate{}) {}
  LogField(std::string_view k, std::nullptr_t) : key(k), value(nullptr) {}
};

// Longer string values are cut to at most this many bytes, plus a marker naming the full size.
inline constexpr std::size_t kMaxLoggedFieldBytes = 256;

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);

// Writes {"time":..., "level":..., "msg": message, fields...} and a newline in one write(2),
// so lines from one process never interleave.
void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// The building blocks of logLine, for tests.

// 12 hex digits of a keyed 64-bit hash of `id`: equal ids give equal hashes within one process
// (so lines of one session can be followed), the key is drawn per process (so a hash says
// nothing outside it); "" for an empty id (no session).
std::string sessionLogHash(std::string_view id);
// The longest prefix of `value` of at most `max_bytes` that ends on a UTF-8 character boundary.
std::string_view utf8Prefix(std::string_view value, std::size_t max_bytes);
// Appends `value` as a JSON string, cut to kMaxLoggedFieldBytes and marked
// ("<prefix>...[cut, N bytes]") when longer.
void appendLoggedString(std::string& out, std::string_view value);
// True for keys that carry a session id ("session", "session_id", "*_session").
bool isSessionKey(std::string_view key);

}  // namespace bulwark
