// The MCP sessions the upstream has opened through Bulwark (2025-03-26 .. 2025-11-25 protocol),
// counted for bulwark_sessions_active. Bounded: a server that never sees DELETE must not grow it
// without limit, so past the cap the oldest-inserted ids are forgotten.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

namespace bulwark {

class Metrics;

class SessionTracker {
public:
  explicit SessionTracker(Metrics& metrics) : metrics_(metrics) {}

  void opened(std::string_view session_id);
  void closed(std::string_view session_id);
  std::size_t active() const { return sessions_.size(); }

private:
  static constexpr std::size_t kMaxSessions = 100000;
  Metrics& metrics_;
  std::unordered_set<std::string> sessions_;
  std::deque<std::string> order_;  // insertion order, for the cap
};

}  // namespace bulwark
