// Whether a client has stopped taking the bytes queued for it (limits.send_timeout). Fed by the
// connection's periodic sweep with what is queued and what the socket has taken so far; pure, so
// that the decision is tested without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace bulwark {

class SendProgressWatch {
public:
  using Clock = std::chrono::steady_clock;

  // True once bytes have stayed queued with no byte taken for `timeout`. The clock starts at the
  // first sweep that sees bytes queued (not at the epoch: a connection whose first answer is
  // still in one pending write has taken nothing yet, and is not stalled for that).
  bool stalled(std::size_t queued_bytes, std::uint64_t bytes_sent, Clock::time_point now,
               std::chrono::milliseconds timeout) {
    if (queued_bytes == 0 || !watching_ || bytes_sent != sent_at_last_progress_) {
      watching_ = queued_bytes != 0;
      sent_at_last_progress_ = bytes_sent;
      progress_at_ = now;
      return false;
    }
    return now - progress_at_ >= timeout;
  }

private:
  bool watching_ = false;
  std::uint64_t sent_at_last_progress_ = 0;
  Clock::time_point progress_at_{};
};

}  // namespace bulwark
