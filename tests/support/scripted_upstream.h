// A scripted HTTP/1.1 upstream for component tests: a loopback server on the test's loop that
// answers the requests it receives, in arrival order and across all its connections, with the
// replies queued by the test, and records every request.
//
//   TestLoop loop;
//   ScriptedUpstream upstream(loop);                    // listens on 127.0.0.1:<ephemeral>
//   upstream.push(Reply::json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})"));
//   upstream.push(Reply::sse(200, {R"({"jsonrpc":"2.0","method":"notifications/progress"})",
//                                  R"({"jsonrpc":"2.0","id":2,"result":{}})"},
//                            std::chrono::milliseconds(20)));   // one write per event
//   upstream.push(Reply::resetBeforeHead());
//   ... point the code under test at upstream.address() / upstream.port() ...
//   CHECK(loop.runUntil([&] { return upstream.requests().size() == 3; }));
//   CHECK(upstream.requests()[0].header("mcp-session-id") == "abc");
//   upstream.close();                                   // then let the loop run out
//   CHECK(loop.close() == 0);
//
// A Reply is a list of writes (bytes, each after an optional delay) and what happens after the
// last one: keep the connection for the next request (keep-alive), close it (FIN), reset it
// (RST), or hang (nothing more is ever sent on it; the connection stays open until close()).
// Builders cover the usual cases; Reply::raw() writes anything at all (malformed HTTP, a head
// split in the middle, a Content-Length that lies).
//
// A request that arrives when the script is empty is answered 500 "script exhausted" (and
// recorded, so a test can see it came).
//
// Lifetime: the ScriptedUpstream owns its listening socket and its connections. close() closes
// all of them; the object must then outlive the loop turns that run their close callbacks
// (TestLoop::close() runs them). The destructor closes too if the test did not, so a test that
// failed half-way still cleans up.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace bulwark::testing {

struct Reply {
  enum class End : std::uint8_t {
    kKeepAlive,  // the connection serves the next request
    kClose,      // FIN after the last write
    kReset,      // RST after the last write (uv_tcp_close_reset)
    kHang,       // nothing more is sent; the connection stays open
  };
  struct Write {
    std::chrono::milliseconds delay{0};  // waited before this write
    std::string bytes;
  };
  using Headers = std::vector<std::pair<std::string, std::string>>;

  std::vector<Write> writes;
  End end = End::kKeepAlive;

  // A whole response with `Content-Type: application/json` and Content-Length.
  static Reply json(int status, std::string_view body, const Headers& headers = {});
  // An SSE response (chunked): each entry of `events` becomes one `event: message` with that
  // data, in its own write, `gap` after the one before. The stream ends with the last chunk.
  static Reply sse(int status, const std::vector<std::string>& events,
                   std::chrono::milliseconds gap = std::chrono::milliseconds(0),
                   const Headers& headers = {});
  // A response with no body (e.g. 202 Accepted for a notification, or 404).
  static Reply empty(int status, const Headers& headers = {});
  // The connection is reset before any response byte.
  static Reply resetBeforeHead();
  // An SSE head (and the events given, if any) is sent, then the connection is reset.
  static Reply resetAfterHead(int status = 200, const std::vector<std::string>& events = {});
  // The request is never answered.
  static Reply never();
  // Exactly these writes, then `end`.
  static Reply raw(std::vector<Write> writes, End end);

  // Builders for writing heads by hand.
  static std::string head(int status, const Headers& headers);
  static std::string sseChunk(std::string_view data);  // one SSE event as one chunk
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::size_t connection = 0;  // 1-based number of the connection it came on

  // The first value of a header (name case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
};

class ScriptedUpstream {
public:
  explicit ScriptedUpstream(uv_loop_t* loop);
  ~ScriptedUpstream();
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  // Queues the answer to the next request not yet answered.
  void push(Reply reply);
  // "127.0.0.1:PORT"
  std::string address() const;
  std::uint16_t port() const { return port_; }
  // The bound address as a sockaddr (for code that connects without resolving).
  const sockaddr_in& sockaddr() const { return bound_; }

  const std::vector<RecordedRequest>& requests() const { return requests_; }
  std::size_t connectionsAccepted() const { return accepted_; }
  std::size_t connectionsOpen() const { return connections_.size(); }
  std::size_t repliesLeft() const { return script_.size(); }

  // Stops listening and closes every connection (pending delays and writes are dropped).
  void close();

  class Connection;  // one accepted connection (private to the .cc)

private:
  friend class Connection;
  static void onConnection(uv_stream_t* server, int status);
  Reply nextReply();

  uv_loop_t* loop_;
  uv_tcp_t* listener_ = nullptr;  // freed in its close callback
  sockaddr_in bound_{};
  std::uint16_t port_ = 0;
  bool closed_ = false;
  std::size_t accepted_ = 0;
  std::deque<Reply> script_;
  std::vector<RecordedRequest> requests_;
  std::unordered_set<Connection*> connections_;
};

}  // namespace bulwark::testing
