#include "policies/glob.h"

#include <doctest/doctest.h>
#include <string>

using namespace bulwark::policies;

TEST_CASE("glob matching") {
  struct Row {
    const char* pattern;
    const char* text;
    bool match;
  };
  const Row rows[] = {
      {"get_weather", "get_weather", true},
      {"get_weather", "get_weather2", false},
      {"search_*", "search_", true},
      {"search_*", "search_web", true},
      {"search_*", "research_web", false},
      {"*", "", true},
      {"*", "anything", true},
      {"?", "", false},
      {"?", "a", true},
      {"get_?", "get_x", true},
      {"get_?", "get_xy", false},
      {"*_weather", "get_weather", true},
      {"*_weather", "get_weather_now", false},
      {"a*b*c", "aXXbYYc", true},
      {"a*b*c", "aXXbYY", false},
      {"a*b*c", "abcbc", true},
      {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
      {"", "", true},
      {"", "x", false},
      {"**", "x", true},
      {"delete_*", "delete_user", true},
  };
  for (const Row& r : rows) {
    const std::string pattern = r.pattern;
    const std::string text = r.text;
    CAPTURE(pattern);
    CAPTURE(text);
    CHECK(globMatch(r.pattern, r.text) == r.match);
  }
}

TEST_CASE("glob detection and specificity") {
  CHECK_FALSE(isGlob("get_weather"));
  CHECK(isGlob("search_*"));
  CHECK(isGlob("get_?"));
  CHECK(literalCount("search_*") == 7);
  CHECK(literalCount("*") == 0);
  CHECK(literalCount("a?c*") == 2);
}
