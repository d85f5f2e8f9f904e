#include "policies/restart_wait.h"

namespace bulwark::policies {

UnreachableDecision decideUnreachable(const RestartWaitParams& params,
                                      const UnreachableFacts& facts) {
  if (!facts.never_sent && !facts.held_back && !facts.connection_lost && !facts.probe_failing) {
    return {};
  }
  if (facts.recovery_available) {
    return {UnreachableAction::kRecoverNow, Duration{0}};
  }
  if (facts.held_back && !facts.probe_failing && facts.since_seen_up) {
    return {UnreachableAction::kWaitForCircuit, Duration{0}};
  }
  if ((!facts.never_sent && !facts.held_back) || !facts.since_seen_up ||
      *facts.since_seen_up > params.window) {
    return {};
  }
  if (facts.waited >= params.max) {
    return {UnreachableAction::kStopWaiting, Duration{0}};
  }
  return {UnreachableAction::kWaitForRestart, params.max - facts.waited};
}

}  // namespace bulwark::policies
