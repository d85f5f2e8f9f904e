// The response cache and the recovery strategies that do not need the upstream (stale and
// fallback answers), and what an open circuit breaker leads to.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/caller_identity.h"
#include "proxy/exchange/downstream_writer.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

void Exchange::refusedByBreaker() {
  // An open circuit looks to this request like an overloaded upstream that named a time to come
  // back: a retry waits for it if the deadline allows; otherwise recovery or a fast failure.
  const Outcome overloaded = Outcome::httpStatus(503, false, true, false);
  report_.give_up_reason = "circuit_open";
  if (attempts_ > 0 && tryRetry(overloaded, attempt_->permits.retry_after, /*held_back=*/true)) {
    return;
  }
  const policies::RecoveryStrategy recovery = policies::chooseRecovery(
      runtime_->settings.recovery.stepsWhenCircuitOpen(), [&] {
        policies::RecoveryFacts facts;
        const auto now = this->now();
        for (const std::string* key : {&cache_keys_.caller, &cache_keys_.shared}) {
          const policies::CacheLookup found =
              cache_keys_.cacheable ? context_.cache.peek(*key, now) : policies::CacheLookup{};
          facts.stale_available = facts.stale_available || found.fresh() || found.stale();
        }
        facts.fallback_available = policy_->fallback.has_value() &&
                                   runtime_->settings.fallback_enabled &&
                                   request_.method == "tools/call";
        return facts;
      }());
  if (recovery != policies::RecoveryStrategy::kFail && client_ != nullptr &&
      (!client_->responseStarted() || downstream_.sse)) {
    serveRecovery(recovery, FailureClass::kOverload);
    return;
  }
  const auto wait_ms = attempt_->permits.retry_after.count();
  std::string detail = "circuit open for ";
  detail += std::string(attempt_->permits.refused_by);
  detail += "; retry in " + std::to_string(wait_ms) + " ms";
  if (client_ != nullptr && !client_->responseStarted()) {
    const ErrorAnswer answer = errorAnswerFor(FailureClass::kOverload);
    const std::string body = jsonRpcErrorBody(
        request_.id, ProxyError{answer.jsonrpc_code, "Upstream unavailable (circuit open)", detail,
                                "overload", attempts_, "circuit_open"});
    const std::string retry_after =
        "Retry-After: " + std::to_string((wait_ms + 999) / 1000) + "\r\n";
    sendErrorAnswer(*client_, answer, body, retry_after);
    report_.error_detail = std::move(detail);
    answered(RequestOutcome::failed(FailureClass::kOverload));
    return;
  }
  giveUp(FailureClass::kOverload, std::move(detail));
}

void Exchange::prepareCache(const Request& request) {
  const policies::CachePolicy& cache = policy_->cache;
  if (!cache.enabled || !policies::isCacheableMethod(request_.method) ||
      runtime_->settings.cache_max_bytes == 0) {
    return;
  }
  const std::optional<std::string> params = context_.cache_json.canonicalParams(request.body);
  if (!params) {
    return;
  }
  cache_keys_.cacheable = true;
  // The caller's identity is its session, credentials and query themselves, never a hash of
  // them: no two callers can share an entry by collision. Keys live only in memory and are
  // never logged.
  const policies::CallerIdentity identity = callerIdentityOf(
      request.head, request_.session_id, runtime_->settings.cache_identity_headers);
  cache_keys_.caller =
      policies::cacheKey(request_.method, request_.tool, *params, request_.protocol_version,
                         policies::CacheKeyScope::callerOf(identity.text()));
  cache_keys_.shared =
      policies::cacheKey(request_.method, request_.tool, *params, request_.protocol_version,
                         policies::CacheKeyScope::shared());
}

bool Exchange::answerFromFreshCache() {
  if (!cache_keys_.cacheable) {
    return false;
  }
  const auto now = this->now();
  for (const std::string* key : {&cache_keys_.caller, &cache_keys_.shared}) {
    const policies::CacheLookup found = context_.cache.peek(*key, now);
    if (found.fresh()) {
      context_.metrics.recordCacheRequest(CacheResult::kHit);
      const std::string result = found.entry->response.result_json;
      report_.outcome = RequestOutcome::success();
      report_.cache = cacheResultLabel(CacheResult::kHit);
      answerWithResult(result);
      return true;
    }
  }
  if (!sharedCacheMayHave()) {  // otherwise counted once Redis answered (exchange_shared.cc)
    context_.metrics.recordCacheRequest(CacheResult::kMiss);
  }
  return false;
}

