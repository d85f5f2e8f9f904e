#include "policies/policy_table.h"

#include "policies/glob.h"

#include <algorithm>

namespace bulwark::policies {

PolicyTable::PolicyTable(const PolicySet& set) {
  policies_.reserve(2 + set.methods.size() + set.tools.size());
  policies_.push_back(set.defaults);
  policies_.front().origin = "defaults";

  // Tool calls may have effects: a cache enabled under `defaults` is for reads, and tools/call
  // starts from a disabled cache (its ttl, stale_if_error and scope are still inherited, so
  // `cache: {enabled: true}` on a tool uses them).
  EffectivePolicy tools_defaults = defaults();
  tools_defaults.cache.enabled = false;

  for (const MethodRule& rule : set.methods) {
    if (methods_.count(rule.method) != 0) {
      continue; // config rejects duplicates; if one slips through, the first wins
    }
    const EffectivePolicy& base = rule.method == "tools/call" ? tools_defaults : defaults();
    policies_.push_back(applyOverride(base, rule.policy, "methods." + rule.method));
    methods_.emplace(rule.method, policies_.size() - 1);
    method_order_.emplace_back(rule.method, policies_.size() - 1);
  }
  auto tools_call = methods_.find(std::string_view("tools/call"));
  if (tools_call != methods_.end()) {
    tools_call_ = tools_call->second;
  } else if (defaults().cache.enabled) {
    tools_defaults.origin = "defaults";
    policies_.push_back(std::move(tools_defaults));
    tools_call_ = policies_.size() - 1;
    implicit_tools_call_ = true;
  } else {
    tools_call_ = 0;
  }

  struct Pending {
    int literals;
    std::size_t order;
    GlobRule rule;
  };
  std::vector<Pending> globs;
  for (std::size_t i = 0; i < set.tools.size(); ++i) {
    const ToolRule& rule = set.tools[i];
    const std::string origin = "tools[" + std::to_string(i) + "] " + rule.match;
    if (!isGlob(rule.match)) {
      if (exact_tools_.count(rule.match) != 0) {
        continue; // first in file wins
      }
      policies_.push_back(applyOverride(policies_[tools_call_], rule.policy, origin));
      exact_tools_.emplace(rule.match, policies_.size() - 1);
      exact_order_.emplace_back(rule.match, policies_.size() - 1);
    } else {
      policies_.push_back(applyOverride(policies_[tools_call_], rule.policy, origin));
      globs.push_back({literalCount(rule.match), i, GlobRule{rule.match, policies_.size() - 1}});
    }
  }
  std::stable_sort(globs.begin(), globs.end(), [](const Pending& a, const Pending& b) {
    return a.literals > b.literals; // stable: ties keep file order
  });
  for (Pending& g : globs) {
    globs_.push_back(std::move(g.rule));
  }
}

const EffectivePolicy& PolicyTable::policyFor(std::string_view method,
                                              std::string_view tool) const {
  if (method == "tools/call") {
    if (auto it = exact_tools_.find(tool); it != exact_tools_.end()) {
      return policies_[it->second];
    }
    for (const GlobRule& g : globs_) {
      if (globMatch(g.pattern, tool)) {
        return policies_[g.policy];
      }
    }
    return policies_[tools_call_];
  }
  if (auto it = methods_.find(method); it != methods_.end()) {
    return policies_[it->second];
  }
  return defaults();
}

std::vector<PolicyTable::Entry> PolicyTable::entries() const {
  std::vector<Entry> out;
  out.push_back({"defaults", &defaults()});
  for (const auto& [name, index] : method_order_) {
    out.push_back({"method " + name, &policies_[index]});
  }
  if (implicit_tools_call_) {
    out.push_back({"method tools/call", &policies_[tools_call_]});
  }
  for (const auto& [name, index] : exact_order_) {
    out.push_back({"tool " + name, &policies_[index]});
  }
  for (const GlobRule& g : globs_) {
    out.push_back({"tool " + g.pattern, &policies_[g.policy]});
  }
  return out;
}

std::string PolicyTable::describe() const {
  std::string out;
  for (const Entry& e : entries()) {
    out += e.selector;
    out += " (";
    out += e.policy->origin;
    out += "): ";
    out += describePolicy(*e.policy);
    out += "\n";
  }
  return out;
}

} // namespace bulwark::policies
