#include "policies/tool_knowledge.h"

#include <doctest/doctest.h>
#include <optional>
#include <string>
#include <vector>

using namespace bulwark::policies;
using std::chrono::milliseconds;

namespace {

constexpr std::optional<bool> kNone = std::nullopt;

ToolAnnotations hints(std::optional<bool> read_only, std::optional<bool> idempotent) {
  return {read_only, idempotent};
}

bool repeatable(const ToolAnnotations& a) {
  return a.read_only_hint.value_or(false) || a.idempotent_hint.value_or(false);
}

} // namespace

TEST_CASE("saferReading: true only when both say true, false when either says false") {
  struct Row {
    std::optional<bool> a, b, expected;
  };
  const Row rows[] = {
      {true, true, true},    {true, false, false},  {false, true, false},
      {false, false, false}, {true, kNone, kNone},  {kNone, true, kNone},
      {false, kNone, false}, {kNone, false, false}, {kNone, kNone, kNone},
  };
  for (const Row& row : rows) {
    CAPTURE(row.a);
    CAPTURE(row.b);
    const ToolAnnotations merged = saferReading(hints(row.a, kNone), hints(row.b, kNone));
    CHECK(merged.read_only_hint == row.expected);
    const ToolAnnotations merged2 = saferReading(hints(kNone, row.a), hints(kNone, row.b));
    CHECK(merged2.idempotent_hint == row.expected);
  }
}

TEST_CASE("saferReading is never more repeatable than either input") {
  const std::optional<bool> values[] = {true, false, kNone};
  for (auto r1 : values) {
    for (auto i1 : values) {
      for (auto r2 : values) {
        for (auto i2 : values) {
          const ToolAnnotations merged = saferReading(hints(r1, i1), hints(r2, i2));
          if (repeatable(merged)) {
            CHECK(repeatable(hints(r1, i1)));
            CHECK(repeatable(hints(r2, i2)));
          }
        }
      }
    }
  }
}

TEST_CASE("mergeHints: first listing, same generation, newer generation") {
  const ToolAnnotations read_only = hints(true, kNone);
  const ToolAnnotations side_effects = hints(false, false);

  SUBCASE("nothing known: the listing is taken as is") {
    const HintMerge m = mergeHints(std::nullopt, 0, read_only, 3);
    CHECK(sameHints(m.hints, read_only));
    CHECK_FALSE(m.conflict);
  }
  SUBCASE("same generation, agreeing: no conflict") {
    const HintMerge m = mergeHints(read_only, 3, read_only, 3);
    CHECK(sameHints(m.hints, read_only));
    CHECK_FALSE(m.conflict);
  }
  SUBCASE("same generation, disagreeing: the safer reading, one conflict") {
    const HintMerge m = mergeHints(read_only, 3, side_effects, 3);
    CHECK(m.hints.read_only_hint == false);
    CHECK(m.conflict);
    // The safer reading is kept; the repeatable listing disagrees again, but that is no news.
    const HintMerge again = mergeHints(m.hints, 3, read_only, 3);
    CHECK(again.hints.read_only_hint == false);
    CHECK_FALSE(again.conflict);
  }
  SUBCASE("a newer generation (list_changed, restart) replaces, either way") {
    CHECK(mergeHints(side_effects, 2, read_only, 3).hints.read_only_hint == true);
    CHECK(mergeHints(read_only, 2, side_effects, 3).hints.read_only_hint == false);
    CHECK_FALSE(mergeHints(read_only, 2, side_effects, 3).conflict);
  }
}

TEST_CASE("nextPageStep: done, next, endless") {
  const std::vector<std::string> seen{"a", "b"};
  CHECK(nextPageStep(1, "", {}) == PageStep::kDone);
  CHECK(nextPageStep(1, "c", seen) == PageStep::kNext);
  CHECK(nextPageStep(3, "a", seen) == PageStep::kEndless); // a cursor that repeats
  CHECK(nextPageStep(99, "z", seen) == PageStep::kNext);
  CHECK(nextPageStep(100, "z", seen) == PageStep::kEndless); // the 101st page is not fetched
  CHECK(nextPageStep(100, "", seen) == PageStep::kDone);     // 100 pages is fine
}

TEST_CASE("nextRefreshIn: the interval, shortened by ttlMs, never below the floor") {
  const milliseconds five_minutes{300000};
  CHECK(nextRefreshIn(five_minutes, std::nullopt) == five_minutes);
  CHECK(nextRefreshIn(five_minutes, 60000) == milliseconds(60000));
  CHECK(nextRefreshIn(five_minutes, 600000) == five_minutes); // ttlMs never lengthens it
  CHECK(nextRefreshIn(five_minutes, 0) == kMinRefresh);
  CHECK(nextRefreshIn(milliseconds(10), std::nullopt) == kMinRefresh);
}

TEST_CASE("retryListingIn: doubling from the floor, capped by the interval") {
  const milliseconds interval{10000};
  CHECK(retryListingIn(1, interval) == milliseconds(1000));
  CHECK(retryListingIn(2, interval) == milliseconds(2000));
  CHECK(retryListingIn(3, interval) == milliseconds(4000));
  CHECK(retryListingIn(4, interval) == milliseconds(8000));
  CHECK(retryListingIn(5, interval) == milliseconds(10000));
  CHECK(retryListingIn(50, interval) == milliseconds(10000));
  CHECK(retryListingIn(3, milliseconds(100)) == kMinRefresh);
}

TEST_CASE("NeverRanStatuses: 429 and 503 by default; an empty list turns it off") {
  const NeverRanStatuses defaults;
  CHECK(defaults.contains(429));
  CHECK(defaults.contains(503));
  for (const int status : {200, 400, 401, 403, 404, 500, 502, 504}) {
    CAPTURE(status);
    CHECK_FALSE(defaults.contains(status));
  }
  const NeverRanStatuses off{{}};
  CHECK_FALSE(off.contains(429));
  CHECK_FALSE(off.contains(503));
}

TEST_CASE("unmatchedRules names each rule that matches no tool, with a close name") {
  const std::vector<std::string> tools{"get-tiny-image", "echo", "add", "longRunningOperation"};
  const std::vector<UnmatchedRule> unmatched =
      unmatchedRules({"get_tiny*", "echo", "a*", "delete_*", "longRunningOperatoin"}, tools);
  REQUIRE(unmatched.size() == 3);
  CHECK(unmatched[0].match == "get_tiny*");
  CHECK(unmatched[0].closest == "get-tiny-image");
  CHECK(unmatched[1].match == "delete_*");
  CHECK(unmatched[1].closest.empty());
  CHECK(unmatched[2].match == "longRunningOperatoin");
  CHECK(unmatched[2].closest == "longRunningOperation");
}

TEST_CASE("closestToolName: nothing when nothing is near") {
  CHECK(closestToolName("zzz", {"echo", "add"}).empty());
  CHECK(closestToolName("ech", {"echo", "add"}) == "echo");
  CHECK(closestToolName("anything", {}).empty());
}

TEST_CASE("hintSourceName") {
  CHECK(hintSourceName(HintSource::kListed) == "listed");
  CHECK(hintSourceName(HintSource::kDiscovered) == "discovered");
  CHECK(hintSourceName(HintSource::kCallerListing) == "caller_listing");
}
