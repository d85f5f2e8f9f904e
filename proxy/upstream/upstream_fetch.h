// Requests Bulwark sends to the upstream on its own behalf: notifications/cancelled after giving
// up (nobody waits for the answer), and the initialize replay of a session recovery (which needs
// the answer's status, session id and body). Each owns itself and is gone once it has answered.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace bulwark {

class Metrics;
class UpstreamPool;

struct FetchResult {
  bool complete = false;   // a whole HTTP response arrived
  int status = 0;
  std::string session_id;  // the response's Mcp-Session-Id, if any
  std::string body;        // up to kMaxFetchBodyBytes
  bool truncated = false;  // the body was longer than kMaxFetchBodyBytes (the rest is dropped)
  std::string content_type; // the response's Content-Type, if any
  std::string error;       // why the response is not complete
};

inline constexpr std::size_t kMaxFetchBodyBytes = 1024 * 1024;

using FetchDone = std::function<void(FetchResult&&)>;

// Sends `request_bytes` (a whole HTTP/1.1 request) on a pooled connection. `done`, when given,
// runs once with the result, never before fetchFromUpstream returns; `timeout` bounds the whole
// exchange (zero: no bound). Every failure after the start (connect, reset, timeout, a libuv
// call that failed) reaches `done` as a result with `error` set. Returns an empty string, or,
// as libuv does, the error of a start that could not even set up its timer
// ("uv_timer_init: ..."): then `done` never runs.
std::string fetchFromUpstream(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                              std::string request_bytes, std::chrono::milliseconds timeout,
                              FetchDone done);

// What a request of Bulwark's own carries besides its body: taken from the client request it
// acts for, so the upstream sees the same host, credential and protocol version.
struct OwnRequestHeaders {
  std::string_view host;
  std::string_view authorization;
  std::string_view protocol_version;  // sent only with a session id, as the spec has it
};

// A whole HTTP/1.1 POST of one JSON-RPC message to `path`, in `session_id` when not empty.
std::string ownJsonRpcPost(std::string_view path, std::string_view body,
                           std::string_view session_id, const OwnRequestHeaders& headers);

// Fire and forget.
inline void sendDetachedRequest(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                                std::string request_bytes) {
  // A start error is logged by fetchFromUpstream; nobody waits for this answer.
  static_cast<void>(fetchFromUpstream(loop, pool, metrics, std::move(request_bytes),
                                      std::chrono::milliseconds{0}, {}));
}

}  // namespace bulwark
