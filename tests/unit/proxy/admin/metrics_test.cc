#include "proxy/admin/metrics.h"

#include <doctest/doctest.h>

#include <string>

namespace bulwark {
namespace {

using policies::FailureClass;

bool exposes(const std::string& text, std::string_view series) {
  return text.find(series) != std::string::npos;
}

TEST_CASE("typed events are exported under today's label strings") {
  Metrics metrics;
  metrics.recordRequest("tools/call", "get_weather", RequestOutcome::success(), 0.01);
  metrics.recordRequest("tools/call", "get_weather", RequestOutcome::cancelled(), 0.01);
  metrics.recordRequest("tools/call", "get_weather", RequestOutcome::failed(FailureClass::kTimeout),
                        0.01);
  metrics.recordRequest("", "", RequestOutcome::success(), 0.01);
  metrics.recordRequest("custom/thing", "", RequestOutcome::success(), 0.01);
  metrics.recordRequest("notifications/custom", "", RequestOutcome::success(), 0.01);
  metrics.recordUpstreamAttempt(UpstreamAttemptResult::kResetBeforeResponse);
  metrics.recordUpstreamAttempt(UpstreamAttemptResult::kAbandoned);
  metrics.recordRetry("get_weather", FailureClass::kSessionLost);
  metrics.recordError(FailureClass::kToolError, "get_weather");
  metrics.recordTimeout(policies::TimeoutKind::kPerTry);
  metrics.recordConfigReload(ReloadResult::kFailure);
  metrics.recordLogRecord(FailureClass::kOverload);
  metrics.recordSessionRecovery(SessionRecoveryResult::kSuccess);
  metrics.recordRecovery(RecoveredBy::kSession, 0.2);
  metrics.recordCacheRequest(CacheResult::kStale);
  metrics.setCircuitState("upstream", policies::CircuitState::kHalfOpen);
  metrics.recordCircuitTransition("upstream", policies::CircuitState::kOpen,
                                  policies::CircuitState::kHalfOpen);
  const std::string text = metrics.serialize();

  CHECK(exposes(
      text,
      R"(bulwark_requests_total{method="tools/call",outcome="success",tool="get_weather"} 1)"));
  CHECK(exposes(
      text,
      R"(bulwark_requests_total{method="tools/call",outcome="cancelled",tool="get_weather"} 1)"));
  CHECK(exposes(
      text,
      R"(bulwark_requests_total{method="tools/call",outcome="timeout",tool="get_weather"} 1)"));
  CHECK(exposes(text, R"(bulwark_requests_total{method="none",outcome="success",tool=""} 1)"));
  CHECK(exposes(text, R"(bulwark_requests_total{method="other",outcome="success",tool=""} 1)"));
  CHECK(exposes(
      text, R"(bulwark_requests_total{method="notifications/other",outcome="success",tool=""} 1)"));
  CHECK(exposes(text, R"(bulwark_request_duration_seconds_count{method="tools/call"} 3)"));
  CHECK(exposes(text, R"(bulwark_upstream_attempts_total{result="reset_before_response"} 1)"));
  CHECK(exposes(text, R"(bulwark_upstream_attempts_total{result="abandoned"} 1)"));
  CHECK(exposes(text, R"(bulwark_upstream_attempts_total{result="response"} 0)"));
  CHECK(exposes(text, R"(bulwark_retries_total{reason="session_lost",tool="get_weather"} 1)"));
  CHECK(exposes(text, R"(bulwark_errors_total{class="tool_error",tool="get_weather"} 1)"));
  CHECK(exposes(text, R"(bulwark_timeouts_total{kind="per_try"} 1)"));
  CHECK(exposes(text, R"(bulwark_timeouts_total{kind="deadline"} 0)"));
  CHECK(exposes(text, R"(bulwark_config_reloads_total{result="failure"} 1)"));
  CHECK(exposes(text, R"(bulwark_config_reloads_total{result="success"} 0)"));
  CHECK(exposes(text, R"(bulwark_log_records_total{class="overload"} 1)"));
  CHECK(exposes(text, R"(bulwark_session_recoveries_total{result="success"} 1)"));
  CHECK(exposes(text, R"(bulwark_recoveries_total{strategy="session"} 1)"));
  CHECK(exposes(text, R"(bulwark_recoveries_total{strategy="retry"} 0)"));
  CHECK(exposes(text, R"(bulwark_cache_requests_total{result="stale"} 1)"));
  CHECK(exposes(text, R"(bulwark_cache_requests_total{result="hit"} 0)"));
  CHECK(exposes(text, R"(bulwark_circuit_state{target="upstream"} 1)"));
  CHECK(exposes(
      text,
      R"(bulwark_circuit_transitions_total{from="open",target="upstream",to="half_open"} 1)"));
  // "none" is success, never a log class of its own.
  CHECK_FALSE(exposes(text, R"(bulwark_log_records_total{class="none"})"));
}

TEST_CASE("the closed label sets name every enum value") {
  CHECK(requestOutcomeLabel(RequestOutcome::success()) == "success");
  CHECK(requestOutcomeLabel(RequestOutcome::failed(FailureClass::kNone)) == "success");
  CHECK(requestOutcomeLabel(RequestOutcome::cancelled()) == "cancelled");
  CHECK(requestOutcomeLabel(RequestOutcome::failed(FailureClass::kProtocol)) == "protocol");
  CHECK(upstreamAttemptResultLabel(UpstreamAttemptResult::kResponse) == "response");
  CHECK(upstreamAttemptResultLabel(UpstreamAttemptResult::kConnectFailed) == "connect_failed");
  CHECK(upstreamAttemptResultLabel(UpstreamAttemptResult::kConnectTimeout) == "connect_timeout");
  CHECK(upstreamAttemptResultLabel(UpstreamAttemptResult::kResetDuringResponse) ==
        "reset_during_response");
  CHECK(upstreamAttemptResultLabel(UpstreamAttemptResult::kMalformedResponse) ==
        "malformed_response");
  CHECK(cacheResultLabel(CacheResult::kHit) == "hit");
  CHECK(cacheResultLabel(CacheResult::kMiss) == "miss");
  CHECK(recoveredByLabel(RecoveredBy::kStale) == "stale");
  CHECK(recoveredByLabel(RecoveredBy::kFallback) == "fallback");
  CHECK(reloadResultLabel(ReloadResult::kSuccess) == "success");
}

TEST_CASE("alert thresholds are exported once set, and follow each new value") {
  Metrics metrics;
  CHECK_FALSE(exposes(metrics.serialize(), "bulwark_alert_threshold{"));
  metrics.setAlertThresholds(0.05, std::chrono::seconds(5));
  std::string text = metrics.serialize();
  CHECK(exposes(text, R"(bulwark_alert_threshold{name="error_rate"} 0.05)"));
  CHECK(exposes(text, R"(bulwark_alert_threshold{name="recovery_time"} 5)"));
  metrics.setAlertThresholds(0.01, std::chrono::milliseconds(1500));
  text = metrics.serialize();
  CHECK(exposes(text, R"(bulwark_alert_threshold{name="error_rate"} 0.01)"));
  CHECK(exposes(text, R"(bulwark_alert_threshold{name="recovery_time"} 1.5)"));
}

TEST_CASE("tool labels beyond the cap fold into other") {
  Metrics metrics(1);
  CHECK(metrics.toolLabel("first") == "first");
  CHECK(metrics.toolLabel("second") == "other");
  CHECK(metrics.toolLabel("first") == "first");
  CHECK(metrics.toolLabel("") == "");
  CHECK(metrics.methodLabel("tools/list") == "tools/list");
  CHECK(metrics.methodLabel("") == "none");
}

}  // namespace
}  // namespace bulwark
