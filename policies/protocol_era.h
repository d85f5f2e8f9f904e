// Which revision of MCP a request speaks, and the decisions that differ between the two eras
// Bulwark serves (design.md, "Two protocol eras"): session-based Streamable HTTP (2025-03-26 ..
// 2025-11-25) and stateless 2026-07-28. Pure: the proxy supplies the version strings it read.
#pragma once

#include <cstdint>
#include <string_view>

namespace bulwark::policies {

enum class ProtocolEra : std::uint8_t {
  kSession,   // 2025-11-25 and earlier: initialize, Mcp-Session-Id, GET stream, resumption
  kStateless, // 2026-07-28 and later: no sessions, per-request metadata, server/discover
};

// The first stateless revision.
inline constexpr std::string_view kFirstStatelessVersion = "2026-07-28";

// The era of one request from its `MCP-Protocol-Version` header and the
// `io.modelcontextprotocol/protocolVersion` member of `params._meta` (either may be empty).
// Versions are dates (YYYY-MM-DD) and compare as text; a request is stateless when either names
// 2026-07-28 or later. A request naming neither is a session-era request (a 2026 client always
// sends both).
ProtocolEra eraOf(std::string_view header_version, std::string_view meta_version);

// Whether a failure of this request may be repaired by re-initializing an upstream session. Never
// for a stateless request: it has no session, so a 404 or 400 is about the request itself.
bool maySessionRecover(ProtocolEra era);

// What a result says of itself in `resultType` (2026-07-28; older servers send none).
enum class ResultKind : std::uint8_t {
  kComplete,      // "complete", or no resultType at all (an older server's result is final)
  kInputRequired, // "input_required": a successful interim answer (multi round-trip request)
  kTask,          // "task": a handle of a task running on the server (tasks extension)
  kOther,         // a value this build does not know: treated as not final
};

// `result_type` is the text of result.resultType, empty when absent.
ResultKind resultKindOf(std::string_view result_type, bool present);

// Only a complete result is the request's final answer: it may be cached, and stands for the
// request in stale and fallback decisions. An input_required result or a task handle is passed
// through as a success, and never stored.
bool isFinalResult(ResultKind kind);

// How Bulwark holds the response stream of a request.
enum class StreamKind : std::uint8_t {
  kRequestScoped, // notifications then one answer: per-try and overall timeouts, retries
  kLongLived,     // subscriptions/listen: open until the client or the server ends it
};

// subscriptions/listen is long-lived; everything else is request-scoped. A long-lived stream:
//  - is never cut by `per_try_timeout` or `timeout` (it has no answer to wait for);
//  - is never retried once its response has started (the client reopens it if it wants);
//  - is not a breaker failure when the client or the server ends it;
//  - passes every event and keep-alive through as it comes, whatever its framing (SSE, or a
//    chunked application/json body with one message per line).
StreamKind streamKindOf(std::string_view method);

} // namespace bulwark::policies
