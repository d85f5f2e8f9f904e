// A minimal loop harness for the exchange tests, until the shared one (tests/support/, branch
// `harness`) is in main: a scripted upstream (a loopback HTTP server on the test's loop that
// answers each request from a script), a one-request client, and a Server between them.
// Nothing here throws or checks inside a libuv callback: it records, the test checks after.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/app/runtime_config.h"
#include "proxy/app/server.h"

namespace bulwark::testing {

// One scripted answer of the upstream to one request.
struct UpstreamStep {
  enum class Kind { kRespond, kReset, kNeverAnswer };
  Kind kind = Kind::kRespond;
  std::string bytes;  // the whole response, head and body, for kRespond
  std::function<void()> before;  // runs when the request has arrived, before the step

  static UpstreamStep respond(std::string bytes, std::function<void()> before = {}) {
    return {Kind::kRespond, std::move(bytes), std::move(before)};
  }
  static UpstreamStep reset() { return {Kind::kReset, {}, {}}; }
  static UpstreamStep neverAnswer() { return {Kind::kNeverAnswer, {}, {}}; }
};

// "HTTP/1.1 <status> X", the headers, Content-Length and the body.
std::string httpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_header_lines = {});
// A 200 SSE response that the upstream ends by closing the connection.
std::string sseResponse(std::string_view events);

class ScriptedUpstream {
public:
  ScriptedUpstream(uv_loop_t* loop, std::deque<UpstreamStep> script);
  ~ScriptedUpstream();
  std::string url() const;  // http://127.0.0.1:<port>/mcp
  // Closes the listener and every accepted connection.
  void close();
  int requestsSeen() const { return requests_seen_; }
  const std::vector<std::string>& requests() const { return requests_; }

private:
  struct Connection;
  static void onConnection(uv_stream_t* server, int status);
  void onRequest(Connection& connection, std::string request);

  uv_loop_t* loop_;
  uv_tcp_t listener_{};
  int port_ = 0;
  std::deque<UpstreamStep> script_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<std::string> requests_;
  int requests_seen_ = 0;
  bool closed_ = false;
};

// Sends one request with "Connection: close" and reads the response until the server closes.
class OneRequestClient {
public:
  OneRequestClient(uv_loop_t* loop, const std::string& address, std::string request);
  bool done() const { return done_; }
  const std::string& response() const { return response_; }

private:
  static void onConnect(uv_connect_t* request, int status);
  uv_tcp_t socket_{};
  uv_connect_t connect_{};
  uv_write_t write_{};
  std::string request_;
  std::string response_;
  bool done_ = false;
};

// A POST of `body` to /mcp, with "Connection: close".
std::string mcpPost(std::string_view body, std::string_view extra_header_lines = {});

// A fresh loop with a Server between a client and a ScriptedUpstream.
class ExchangeBench {
public:
  ExchangeBench(std::string_view config_yaml, std::deque<UpstreamStep> script);
  ~ExchangeBench();
  // Sends `request` and runs the loop until its response has been read whole.
  std::string send(std::string request);
  // The admin port's /metrics.
  std::string metrics();
  // Shuts everything down; true when the loop then closes with no handle left.
  bool closeCleanly();
  ScriptedUpstream& upstream() { return *upstream_; }
  const std::string& startError() const { return start_error_; }
  // The exchanges' clock: a test moves it forward instead of waiting.
  ExchangeClock& clock() { return server_->exchangeClock(); }

private:
  uv_loop_t loop_{};
  std::unique_ptr<ScriptedUpstream> upstream_;
  std::unique_ptr<Server> server_;
  std::string start_error_;
  bool closed_ = false;
};

}  // namespace bulwark::testing
