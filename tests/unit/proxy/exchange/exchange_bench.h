// The exchange between a client (tests/support's RawClient) and the shared ScriptedUpstream, on
// a TestLoop, with a Server wiring them: what the exchange tests drive. Nothing here asserts
// inside a libuv callback.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/app/server.h"
#include "tests/support/raw_client.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

namespace bulwark::testing {

// A POST of `body` to /mcp with "Connection: close".
std::string mcpPost(std::string_view body, std::string_view extra_header_lines = {});
// The response's body, its chunked framing (if any) undone.
std::string bodyOf(const std::string& response);
// The sum of every series of a metric family in a /metrics text (0 when absent).
double familyTotal(const std::string& metrics, std::string_view family);
// The value of one series, named exactly with its labels (0 when absent).
double seriesValue(const std::string& metrics, std::string_view series);

class ExchangeBench {
public:
  // Starts a Server with `config_yaml` in front of a ScriptedUpstream that will answer with
  // `replies`, in order. Bulwark does not list the upstream's tools at start here
  // (upstream.discovery.at_start is forced to false), so the replies are the cases' own.
  ExchangeBench(std::string_view config_yaml, std::vector<Reply> replies);
  ~ExchangeBench();
  const std::string& startError() const { return start_error_; }

  // Sends `request` to the data port and returns the whole response.
  std::string send(std::string request);
  // Starts sending `request`; run the loop with loop() and read the client once it ended().
  std::unique_ptr<RawClient> begin(std::string request);
  // The admin port's /metrics response.
  std::string metrics();
  // Shuts the server and the upstream down; the loop's close result (0: no handle left).
  int close();

  TestLoop& loop() { return loop_; }
  ScriptedUpstream& upstream() { return *upstream_; }
  Server& server() { return *server_; }
  // The exchanges' clock: a test moves it forward instead of waiting.
  ExchangeClock& clock() { return server_->exchangeClock(); }

private:
  TestLoop loop_;
  std::unique_ptr<ScriptedUpstream> upstream_;
  std::unique_ptr<Server> server_;
  std::string start_error_;
  bool closed_ = false;
};

}  // namespace bulwark::testing
