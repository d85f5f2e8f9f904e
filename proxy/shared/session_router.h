// Any replica serves any session. Sits in front of the data port's handler: a request whose
// Mcp-Session-Id this sidecar knows, or that has none, goes straight on (no Redis at all). A
// request in a session it does not know waits for one Redis read (shared_state.timeout), then:
// - owner alive elsewhere: forwarded to the owner's data port (head and body as the client sent
//   them, Authorization included, plus `Bulwark-Forwarded: 1`), the response streamed back; the
//   owner applies its policies;
// - owner gone (heartbeat expired, or its port refuses the forward): claimed atomically; the
//   winner adopts the session (its stored initialize) and serves it, and the request's 404 from
//   its own server triggers the usual session recovery (initialize replayed once, the client's id
//   mapped onto the new upstream id); the loser forwards to the winner;
// - owner is this sidecar (it forgot the session locally): adopted again;
// - no record, Redis down or slow: served as if alone.
// A forwarded request is never forwarded again: if its record points elsewhere it is served
// locally (counted as loop_refused).
#pragma once

#include "proxy/http/client_connection.h"
#include "proxy/shared/shared_sessions.h"
#include "proxy/upstream/upstream_pool.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <uv.h>

namespace bulwark {

class Metrics;
class RoutedRequest;

class SessionRouter final : public RequestHandler {
public:
  // `inner` serves what stays here (the DataPlaneHandler).
  SessionRouter(uv_loop_t* loop, RequestHandler& inner, SessionDirectory& directory,
                SharedSessions& shared, Metrics& metrics, UpstreamPoolOptions peer_pool);
  ~SessionRouter();
  SessionRouter(const SessionRouter&) = delete;
  SessionRouter& operator=(const SessionRouter&) = delete;

  ClientStream* handle(Request& request, ClientConnection& connection) override;
  void requestEnded(ClientConnection& connection) override;

  // Shutdown, after RedisClient::stop() (which drops the callbacks of requests waiting for
  // Redis, so those are freed here once their connection is done): closes the connections to
  // other sidecars.
  void close();

  static constexpr std::string_view kForwardedHeader = "bulwark-forwarded";

private:
  friend class RoutedRequest;
  // A keep-alive pool to another sidecar's data port; null when the address does not parse.
  UpstreamPool* peerPool(const std::string& advertise);

  uv_loop_t* loop_;
  RequestHandler& inner_;
  SessionDirectory& directory_;
  SharedSessions& shared_;
  Metrics& metrics_;
  UpstreamPoolOptions peer_pool_options_;
  std::map<std::string, std::unique_ptr<UpstreamPool>> peers_;
  std::unordered_map<ClientConnection*, RoutedRequest*> routed_;
  std::unordered_set<RoutedRequest*> live_;
  bool closed_ = false;
};

} // namespace bulwark
