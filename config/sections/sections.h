// One reader per section of the configuration, each walking its key table (key_table.h). The
// loader (config/loader.cc) calls them in dependency order and assembles the Config. Private to
// config/.
#pragma once

#include "config/key_table.h"

#include <optional>
#include <string>
#include <vector>

namespace bulwark::config {

// A layer of policy overrides as parsed, with where the backoff bounds and the cache were set
// (the cross-field checks on the resolved policy point there).
struct Layer {
  policies::PolicyOverride value;
  std::optional<Field> base_at;
  std::optional<Field> max_at;
  std::string name;                   // "defaults", "methods.tools/call", "tools[0]"
  std::string method = {};            // the JSON-RPC method of a methods.<name> block
  std::optional<Field> cache_at = {}; // the `cache` block
};

// Which policy block a key sits in (Key::only_in bits).
enum BlockKind : unsigned { kDefaultsBlock = 1, kMethodBlock = 2, kToolBlock = 4 };

// What a policy block's keys are stored into.
struct PolicyBlock {
  BlockKind kind;
  Layer& layer;
  Config& config;              // trust_tool_annotations, recovery and the budget are global
  std::optional<Field>* match; // tools[]: where `match` was written
};

void readAddress(Reader& reader, const Field& f, HostPort& out);        // listen_admin.cc
void readUpstream(Reader& reader, const Field& f, UpstreamConfig& out); // upstream.cc
void readErrorHandling(Reader& reader, const Field& f, Layer& seed, Config& config);
void readMonitoring(Reader& reader, const Field& f, MonitoringConfig& out);
void readCacheStore(Reader& reader, const Field& f, Config& config); // cache.cc
void readCache(Reader& reader, const Field& f, Layer& layer);        // cache.cc
void readLimits(Reader& reader, const Field& f, LimitsConfig& out);
void readSessions(Reader& reader, const Field& f, SessionsConfig& out); // sessions.cc
void readSecurity(Reader& reader, const Field& f, SecurityConfig& out);
// Also checks `shared_state` against the listen address and the upstream (shared_state.cc).
void readSharedState(Reader& reader, const Field& f, const Config& config, SharedStateConfig& out);
void readPolicyBlock(Reader& reader, const Field& f, PolicyBlock& block); // policy.cc
void readCircuitBreaker(Reader& reader, const Field& f, PolicyBlock& block);
void readFallback(Reader& reader, const Field& f, PolicyBlock& block); // fallback.cc
void readRecovery(Reader& reader, const Field& f, policies::RecoveryPlan& out);
std::optional<policies::FailureClassSet> readClassList(Reader& reader, const Field& f,
                                                       policies::FailureClassSet refused,
                                                       std::string_view refused_because);

// Each section's keys for allKeys(), with `prefix` before every path.
void appendUpstreamKeys(std::vector<KeyInfo>& out);
void appendErrorHandlingKeys(std::vector<KeyInfo>& out);
void appendMonitoringKeys(std::vector<KeyInfo>& out);
void appendCacheKeys(std::vector<KeyInfo>& out, std::string_view prefix, bool store);
void appendLimitsKeys(std::vector<KeyInfo>& out);
void appendSessionsKeys(std::vector<KeyInfo>& out);
void appendSecurityKeys(std::vector<KeyInfo>& out);
void appendSharedStateKeys(std::vector<KeyInfo>& out);
void appendPolicyKeys(std::vector<KeyInfo>& out, std::string_view prefix, BlockKind kind);

} // namespace bulwark::config
