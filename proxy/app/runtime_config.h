// The configuration in force: validated settings plus the policy table built from them. Built
// once per load and shared read-only; an exchange keeps the snapshot it started with, so a
// reload never changes the rules of a request in flight.
#pragma once

#include <memory>

#include "config/config.h"
#include "policies/policy_table.h"

namespace bulwark {

struct RuntimeConfig {
  explicit RuntimeConfig(config::Config loaded)
      : settings(std::move(loaded)), policies(config::buildPolicyTable(settings)) {}

  config::Config settings;
  policies::PolicyTable policies;
};

using RuntimeConfigPtr = std::shared_ptr<const RuntimeConfig>;

}  // namespace bulwark
