#include "proxy/session_tracker.h"

#include "proxy/metrics.h"

namespace bulwark {

void SessionTracker::opened(std::string_view session_id) {
  if (session_id.empty() || !sessions_.emplace(session_id).second) {
    return;
  }
  order_.emplace_back(session_id);
  while (sessions_.size() > kMaxSessions && !order_.empty()) {
    sessions_.erase(order_.front());
    order_.pop_front();
  }
  if (order_.size() > 2 * kMaxSessions) {
    // Ids closed long ago linger in order_; drop the ones no longer tracked.
    std::deque<std::string> kept;
    for (std::string& id : order_) {
      if (sessions_.contains(id)) {
        kept.push_back(std::move(id));
      }
    }
    order_.swap(kept);
  }
  metrics_.setActiveSessions(sessions_.size());
}

void SessionTracker::closed(std::string_view session_id) {
  if (sessions_.erase(std::string(session_id)) > 0) {
    metrics_.setActiveSessions(sessions_.size());
  }
}

}  // namespace bulwark
