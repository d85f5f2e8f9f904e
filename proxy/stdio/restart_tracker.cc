#include "proxy/stdio/restart_tracker.h"

namespace bulwark::stdio {

RestartDecision RestartTracker::childExited(TimePoint started_at, TimePoint now) {
  if (now - started_at >= params_.stable_after) {
    quick_exits_ = 0;
  }
  ++quick_exits_;
  RestartDecision decision;
  decision.crash_loop = crashLoop();
  decision.delay = decision.crash_loop ? params_.backoff.max
                                       : policies::backoffCeiling(params_.backoff, quick_exits_);
  return decision;
}

void RestartTracker::childRunning(TimePoint started_at, TimePoint now) {
  if (now - started_at >= params_.stable_after) {
    quick_exits_ = 0;
  }
}

}  // namespace bulwark::stdio
