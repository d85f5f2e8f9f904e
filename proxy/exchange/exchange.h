// One client request proxied to the upstream, with its policy: the request is read whole and
// its JSON-RPC envelope checked, then sent on a pooled connection. For a JSON-RPC request, each
// attempt's final answer is judged before the client sees it (failure class, retry safety,
// backoff, budget, deadline); everything before it (SSE progress, notifications,
// server-to-client requests) streams through as it arrives. Other traffic (GET streams, other
// paths, notifications) streams through untouched.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

#include "policies/outcome.h"
#include "policies/policy.h"
#include "policies/recovery.h"
#include "policies/response_cache.h"
#include "policies/retry_budget.h"
#include "proxy/app/runtime_config.h"
#include "proxy/http/client_connection.h"
#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/mcp/session_directory.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/upstream/circuit_breakers.h"
#include "proxy/upstream/upstream_connection.h"

namespace bulwark {

class Metrics;
class UpstreamPool;
class UpstreamProbe;

// What every exchange shares, owned by the Server; all of it lives on the loop thread.
struct ProxyContext {
  uv_loop_t* loop;
  UpstreamPool& pool;
  Metrics& metrics;
  EnvelopeParser& envelope_parser;
  ToolCatalog& tools;
  policies::RetryBudget& budget;
  std::mt19937_64& random;
  policies::ResponseCache& cache;
  CacheJson& cache_json;
  CircuitBreakers& breakers;
  SessionDirectory& sessions;
  const UpstreamProbe& health;
  RuntimeConfigPtr runtime;  // replaced on reload; exchanges keep the one they started with
  std::string mcp_path;      // the upstream URL's path: POSTs here are JSON-RPC
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

class Exchange final : private ClientStream,
                       private UpstreamResponseSink,
                       private SessionRecoveryWaiter {
public:
  // Starts proxying `request`; returns the stream to install on the connection, or nullptr
  // when the request was answered at once (bad input).
  static ClientStream* start(ProxyContext& context, Request& request, ClientConnection& client);

private:
  using Clock = std::chrono::steady_clock;

  // What the current attempt's response is doing.
  enum class Reply : std::uint8_t {
    kPending,   // no response head yet
    kForward,   // committed: the upstream's response goes to the client as it is
    kHoldJson,  // a JSON reply, buffered to be judged when complete
    kSse,       // an SSE reply: events stream through, the final answer is judged
    kDiscard,   // abandoned: a retry or a give-up is under way
    kSessionCheck,  // a 400 in a known session, buffered to see whether it names the session
  };

  Exchange(ProxyContext& context, ClientConnection& client, Clock::time_point started_at);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // One exchange per request: their blocks are recycled rather than returned to malloc, which
  // takes its slow path for an object this size.
  static void* operator new(std::size_t size);
  static void operator delete(void* block, std::size_t size);

  bool parseRequest(Request& request);
  void buildUpstreamRequest(const Request& request);
  void beginAttempt();
  void sendToUpstream(bool fresh_connection);
  void armAttemptTimer();

  // ClientStream
  void onClientGone() override;
  void onClientWritable() override;

  // UpstreamResponseSink
  void onUpstreamHead(HttpHead& head) override;
  void onUpstreamBody(std::string_view bytes) override;
  void onUpstreamComplete() override;
  void onUpstreamFailure(const UpstreamFailure& failure) override;
  void onUpstreamReadDone() override;

  void forwardHead(const HttpHead& head);
  void trackSession(const HttpHead& head);
  // Response fields for the client, with the client's own Mcp-Session-Id after a recovery.
  void appendClientHeaders(std::string& out, const HeaderList& headers) const;

  // Session recovery (see SessionDirectory): the upstream answered as if it had lost the
  // session; it is re-opened and the request goes again, without counting as an attempt.
  bool sessionMayBeLost(const HttpHead& head) const;
  void recoverSession();
  void onSessionRecovered(bool recovered) override;
  void useCurrentUpstreamSession();
  void settleHeldSessionCheck();
  // A client's GET stream whose upstream broke is re-opened (after its session if need be)
  // rather than ended; only whole events reach the client, so the seam is invisible.
  bool reopenStream();
  void forwardWholeEvents(std::string_view bytes);
  bool ensureTimers();
  void scheduleAttempt(std::chrono::milliseconds delay);
  void feedSse(std::string_view bytes);
  void observe(std::string_view json);
  // Judges one JSON-RPC message that may answer our request. Returns true when it does.
  bool judgeFinal(std::string_view json, policies::Outcome& outcome);
  bool retryPossible() const;
  bool replayable() const;
  bool safeToRepeat(const policies::Outcome& outcome) const;
  // `held_back`: a breaker kept the attempt from being sent.
  bool tryRetry(const policies::Outcome& outcome, std::optional<policies::Duration> retry_after,
                bool held_back = false);
  void giveUp(policies::FailureClass failure, std::string detail);
  void deliverHeldJson();
  void abandonUpstream();
  void sendCancelNotification(std::string_view reason);

  // The response cache and the recovery strategies that do not need the upstream.
  void prepareCache(const Request& request);
  bool answerFromFreshCache();
  void storeInCache(std::string_view message_json, const Envelope& message);
  policies::RecoveryStrategy planRecovery(policies::FailureClass failure);
  void serveRecovery(policies::RecoveryStrategy strategy, policies::FailureClass failure);
  void answerWithResult(std::string_view result_json);
  // The breakers hear how each attempt they let through ended, once.
  void reportAttempt(policies::FailureClass result);
  void refusedByBreaker();

  static void onAttemptTimer(uv_timer_t* timer);
  static void onDeadlineTimer(uv_timer_t* timer);
  static void onTimerClosed(uv_handle_t* handle);

  void finish(std::string_view outcome);
  std::string_view toolLabel() const;
  void logHandledError(policies::FailureClass failure, std::string_view detail);
  std::string describeUpstreamAnswer() const;
  std::string malformedDetail() const;

  ProxyContext& context_;
  RuntimeConfigPtr runtime_;
  const policies::EffectivePolicy* policy_ = nullptr;
  ClientConnection* client_;
  UpstreamConnection* upstream_ = nullptr;
  Clock::time_point started_at_;
  Clock::time_point deadline_at_{};
  uv_timer_t attempt_timer_{};   // per-try timeout while attempting, backoff between attempts
  uv_timer_t deadline_timer_{};  // the overall deadline
  int pending_closes_ = 0;
  bool timers_ready_ = false;
  bool backing_off_ = false;

  // The request.
  std::string request_bytes_;  // as sent upstream, kept for retries
  std::string http_method_;
  // The MCP path when the client spelled it otherwise; empty: the target goes as received.
  std::string upstream_target_;
  std::string method_;         // JSON-RPC method, "batch", "response"; empty for non-MCP
  std::string tool_;
  std::string request_id_;     // JSON text; empty unless a single request with an id
  std::string session_id_;     // Mcp-Session-Id the client sent
  std::string upstream_session_id_;  // the id the upstream knows it by, as sent this attempt
  std::size_t session_value_at_ = std::string::npos;  // where that id is in request_bytes_
  std::size_t body_at_ = 0;                            // where the body starts in request_bytes_
  std::string protocol_version_;
  std::string authorization_;  // carried to our own notifications/cancelled; never logged
  std::string host_;
  std::string accept_;
  bool cacheable_ = false;
  std::string cache_key_caller_;
  std::string cache_key_shared_;
  policies::MessageKind kind_ = policies::MessageKind::kRequest;
  bool judged_ = false;  // a single JSON-RPC request: its answers are judged, retries possible
  bool head_request_ = false;
  bool resent_on_fresh_connection_ = false;
  int session_recoveries_ = 0;
  bool waiting_for_session_ = false;
  bool resumable_stream_ = false;  // a GET stream in a known session: re-opened if it breaks
  int stream_reopens_ = 0;

  // The attempts.
  int attempt_ = 0;
  Reply reply_ = Reply::kPending;
  int upstream_status_ = 0;
  std::optional<std::int64_t> jsonrpc_code_;
  bool downstream_sse_ = false;  // the client's response is an SSE stream Bulwark frames
  bool final_delivered_ = false;
  HttpHead held_head_;
  std::string held_body_;
  bool observe_json_ = false;  // a forwarded JSON reply is copied here to learn its outcome
  std::unique_ptr<SseParser> sse_;
  std::string sse_carry_;  // bytes of an SSE event not yet complete
  bool sse_resumable_ = false;  // an event carried an id: the client may resume the stream
  std::string outcome_;    // the final outcome, once known
  std::string give_up_reason_;
  std::string error_detail_;  // what went wrong, for the one log line of a failed request
  bool* finished_flag_ = nullptr;
  Clock::time_point first_failure_at_{};
  CircuitBreakers::Permits permits_;
  bool attempt_reported_ = true;  // nothing to report before the first attempt
};

}  // namespace bulwark
