#include "proxy/app/tools_view.h"

#include "proxy/admin/log.h"
#include "proxy/mcp/json_writer.h"

#include <ctime>

namespace bulwark {
namespace {

std::vector<std::string> rulePatterns(const RuntimeConfig& runtime) {
  std::vector<std::string> patterns;
  for (const policies::ToolRule& rule : runtime.settings.policies.tools) {
    patterns.push_back(rule.match);
  }
  return patterns;
}

void appendTime(std::string& out, std::chrono::system_clock::time_point at) {
  if (at == std::chrono::system_clock::time_point{}) {
    out += "null";
    return;
  }
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  appendJsonString(out, std::string_view(text, length));
}

void appendHint(std::string& out, std::optional<bool> hint) {
  out += hint ? (*hint ? "true" : "false") : "null";
}

} // namespace

std::string toolsViewJson(const ToolCatalog& catalog, const DiscoveryStatus& discovery,
                          const RuntimeConfig& runtime) {
  std::string out = R"({"discovery":{"enabled":)";
  out += discovery.enabled ? "true" : "false";
  out += R"(,"active":)";
  out += discovery.active ? "true" : "false";
  out += R"(,"last_result":)";
  if (discovery.last_result) {
    appendJsonString(out, toolDiscoveryResultLabel(*discovery.last_result));
  } else {
    out += "null";
  }
  out += R"(,"last_at":)";
  appendTime(out, discovery.last_at);
  out += R"(,"last_error":)";
  appendJsonString(out, discovery.last_error);
  out += R"(,"protocol_version":)";
  appendJsonString(out, discovery.protocol_version);
  out += R"(,"pages":)" + std::to_string(discovery.pages);
  out += R"(,"tools":)" + std::to_string(discovery.tools);
  out += R"(,"next_in_ms":)" + std::to_string(discovery.next_in.count());
  out += R"(,"caller_listings":)" + std::to_string(discovery.caller_listings);
  out += R"(},"tools":[)";
  bool first = true;
  for (const auto& [name, known] : catalog.snapshot()) {
    const policies::EffectivePolicy& policy = runtime.policies.policyFor("tools/call", name);
    policies::RetrySafetyFacts facts;
    facts.method = "tools/call";
    facts.idempotent_override = policy.idempotent;
    facts.annotations = known.hints;
    facts.trust_annotations = policy.trust_tool_annotations;
    const policies::RetrySafety safety = policies::assessRetrySafety(facts);
    out += first ? "{" : ",{";
    first = false;
    out += R"("name":)";
    appendJsonString(out, name);
    out += R"(,"hints":{"readOnlyHint":)";
    appendHint(out, known.hints.read_only_hint);
    out += R"(,"idempotentHint":)";
    appendHint(out, known.hints.idempotent_hint);
    // Explicit configuration beats every listing.
    out += R"(},"source":)";
    appendJsonString(out, policy.idempotent ? std::string_view("config")
                                            : policies::hintSourceName(known.source));
    out += R"(,"hints_source":)";
    appendJsonString(out, policies::hintSourceName(known.source));
    out += R"(,"learned_at":)";
    appendTime(out, known.learned_at);
    out += R"(,"retry_safety":)";
    appendJsonString(out, policies::retrySafetyName(safety));
    out += R"(,"retryable":)";
    out += policies::isSafe(safety) ? "true" : "false";
    out += R"(,"policy":)";
    appendJsonString(out, policy.origin);
    out += R"(,"policy_detail":)";
    appendJsonString(out, policies::describePolicy(policy));
    out += "}";
  }
  out += R"(],"unmatched_rules":[)";
  first = true;
  if (catalog.size() > 0) {
    for (const policies::UnmatchedRule& rule :
         policies::unmatchedRules(rulePatterns(runtime), catalog.names())) {
      out += first ? "{" : ",{";
      first = false;
      out += R"("match":)";
      appendJsonString(out, rule.match);
      out += R"(,"closest":)";
      if (rule.closest.empty()) {
        out += "null";
      } else {
        appendJsonString(out, rule.closest);
      }
      out += "}";
    }
  }
  out += "]}\n";
  return out;
}

void warnUnmatchedRules(const ToolCatalog& catalog, const RuntimeConfig& runtime,
                        std::unordered_set<std::string>& warned) {
  if (catalog.size() == 0) {
    return;
  }
  for (const policies::UnmatchedRule& rule :
       policies::unmatchedRules(rulePatterns(runtime), catalog.names())) {
    if (!warned.insert(rule.match).second) {
      continue;
    }
    logLine(LogLevel::kWarn, "tool rule matches no tool the upstream lists",
            {{"match", rule.match}, {"closest", rule.closest}});
  }
}

} // namespace bulwark
