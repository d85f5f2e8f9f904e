#include "policies/cache_policy.h"
#include "policies/outcome.h"
#include "policies/protocol_era.h"
#include "policies/retry_safety.h"

#include <chrono>
#include <doctest/doctest.h>

using namespace bulwark::policies;
using namespace std::chrono_literals;

TEST_CASE("era of a request: the header or _meta naming 2026-07-28 or later") {
  struct Row {
    std::string_view header, meta;
    ProtocolEra expected;
  };
  const Row rows[] = {
      {"", "", ProtocolEra::kSession},
      {"2025-11-25", "", ProtocolEra::kSession},
      {"2025-03-26", "", ProtocolEra::kSession},
      {"2026-07-28", "", ProtocolEra::kStateless},
      {"", "2026-07-28", ProtocolEra::kStateless},
      {"2026-07-28", "2026-07-28", ProtocolEra::kStateless},
      {"2027-01-01", "", ProtocolEra::kStateless},
      {"2026-07-27", "", ProtocolEra::kSession},
      {"DRAFT-2026", "", ProtocolEra::kSession}, // not a date: says nothing
      {"2026-07-28x", "", ProtocolEra::kSession},
      {"2025-11-25", "2026-07-28", ProtocolEra::kStateless},
  };
  for (const Row& row : rows) {
    CAPTURE(row.header);
    CAPTURE(row.meta);
    CHECK(eraOf(row.header, row.meta) == row.expected);
  }
  CHECK(maySessionRecover(ProtocolEra::kSession));
  CHECK_FALSE(maySessionRecover(ProtocolEra::kStateless));
}

TEST_CASE("resultType: absent or complete is final; input_required, task, unknown are not") {
  CHECK(resultKindOf("", false) == ResultKind::kComplete);
  CHECK(resultKindOf("complete", true) == ResultKind::kComplete);
  CHECK(resultKindOf("input_required", true) == ResultKind::kInputRequired);
  CHECK(resultKindOf("task", true) == ResultKind::kTask);
  CHECK(resultKindOf("", true) == ResultKind::kOther);
  CHECK(resultKindOf("Complete", true) == ResultKind::kOther);
  CHECK(isFinalResult(ResultKind::kComplete));
  CHECK_FALSE(isFinalResult(ResultKind::kInputRequired));
  CHECK_FALSE(isFinalResult(ResultKind::kTask));
  CHECK_FALSE(isFinalResult(ResultKind::kOther));
}

TEST_CASE("cache: interim results and task handles are never stored") {
  const CachePolicy policy{true, 60s, 1h, CacheScope::kCaller};
  for (const char* method : {"tools/call", "resources/read", "tools/list"}) {
    CAPTURE(method);
    CacheStoreFacts facts;
    facts.method = method;
    facts.success = true;
    CHECK(cacheStoreDecision(policy, facts).has_value()); // complete (or no resultType)
    facts.result_kind = ResultKind::kInputRequired;
    CHECK_FALSE(cacheStoreDecision(policy, facts).has_value());
    facts.result_kind = ResultKind::kTask;
    CHECK_FALSE(cacheStoreDecision(policy, facts).has_value());
    facts.result_kind = ResultKind::kOther;
    CHECK_FALSE(cacheStoreDecision(policy, facts).has_value());
  }
  // Not even on the server's own ttlMs.
  CacheStoreFacts hinted;
  hinted.method = "resources/read";
  hinted.success = true;
  hinted.server_ttl = Duration{5000};
  hinted.result_kind = ResultKind::kInputRequired;
  CHECK_FALSE(cacheStoreDecision(CachePolicy{}, hinted).has_value());
}

TEST_CASE("cache: a follow-up carrying inputResponses or requestState is never answered from it") {
  CHECK(mayAnswerFromCache("tools/call", false));
  CHECK(mayAnswerFromCache("resources/read", false));
  CHECK_FALSE(mayAnswerFromCache("tools/call", true));
  CHECK_FALSE(mayAnswerFromCache("prompts/get", true));
  CHECK_FALSE(mayAnswerFromCache("subscriptions/listen", false));
  CHECK_FALSE(mayAnswerFromCache("tasks/get", false));
}

TEST_CASE("error codes of the 2026-07-28 revision") {
  struct Row {
    Outcome outcome;
    FailureClass expected;
  };
  const Row rows[] = {
      {Outcome::jsonRpcError(-32020), FailureClass::kInvalidInput}, // header mismatch
      {Outcome::jsonRpcError(-32021), FailureClass::kInvalidInput}, // missing capability
      {Outcome::jsonRpcError(-32022), FailureClass::kInvalidInput}, // unsupported version
      {Outcome::jsonRpcError(-32602), FailureClass::kInvalidInput}, // also resource not found
      {Outcome::jsonRpcError(-32023), FailureClass::kUpstream},     // the rest stays as it was
      // HTTP 400 carrying them (the way a 2026 server sends them)
      {Outcome::httpStatus(400).withBodyCode(-32020), FailureClass::kInvalidInput},
      {Outcome::httpStatus(400).withBodyCode(-32022), FailureClass::kInvalidInput},
      // 404 with -32601 is "method not found", with or without a session id sent
      {Outcome::httpStatus(404).withBodyCode(-32601), FailureClass::kResource},
      {Outcome::httpStatus(404, true).withBodyCode(-32601), FailureClass::kResource},
      {Outcome::httpStatus(404, true), FailureClass::kSessionLost}, // 2025: lost session
      // a stateless request never loses a session
      {Outcome::httpStatus(404, true).forStatelessRequest(), FailureClass::kProtocol},
      {Outcome::httpStatus(400, true, false, true).forStatelessRequest(),
       FailureClass::kInvalidInput},
      {Outcome::httpStatus(400, true, false, true), FailureClass::kSessionLost},
  };
  for (const Row& row : rows) {
    CAPTURE(row.outcome.http_status);
    CAPTURE(row.outcome.jsonrpc_code);
    CHECK(classify(row.outcome) == row.expected);
  }
  // invalid_input is answered at once: never retried by the default retry classes.
  CHECK(classify(Outcome::jsonRpcError(-32021)) != FailureClass::kUpstream);
}

TEST_CASE("tasks: tasks/get is safe to repeat; tasks/update and tasks/cancel have side effects") {
  RetrySafetyFacts facts;
  facts.method = "tasks/get";
  CHECK(mayRetry(facts));
  for (const char* method : {"tasks/update", "tasks/cancel"}) {
    CAPTURE(method);
    facts.method = method;
    CHECK(assessRetrySafety(facts) == RetrySafety::kUnknownSideEffects);
    facts.idempotent_override = true; // "unless configured otherwise"
    CHECK(mayRetry(facts));
    facts.idempotent_override.reset();
  }
  facts.method = "server/discover";
  CHECK(mayRetry(facts));
}

TEST_CASE("subscriptions/listen is the one long-lived stream") {
  CHECK(streamKindOf("subscriptions/listen") == StreamKind::kLongLived);
  for (const char* method : {"tools/call", "tasks/get", "server/discover", "subscriptions/lis"}) {
    CAPTURE(method);
    CHECK(streamKindOf(method) == StreamKind::kRequestScoped);
  }
}
