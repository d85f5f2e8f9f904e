// The resolver: every EffectivePolicy a configuration can produce, computed once, and the lookup
// from (method, tool) to one of them. Immutable after construction; share it read-only.
//
// Resolution:
//   - tools/call with a tool name: defaults <- methods["tools/call"] <- the most specific tool
//     rule that matches (an exact name beats any glob; among globs, more literal characters win;
//     ties go to the rule first in the file). No matching rule: defaults <- methods["tools/call"].
//   - any other method: defaults <- methods[method] (exact name), else defaults. Tool rules only
//     apply to tools/call.
//   - the one exception to plain inheritance: tools/call never inherits `cache.enabled = true`
//     from defaults (tool calls may have effects; a cache under defaults is meant for reads).
//     methods["tools/call"] or a tool rule must enable it; the other cache fields are inherited.
#pragma once

#include "policies/policy.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bulwark::policies {

class PolicyTable {
public:
  explicit PolicyTable(const PolicySet& set);

  // The policy for one request. The reference stays valid for the table's lifetime, also
  // across moves of the table. `tool` is ignored unless method is "tools/call".
  const EffectivePolicy& policyFor(std::string_view method, std::string_view tool = {}) const;

  const EffectivePolicy& defaults() const { return policies_.front(); }

  struct Entry {
    std::string selector; // "defaults", "method resources/read", "tool get_weather", ...
    const EffectivePolicy* policy;
  };
  // Every resolved policy in resolution order: defaults, methods (file order), tool rules in the
  // order they are tried (exact names, then globs by specificity).
  std::vector<Entry> entries() const;
  // entries() as text, one "selector: describePolicy(...)" line each (for --check-config and
  // startup logs).
  std::string describe() const;

private:
  struct GlobRule {
    std::string pattern;
    std::size_t policy; // index into policies_
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>>;

  std::vector<EffectivePolicy> policies_; // [0] = defaults; never resized after construction
  Index methods_;
  std::vector<std::pair<std::string, std::size_t>> method_order_;
  Index exact_tools_;
  std::vector<std::pair<std::string, std::size_t>> exact_order_;
  std::vector<GlobRule> globs_;      // sorted: most specific first
  std::size_t tools_call_ = 0;       // the policy for tools/call without a matching tool rule
  bool implicit_tools_call_ = false; // tools_call_ is defaults with the cache off (no method rule)
};

} // namespace bulwark::policies
