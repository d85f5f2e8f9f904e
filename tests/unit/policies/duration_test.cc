#include "policies/duration.h"

#include <chrono>
#include <doctest/doctest.h>
#include <optional>
#include <string>

using namespace bulwark::policies;
using namespace std::chrono_literals;

TEST_CASE("parseDuration accepts number + unit") {
  struct Row {
    const char* text;
    Duration value;
  };
  const Row rows[] = {{"250ms", 250ms}, {"30s", 30s},  {"5m", 5min},     {"1h", 1h},
                      {"1.5s", 1500ms}, {"0s", 0ms},   {"0.25s", 250ms}, {"1.0006s", 1001ms},
                      {"90m", 90min},   {"0.5ms", 1ms}};
  for (const Row& r : rows) {
    const std::string shown = r.text;
    CAPTURE(shown);
    CHECK(parseDuration(r.text) == std::optional<Duration>(r.value));
  }
}

TEST_CASE("parseDuration rejects everything else") {
  const char* bad[] = {"",  "5",  "5 sec", "5sec", "-1s", "+1s", ".5s",   "1.5.1s",
                       "s", "1d", "1 s",   "1S",   " 1s", "1s ", "1e3ms", "99999999999h"};
  for (const char* text : bad) {
    const std::string shown = text;
    CAPTURE(shown);
    CHECK_FALSE(parseDuration(text).has_value());
  }
}

TEST_CASE("parseSeconds reads the seed's plain numbers") {
  CHECK(parseSeconds("1") == std::optional<Duration>(1s));
  CHECK(parseSeconds("30") == std::optional<Duration>(30s));
  CHECK(parseSeconds("0.25") == std::optional<Duration>(250ms));
  CHECK_FALSE(parseSeconds("1s").has_value());
  CHECK_FALSE(parseSeconds("-1").has_value());
}

TEST_CASE("formatDuration picks the shortest exact form and round-trips") {
  struct Row {
    Duration value;
    const char* text;
  };
  const Row rows[] = {{0ms, "0s"},       {250ms, "250ms"}, {1500ms, "1.5s"},
                      {1050ms, "1.05s"}, {30s, "30s"},     {5min, "5m"},
                      {1h, "1h"},        {90s, "90s"},     {3601s, "3601s"}};
  for (const Row& r : rows) {
    const std::string shown = r.text;
    CAPTURE(shown);
    CHECK(formatDuration(r.value) == r.text);
    CHECK(parseDuration(formatDuration(r.value)) == std::optional<Duration>(r.value));
  }
}