void Exchange::storeInCache(std::string_view message_json, const Envelope& message) {
  const std::optional<CacheableResult> result = CacheJson::successResult(message, message_json);
  if (!result || !context_.cache_json.canFlag(result->result_json)) {
    return;  // not a success, or a result a stale answer could not be marked in
  }
  policies::CacheStoreFacts facts;
  facts.method = request_.method;
  facts.success = true;
  facts.result_kind = message.result_kind;  // input_required and task handles are not kept
  if (result->ttl_ms) {
    facts.server_ttl = policies::Duration(*result->ttl_ms);
  }
  facts.server_scope = result->cache_scope == "public" ? policies::ServerCacheScope::kPublic
                       : result->cache_scope == "private"
                           ? policies::ServerCacheScope::kPrivate
                           : policies::ServerCacheScope::kUnspecified;
  const auto decision = policies::cacheStoreDecision(policy_->cache, facts);
  if (!decision) {
    return;
  }
  const std::string& key = decision->scope == policies::CacheScope::kShared ? cache_keys_.shared
                                                                           : cache_keys_.caller;
  const policies::CachedResponse response{result->result_json, "application/json", 0};
  context_.cache.insert(key, response, decision->ttl, decision->stale_if_error, now());
  publishToSharedCache(key, response, decision->ttl, decision->stale_if_error);
}

policies::RecoveryStrategy Exchange::planRecovery(FailureClass failure, bool circuit_open) {
  if (!request_.judged || client_ == nullptr || (client_->responseStarted() && !downstream_.sse)) {
    return policies::RecoveryStrategy::kFail;
  }
  policies::RecoveryFacts facts;
  const auto now = this->now();
  if (cache_keys_.cacheable) {
    for (const std::string* key : {&cache_keys_.caller, &cache_keys_.shared}) {
      const policies::CacheLookup found = context_.cache.peek(*key, now);
      facts.stale_available = facts.stale_available || found.fresh() || found.stale();
    }
  }
  facts.fallback_available = policy_->fallback.has_value() &&
                             runtime_->settings.fallback_enabled && request_.method == "tools/call";
  return policies::chooseRecovery(circuit_open
                                      ? runtime_->settings.recovery.stepsWhenCircuitOpen()
                                      : runtime_->settings.recovery.stepsFor(failure),
                                  facts);
}

void Exchange::serveRecovery(policies::RecoveryStrategy strategy, FailureClass failure) {
  const auto now = this->now();
  // The time the client waited for its recovery answer, from its request's arrival: a first
  // attempt that hung until its per-try timeout is part of it.
  const double seconds = std::chrono::duration<double>(now - started_at_).count();
  std::string result;
  if (strategy == policies::RecoveryStrategy::kStaleCache) {
    for (const std::string* key : {&cache_keys_.caller, &cache_keys_.shared}) {
      const policies::CacheLookup found = context_.cache.lookupStale(*key, now);
      if (found.fresh() || found.stale()) {
        result = CacheJson::withMetaFlag(found.entry->response.result_json, "bulwark/stale",
                                         context_.cache_json);
        break;
      }
    }
    context_.metrics.recordCacheRequest(CacheResult::kStale);
    context_.metrics.recordRecovery(RecoveredBy::kStale, seconds);
    report_.cache = cacheResultLabel(CacheResult::kStale);
  } else {
    const policies::FallbackSpec& fallback = *policy_->fallback;
    result = CacheJson::withMetaFlag(fallback.kind == policies::FallbackSpec::Kind::kText
                                         ? fallbackTextResult(fallback.text)
                                         : fallback.result_json,
                                     "bulwark/fallback", context_.cache_json);
    context_.metrics.recordFallback(toolLabel());
    context_.metrics.recordRecovery(RecoveredBy::kFallback, seconds);
  }
  logLine(LogLevel::kInfo, "answered from recovery",
          {{"strategy", strategy == policies::RecoveryStrategy::kStaleCache ? "stale" : "fallback"},
           {"class", policies::failureClassName(failure)},
           {"method", context_.metrics.methodLabel(request_.method)},
           {"tool", std::string_view(request_.tool)},
           LogField::ifNonEmpty("session", SessionRef{request_.session_id}),
           {"request_id", std::string_view(request_.id)},
           {"attempt", attempts_}});
  report_.outcome = RequestOutcome::success();
  retry_state_->forgetFailures();  // counted here, not again as a retry recovery
  answerWithResult(result);
}

void Exchange::answerWithResult(std::string_view result_json) {
  sendComposedAnswer(*client_, CacheJson::responseFor(request_.id, result_json), request_.accept);
  answered();
}

}  // namespace bulwark
