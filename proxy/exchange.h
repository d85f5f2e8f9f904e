// One client request proxied to the upstream: the request is read whole and its JSON-RPC
// envelope checked, then sent on a pooled connection; the response streams back as it comes,
// while its JSON-RPC messages are observed (never altered) to learn the outcome.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "proxy/client_connection.h"
#include "proxy/jsonrpc_envelope.h"
#include "proxy/sse_parser.h"
#include "proxy/upstream_connection.h"

namespace bulwark {

class Metrics;
class UpstreamPool;

// What every exchange shares, owned by the Server. Read-only but for the parser and metrics.
struct ProxyContext {
  UpstreamPool& pool;
  Metrics& metrics;
  EnvelopeParser& envelope_parser;
  std::string mcp_path;  // the upstream URL's path: POSTs here are JSON-RPC
  std::size_t max_observed_body_bytes = 4 * 1024 * 1024;
};

// The data port's RequestHandler.
class DataPlaneHandler final : public RequestHandler {
public:
  explicit DataPlaneHandler(ProxyContext& context) : context_(context) {}
  ClientStream* handle(Request& request, ClientConnection& connection) override;

private:
  ProxyContext& context_;
};

class Exchange final : private ClientStream, private UpstreamResponseSink {
public:
  // Starts proxying `request`; returns the stream to install on the connection, or nullptr
  // when the request was answered at once (bad input).
  static ClientStream* start(ProxyContext& context, Request& request, ClientConnection& client);

private:
  Exchange(ProxyContext& context, ClientConnection& client, std::chrono::steady_clock::time_point
                                                                started_at);

  void sendToUpstream(bool fresh_connection);

  // ClientStream
  void onClientGone() override;
  void onClientWritable() override;

  // UpstreamResponseSink
  void onUpstreamHead(HttpHead& head) override;
  void onUpstreamBody(std::string_view bytes) override;
  void onUpstreamComplete() override;
  void onUpstreamFailure(const UpstreamFailure& failure) override;

  void observeMessage(std::string_view json);
  void finish(std::string_view outcome);

  ProxyContext& context_;
  ClientConnection* client_;
  UpstreamConnection* upstream_ = nullptr;
  std::chrono::steady_clock::time_point started_at_;
  std::string request_bytes_;  // the upstream request, kept to resend it once
  std::string method_;         // JSON-RPC method ("batch" for a batch); empty for non-MCP
  std::string tool_;
  std::string request_id_;     // JSON text; empty for notifications and non-MCP
  bool head_request_ = false;
  bool resent_on_fresh_connection_ = false;
  int upstream_status_ = 0;
  // Observing the response.
  std::unique_ptr<SseParser> sse_;
  std::string json_body_;
  bool observe_json_ = false;
  std::string outcome_;  // learned from the response's JSON-RPC message for our id
  bool* finished_flag_ = nullptr;
};

}  // namespace bulwark
