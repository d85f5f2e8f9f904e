#include "policies/retry_safety.h"

#include <doctest/doctest.h>
#include <optional>
#include <string>

using namespace bulwark::policies;

namespace {

struct Row {
  const char* name;
  RetrySafetyFacts facts;
  RetrySafety expected;
};

RetrySafetyFacts call(std::optional<bool> override_, std::optional<bool> read_only,
                      std::optional<bool> idempotent, bool trust = true) {
  RetrySafetyFacts f;
  f.method = "tools/call";
  f.idempotent_override = override_;
  f.annotations = {read_only, idempotent};
  f.trust_annotations = trust;
  return f;
}

RetrySafetyFacts method(const char* name, MessageKind kind = MessageKind::kRequest,
                        bool reached = true) {
  RetrySafetyFacts f;
  f.method = name;
  f.kind = kind;
  f.may_have_reached_upstream = reached;
  return f;
}

RetrySafetyFacts neverSent(RetrySafetyFacts f) {
  f.may_have_reached_upstream = false;
  return f;
}

const std::optional<bool> kUnset;

const Row kMatrix[] = {
    // tools/call that may have reached the upstream
    {"no hints", call(kUnset, kUnset, kUnset), RetrySafety::kUnknownSideEffects},
    {"hints false", call(kUnset, false, false), RetrySafety::kUnknownSideEffects},
    {"readOnlyHint", call(kUnset, true, kUnset), RetrySafety::kAnnotated},
    {"idempotentHint", call(kUnset, kUnset, true), RetrySafety::kAnnotated},
    {"readOnlyHint, annotations untrusted", call(kUnset, true, kUnset, false),
     RetrySafety::kUnknownSideEffects},
    {"idempotentHint, annotations untrusted", call(kUnset, kUnset, true, false),
     RetrySafety::kUnknownSideEffects},
    {"policy idempotent, no hints", call(true, kUnset, kUnset), RetrySafety::kIdempotentPolicy},
    {"policy idempotent, untrusted", call(true, kUnset, kUnset, false),
     RetrySafety::kIdempotentPolicy},
    {"policy not idempotent beats readOnlyHint", call(false, true, true),
     RetrySafety::kNotIdempotentPolicy},
    // never sent: always safe
    {"tools/call never sent", neverSent(call(kUnset, kUnset, kUnset)), RetrySafety::kNeverSent},
    {"tools/call never sent, policy not idempotent", neverSent(call(false, kUnset, kUnset)),
     RetrySafety::kNeverSent},
    {"notification never sent",
     method("notifications/initialized", MessageKind::kNotification, false),
     RetrySafety::kNeverSent},
    // reads and other methods
    {"tools/list", method("tools/list"), RetrySafety::kSafeMethod},
    {"resources/read", method("resources/read"), RetrySafety::kSafeMethod},
    {"prompts/get", method("prompts/get"), RetrySafety::kSafeMethod},
    {"initialize", method("initialize"), RetrySafety::kSafeMethod},
    {"server/discover", method("server/discover"), RetrySafety::kSafeMethod},
    {"unknown method", method("vendor/doSomething"), RetrySafety::kUnknownSideEffects},
    {"tasks/cancel", method("tasks/cancel"), RetrySafety::kUnknownSideEffects},
    // one-way messages that may have arrived
    {"notification", method("notifications/cancelled", MessageKind::kNotification),
     RetrySafety::kOneWay},
    {"client response", method("", MessageKind::kClientResponse), RetrySafety::kOneWay},
};

} // namespace

TEST_CASE("retry safety matrix") {
  for (const Row& row : kMatrix) {
    const std::string name = row.name;
    CAPTURE(name);
    const RetrySafety got = assessRetrySafety(row.facts);
    CHECK(retrySafetyName(got) == retrySafetyName(row.expected));
    CHECK(mayRetry(row.facts) == isSafe(row.expected));
  }
}

TEST_CASE("an explicit method policy decides for non-tool methods too") {
  RetrySafetyFacts f = method("resources/read");
  f.idempotent_override = false;
  CHECK_FALSE(mayRetry(f));
  RetrySafetyFacts g = method("vendor/doSomething");
  g.idempotent_override = true;
  CHECK(mayRetry(g));
}

TEST_CASE("safe verdicts") {
  CHECK(isSafe(RetrySafety::kNeverSent));
  CHECK(isSafe(RetrySafety::kAnnotated));
  CHECK_FALSE(isSafe(RetrySafety::kOneWay));
  CHECK_FALSE(isSafe(RetrySafety::kUnknownSideEffects));
  CHECK_FALSE(isSafeMethod("tools/call"));
  CHECK(isSafeMethod("ping"));
}
