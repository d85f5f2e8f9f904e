#include "proxy/admin/log.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

namespace bulwark {
namespace {

// Runs `write` with stderr sent to a temporary file and returns what it wrote.
template <typename Write>
std::string capturedStderr(Write write) {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(file), STDERR_FILENO) >= 0);
  write();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  std::rewind(file);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) {
    text.append(buffer, n);
  }
  std::fclose(file);
  return text;
}

TEST_CASE("utf8Prefix never splits a UTF-8 sequence") {
  CHECK(utf8Prefix("abc", 5) == "abc");
  CHECK(utf8Prefix("abcdef", 3) == "abc");
  const std::string euro = "ab\xE2\x82\xAC";  // "ab€": the euro sign is 3 bytes
  CHECK(utf8Prefix(euro, 2) == "ab");
  CHECK(utf8Prefix(euro, 3) == "ab");
  CHECK(utf8Prefix(euro, 4) == "ab");
  CHECK(utf8Prefix(euro, 5) == euro);
  const std::string emoji = "a\xF0\x9F\x98\x80z";  // a 4-byte sequence between two letters
  CHECK(utf8Prefix(emoji, 4) == "a");
  CHECK(utf8Prefix(emoji, 5) == "a\xF0\x9F\x98\x80");
  // Bytes that are not UTF-8 at all are cut where the limit says, after at most three steps.
  const std::string continuation_only(10, '\x80');
  CHECK(utf8Prefix(continuation_only, 8).size() == 5);
}

TEST_CASE("appendLoggedString cuts long values and marks them, short ones pass whole") {
  std::string out;
  appendLoggedString(out, "get_weather");
  CHECK(out == R"("get_weather")");

  out.clear();
  appendLoggedString(out, std::string(kMaxLoggedFieldBytes, 'x'));
  CHECK(out == "\"" + std::string(kMaxLoggedFieldBytes, 'x') + "\"");

  out.clear();
  const std::string huge(3 * 1024 * 1024, 'y');
  appendLoggedString(out, huge);
  CHECK(out == "\"" + std::string(kMaxLoggedFieldBytes, 'y') + "...[cut, 3145728 bytes]\"");

  out.clear();
  std::string accented(kMaxLoggedFieldBytes - 1, 'a');
  accented += "\xC3\xA9\xC3\xA9";  // "éé" straddles the limit
  appendLoggedString(out, accented);
  CHECK(out == "\"" + std::string(kMaxLoggedFieldBytes - 1, 'a') + "...[cut, 259 bytes]\"");
}

TEST_CASE("sessionLogHash: 12 hex digits, stable for one id, different for another") {
  const std::string id = "3f2a9c4e-0b1d-4e8f-9a7b-6c5d4e3f2a1b";
  const std::string hash = sessionLogHash(id);
  CHECK(hash.size() == 12);
  CHECK(hash.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(sessionLogHash(id) == hash);
  CHECK(sessionLogHash("3f2a9c4e-0b1d-4e8f-9a7b-6c5d4e3f2a1c") != hash);
  CHECK(sessionLogHash("") == "");
  CHECK(isSessionKey("session"));
  CHECK(isSessionKey("upstream_session"));
  CHECK(isSessionKey("session_id"));
  CHECK_FALSE(isSessionKey("sessions_active"));
  CHECK_FALSE(isSessionKey("tool"));
}

TEST_CASE("logLine writes no session id in clear and no field whole beyond the limit") {
  const std::string session = "secret-session-3f2a9c4e0b1d4e8f";
  const std::string tool(3 * 1024 * 1024, 't');
  const std::string text = capturedStderr([&] {
    logLine(LogLevel::kWarn, "request failed",
            {{"tool", std::string_view(tool)},
             {"session", SessionRef{session}},
             {"upstream_session", std::string_view(session)},  // a plain string under a session key
             {"attempt", 2}});
  });
  CHECK(text.size() < 1024);
  CHECK(text.find(session) == std::string::npos);
  CHECK(text.find("\"session\":\"" + sessionLogHash(session) + "\"") != std::string::npos);
  CHECK(text.find("\"upstream_session\":\"" + sessionLogHash(session) + "\"") != std::string::npos);
  CHECK(text.find("...[cut, 3145728 bytes]") != std::string::npos);
  CHECK(text.find("\"attempt\":2}") != std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("logLine leaves out the fields that do not apply, and only those") {
  const std::string text = capturedStderr([&] {
    logLine(LogLevel::kWarn, "m",
            {LogField::ifNonEmpty("method", ""),
             LogField::ifNonEmpty("session", SessionRef{""}),
             LogField::ifSet("jsonrpc_code", std::nullopt),
             {"attempt", 1},
             LogField::ifNonEmpty("give_up", "deadline"),
             LogField::ifSet("upstream_status", 0),
             LogField::ifNonEmpty("session_id", SessionRef{"s"}),
             LogField::orNull("code", std::nullopt),
             LogField::orNull("status", 502)});
  });
  CHECK(text.find("\"msg\":\"m\",\"attempt\":1,\"give_up\":\"deadline\",\"upstream_status\":0,"
                  "\"session_id\":\"" + sessionLogHash("s") +
                  "\",\"code\":null,\"status\":502}\n") != std::string::npos);
  CHECK(text.find("method") == std::string::npos);
  CHECK(text.find("jsonrpc_code") == std::string::npos);
  CHECK(text.find("\"session\"") == std::string::npos);
}

}  // namespace
}  // namespace bulwark
