// "Wait out a restart, or answer now?" for an attempt that did not reach a working upstream.
// A request with a recovery answer (a stale entry or a fallback) gets it at once: waiting would
// only delay an answer the client can have now. Without one, a request whose connection was
// refused while the upstream was seen up recently waits for the restart, but only for
// `RestartWaitParams::max` from its first failure, so a new client's initialize is bounded too.
// Pure; the proxy passes in what its health probe saw and how long the request has waited.
#pragma once

#include "policies/duration.h"

#include <chrono>
#include <cstdint>
#include <optional>

namespace bulwark::policies {

// defaults.retry.restart_wait. Global, like the retry budget.
struct RestartWaitParams {
  // Longest a request without a recovery answer waits for a restarting upstream, from its first
  // failed attempt. At the 5 s recovery-time threshold: long enough for a process restart on a
  // loaded machine (server-everything took 2-3 s here), never longer than the alert allows.
  Duration max{std::chrono::seconds(5)};
  // An upstream whose health probe connected within this window before a refused connection is
  // taken to be restarting; one never seen up (or down for longer) fails after max_attempts.
  Duration window{std::chrono::seconds(60)};

  bool operator==(const RestartWaitParams&) const = default;
};

// What the proxy knows about a failed attempt and the upstream's health.
struct UnreachableFacts {
  bool never_sent = false;       // connection refused
  bool held_back = false;        // a circuit breaker kept the attempt from being sent
  bool connection_lost = false;  // reset or EOF before any response byte
  bool probe_failing = false;    // the health probe's latest connect failed
  // Since the health probe last connected (zero while it is up); nullopt: never.
  std::optional<Duration> since_seen_up{};
  bool recovery_available = false;  // a stale entry or a fallback can answer this request now
  Duration waited{0};               // since the request's first failed attempt
};

enum class UnreachableAction : std::uint8_t {
  kFollowRetryPolicy,  // an ordinary failure: max_attempts, backoff and deadline as configured
  kRecoverNow,         // answer from the stale entry or the fallback without another attempt
  kWaitForRestart,     // try again past max_attempts, waiting at most `wait_left` in all
  kWaitForCircuit,     // an open circuit in front of a live upstream: try again past
                       // max_attempts, bounded by the deadline only
  kStopWaiting,        // the restart wait is spent: give up now
};

struct UnreachableDecision {
  UnreachableAction action = UnreachableAction::kFollowRetryPolicy;
  Duration wait_left{0};  // kWaitForRestart only: max - waited

  bool operator==(const UnreachableDecision&) const = default;
};

// In this order:
//   1. none of never_sent, held_back, connection_lost, probe_failing -> kFollowRetryPolicy
//   2. recovery_available                                         -> kRecoverNow
//   3. held_back, the probe up (not failing, seen up)             -> kWaitForCircuit
//   4. neither never_sent nor held_back (a lost connection)       -> kFollowRetryPolicy
//   5. since_seen_up unset or > window (not a restart)            -> kFollowRetryPolicy
//   6. waited >= max                                              -> kStopWaiting
//   7. otherwise                                                  -> kWaitForRestart, max - waited
UnreachableDecision decideUnreachable(const RestartWaitParams& params,
                                      const UnreachableFacts& facts);

}  // namespace bulwark::policies
