// The client's request as the exchange read it once (a plain value), and the request as the
// upstream sees it (kept whole for retries).
#pragma once

#include <cstddef>
#include <string>

#include "policies/retry_safety.h"

namespace bulwark {

struct ClientRequest {
  std::string http_method;
  std::string method;      // JSON-RPC method, "batch", "response"; empty for non-MCP
  std::string tool;
  std::string id;          // JSON text; empty unless a single request with an id
  std::string session_id;  // Mcp-Session-Id the client sent
  std::string protocol_version;
  std::string authorization;  // carried to our own notifications/cancelled; never logged
  std::string host;
  std::string accept;
  policies::MessageKind kind = policies::MessageKind::kRequest;
  bool judged = false;  // a single JSON-RPC request: its answers are judged, retries possible
  bool head_request = false;
  bool resumable_stream = false;  // a GET stream in a known session: re-opened if it breaks
  bool mcp_endpoint = false;      // the request's path is the MCP endpoint
  // 2026-07-28 (policies/protocol_era.h):
  bool stateless = false;  // the request names 2026-07-28 or later: it has no session to lose
  bool long_lived = false;  // subscriptions/listen: no timeouts, no retry once started
  bool continues_round_trip = false;  // carries inputResponses/requestState: never from cache
  // params._meta.traceparent in the request body (its JSON string token), for the log line.
  std::size_t traceparent_at = 0;
  std::size_t traceparent_length = 0;
};

struct UpstreamRequest {
  std::string bytes;                // head and body, as sent upstream
  std::string session_id;           // the id the upstream knows the session by, as sent
  std::size_t session_value_at = std::string::npos;  // where that id is in `bytes`
  std::size_t body_at = 0;                            // where the body starts in `bytes`
  // The MCP path (and the query) when the client spelled the endpoint otherwise; empty: the
  // request-target goes as received.
  std::string target;
};

// The response cache's view of one request: whether it may be cached, under which keys.
struct CacheKeys {
  bool cacheable = false;
  std::string caller;  // the key scoped to the caller (session, credentials, query)
  std::string shared;  // the key shared by every caller
};

}  // namespace bulwark
