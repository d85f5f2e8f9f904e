// What one upstream attempt knows: the connection it went out on, the breaker permit it holds,
// and its view of the upstream response. Created afresh for each try, so nothing of an earlier
// attempt (a held head, a half-read SSE event, a JSON-RPC code) can leak into the next.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "proxy/http/http_message.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/net/buffer_budget.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/circuit_breakers.h"

namespace bulwark {

class UpstreamConnection;

// What the attempt's response is doing.
enum class AttemptReply : std::uint8_t {
  kPending,       // no response head yet
  kForward,       // committed: the upstream's response goes to the client as it is
  kHoldJson,      // a JSON reply, buffered to be judged when complete
  kSse,           // an SSE reply: events stream through, the final answer is judged
  kDiscard,       // abandoned: a retry or a give-up is under way
  kSessionCheck,  // a 404 or 400 in a known session, buffered: does it mean a lost session?
};

struct AttemptState {
  // The held head's field list and the held body reuse recycled storage (SparePool).
  AttemptState() : held_body(SparePool<std::string>::take()) {
    held_head.headers = SparePool<HeaderList>::take();
  }
  ~AttemptState() {
    SparePool<std::string>::giveBack(std::move(held_body));
    SparePool<HeaderList>::giveBack(std::move(held_head.headers));
  }
  AttemptState(const AttemptState&) = delete;
  AttemptState& operator=(const AttemptState&) = delete;

  bool started = false;  // beginAttempt() has used it
  UpstreamConnection* upstream = nullptr;  // while the attempt is in flight
  CircuitBreakers::Permits permits;
  bool reported = true;  // the breakers heard how it ended (nothing to report until admitted)
  bool resent_on_fresh_connection = false;
  AttemptReply reply = AttemptReply::kPending;
  int upstream_status = 0;
  std::optional<std::int64_t> jsonrpc_code;
  HttpHead held_head;
  std::string held_body;
  bool observe_json = false;  // a forwarded JSON reply is copied to held_body to learn its outcome
  std::unique_ptr<SseParser> sse;
  std::string sse_carry;       // bytes of an SSE event not yet complete
  bool sse_resumable = false;  // an event carried an id: the client may resume the stream
  // held_body and the pending SSE event in the process's buffer budget (Exchange::chargeHeld).
  BufferShare held_share;
};

}  // namespace bulwark
