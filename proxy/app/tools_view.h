// What Bulwark knows about the upstream's tools, for the admin port's GET /tools and for the one
// warning per tool rule that matches no known tool (issue #18 item 5).
#pragma once

#include "proxy/app/runtime_config.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/upstream/tool_discovery.h"

#include <string>
#include <unordered_set>

namespace bulwark {

// JSON: {"discovery": {...}, "tools": [{name, hints, source, learned_at, retry_safety,
// retryable, policy}], "unmatched_rules": [{match, closest}]}. Header values are never shown.
std::string toolsViewJson(const ToolCatalog& catalog, const DiscoveryStatus& discovery,
                          const RuntimeConfig& runtime);

// Logs one warning per tool rule whose pattern matches none of the known tools, naming a close
// tool name when there is one. `warned` remembers the rules already reported (clear it on reload).
void warnUnmatchedRules(const ToolCatalog& catalog, const RuntimeConfig& runtime,
                        std::unordered_set<std::string>& warned);

} // namespace bulwark
