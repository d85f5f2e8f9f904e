// One client request proxied to the upstream, with its policy: the request is read whole and
// its JSON-RPC envelope checked, then sent on a pooled connection. For a JSON-RPC request, each
// attempt's final answer is judged before the client sees it (failure class, retry safety,
// backoff, budget, deadline); everything before it (SSE progress, notifications,
// server-to-client requests) streams through as it arrives. Other traffic (GET streams, other
// paths, notifications) streams through untouched.
#pragma once

#include "policies/outcome.h"
#include "policies/policy.h"
#include "policies/recovery.h"
#include "policies/response_cache.h"
#include "policies/retry_budget.h"
#include "policies/retry_state.h"
#include "policies/session_loss.h"
#include "proxy/app/runtime_config.h"
#include "proxy/exchange/attempt_state.h"
#include "proxy/exchange/client_request.h"
#include "proxy/exchange/exchange_clock.h"
#include "proxy/exchange/request_outcome.h"
#include "proxy/exchange/stream_wake_list.h"
#include "proxy/http/client_connection.h"
#include "proxy/http/status_text.h"
#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/mcp/session_directory.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/shared/shared_cache.h"
#include "proxy/upstream/circuit_breakers.h"
#include "proxy/upstream/tool_discovery.h"
#include "proxy/upstream/upstream_connection.h"

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <uv.h>

namespace bulwark {

class Metrics;
class SharedCatalog;
class UpstreamPool;
class UpstreamProbe;
struct AnswerPrefix;

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
  ToolDiscovery* discovery;  // lists tools a retry decision needs; may be null (tests)
  RuntimeConfigPtr runtime;  // replaced on reload; exchanges keep the one they started with
  std::string mcp_path;      // the upstream URL's path: POSTs here are JSON-RPC
  // limits.max_held_answer_bytes: the most of one answer held to be judged (at start-up).
  std::size_t max_held_answer_bytes = 1024 * 1024;
  ExchangeClock clock;  // the one source of time of every exchange
  // Shared state (proxy/shared/): the cache and tool catalog other replicas see; null without
  // shared_state (and the cache without a key secret).
  SharedCache* shared_cache = nullptr;
  SharedCatalog* shared_catalog = nullptr;
  // GET streams waiting out an outage, woken when the health probe sees the upstream again.
  StreamWakeList stream_wake{};
};

// The data port's RequestHandler.
class DataPlaneHandler final : public RequestHandler {
public:
  explicit DataPlaneHandler(ProxyContext& context) : context_(context) {}
  ClientStream* handle(Request& request, ClientConnection& connection) override;

private:
  ProxyContext& context_;
};

// Session and stream re-opening of one request.
struct RecoveryCounts {
  int session_recoveries = 0;
  bool waiting_for_session = false;  // registered with the SessionDirectory
  bool session_reopened = false;     // re-opened once for this request: never again
  bool holding_session = false;      // a GET stream holding its session (SessionDirectory::hold)
  int stream_reopens = 0;  // of a GET stream, since it last delivered an event or keep-alive
};

// What the client has been sent.
struct DownstreamState {
  bool sse = false;              // the client's response is an SSE stream Bulwark frames
  bool final_delivered = false;  // the answer to the request is out
};

class Exchange final : private ClientStream,
                       private UpstreamResponseSink,
                       private SessionRecoveryWaiter,
                       private HintsWaiter,
                       private SharedCacheWaiter {
public:
  // Starts proxying `request`; returns the stream to install on the connection, or nullptr
  // when the request was answered at once (bad input).
  static ClientStream* start(ProxyContext& context, Request& request, ClientConnection& client);

private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point now() const { return context_.clock.now(); }

  using Reply = AttemptReply;

  Exchange(ProxyContext& context, ClientConnection& client, Clock::time_point received_at);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // One exchange per request: their blocks are recycled rather than returned to malloc, which
  // takes its slow path for an object this size.
  static void* operator new(std::size_t size);
  static void operator delete(void* block, std::size_t size);

  bool parseRequest(Request& request);
  // 2026-07-28 Mcp-Method/Mcp-Name that disagree with the body: answered 400 -32020 here.
  bool refuseMismatchedHeaders(const HttpHead& head, const Envelope& message);
  // The era of the request, its round-trip state and trace context (after protocol_version).
  void readEraFacts(const Envelope& message);
  std::string_view traceId() const;  // from params._meta.traceparent; empty if none
  void buildUpstreamRequest(const Request& request);
  void beginAttempt();
  void sendToUpstream(bool fresh_connection);
  // The timers: a libuv error becomes loop_error_ and a clear error answer, never a stall.
  bool armAttemptTimer();
  bool startTimer(uv_timer_t& timer, uv_timer_cb callback, policies::Duration delay);

  // ClientStream
  void onClientGone() override;
  void onClientWritable() override;
  // An idle GET stream ends at once (the client re-opens it, on another replica), so that it
  // does not hold the drain up to its deadline; a request in flight finishes.
  void onServerDraining() override;

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
  policies::SessionLossFacts sessionLossFacts(int status) const;
  bool sessionMayBeLost(const HttpHead& head) const;
  void recoverSession();
  void onSessionRecovered(bool recovered) override;
  void useCurrentUpstreamSession();
  void settleHeldSessionCheck();
  // A client's GET stream whose upstream broke is re-opened (after its session if need be)
  // rather than ended; only whole events reach the client, so the seam is invisible.
  bool reopenStream();
  // A client's GET whose response has not started waits for a restarting upstream as a POST
  // does (policies::streamOpenWait); false: answer it now.
  bool waitToOpenStream(const UpstreamFailure& failure);
  // A held GET stream whose session the upstream lost for good: it ends (the reconnect is 404).
  void endStreamSessionLost();
  void noteStreamDelivered();
  // Sends the partial event carried over from earlier reads, then `bytes` (its completion and
  // whatever whole events or keep-alives follow), in stream order.
  void sendCarriedThen(std::string_view bytes);
  void forwardWholeEvents(std::string_view bytes);
  bool ensureTimers();
  bool scheduleAttempt(policies::Duration delay);
  void feedSse(std::string_view bytes);
  // An SSE event over the inspection limit: the response is committed and streams through.
  void commitOversizedEvent(std::string_view rest_of_chunk);
  // A JSON answer over limits.max_held_answer_bytes: judged from its held prefix, then the
  // response is committed and streams through; no retry after this.
  void commitHeldJson(std::string_view rest_of_chunk);
  policies::Outcome judgePrefix(const AnswerPrefix& prefix);
  // The answer is out (judged `outcome`): the per-try clock stops, the outcome is reported.
  void commitJudged(const policies::Outcome& outcome);
  void pauseUpstreamIfClientBehind();
  // What the attempt holds (its answer, a pending SSE event) goes into the buffer budget.
  void chargeHeld();
  // limits.max_buffered_bytes is reached: a 503 (data.class overload), Retry-After: 1.
  static void refuseOverBudget(ProxyContext& context, ClientConnection& client);
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
  // A retry refused only because the tool is unknown waits for a listing (issue #14): the tool
  // is listed (discovery, or with this caller's credentials) and the decision made again.
  bool waitForHints(const policies::Outcome& outcome,
                    std::optional<policies::Duration> retry_after);
  void onHintsListed() override;
  // A GET stream's wait to (re)open: joins the wake list, so that the upstream's return ends it.
  bool scheduleStreamOpen(policies::Duration delay);
  void stopWaitingForStream() { // inline: every exchange's finish passes here
    if (waiting_for_stream_) {
      waiting_for_stream_ = false;
      context_.stream_wake.remove(this);
    }
  }
  static void wakeStream(void* self);
  void deliverHeldJson();
  void abandonUpstream();
  // The attempt's connection, if one is still attached, is abandoned (reply state untouched).
  void detachUpstream();
  void sendCancelNotification(std::string_view reason);

  // The response cache and the recovery strategies that do not need the upstream.
  void prepareCache(const Request& request);
  bool answerFromFreshCache();
  void storeInCache(std::string_view message_json, const Envelope& message);
  // The stale or fallback answer this request could have now (kFail: none); `circuit_open`
  // follows the recovery order for a request a breaker held back.
  policies::RecoveryStrategy planRecovery(policies::FailureClass failure,
                                          bool circuit_open = false);
  void serveRecovery(policies::RecoveryStrategy strategy, policies::FailureClass failure);
  void answerWithResult(std::string_view result_json);
  // Shared cache (exchange_shared.cc): on a local miss, one Redis read before the first attempt.
  // Whether the read will be asked (then the miss is counted when it is answered).
  bool sharedCacheMayHave() const;
  // Asks it; true when the exchange now waits for onSharedCacheRead() instead of attempting.
  bool askSharedCache();
  void onSharedCacheRead() override;
  // What was just stored locally goes to Redis too.
  void publishToSharedCache(const std::string& key, const policies::CachedResponse& response,
                            policies::Duration ttl, policies::Duration stale_if_error);
  // The breakers hear how each attempt they let through ended, once.
  void reportAttempt(policies::FailureClass result);
  void refusedByBreaker();

  static void onAttemptTimer(uv_timer_t* timer);
  static void onDeadlineTimer(uv_timer_t* timer);
  static void onTimerClosed(uv_handle_t* handle);

  // The client has had its whole answer (or its response was cut): the exchange lets go of the
  // connection and finishes with `outcome` (or the one judged so far, success if none).
  void answered(RequestOutcome outcome);
  void answered();
  // The one report (log lines, metrics, breakers), then the timers close and the exchange goes.
  void finish(RequestOutcome outcome);
  std::string_view toolLabel() const;
  void logHandledError(policies::FailureClass failure, std::string_view detail);
  std::string describeUpstreamAnswer() const;
  std::string malformedDetail() const;

  ProxyContext& context_;
  RuntimeConfigPtr runtime_;  // the configuration this request started with
  const policies::EffectivePolicy* policy_ = nullptr;
  ClientConnection* client_;  // null once the client has its answer (or left)
  Clock::time_point started_at_;
  ClientRequest request_;
  UpstreamRequest upstream_request_;
  BufferShare upstream_request_share_;  // upstream_request_.bytes, kept for retries
  CacheKeys cache_keys_;
  std::optional<policies::RetryState> retry_state_;  // the deadline, per-try timeouts, retries
  int attempts_ = 0;                                 // attempts started
  std::optional<AttemptState> attempt_;              // the current (or last) attempt's view
  uv_timer_t attempt_timer_{};   // per-try timeout while attempting, backoff between attempts
  uv_timer_t deadline_timer_{};  // the overall deadline
  int pending_closes_ = 0;
  bool timers_ready_ = false;
  bool backing_off_ = false;
  bool hints_asked_ = false;        // a listing was awaited once for this request
  bool waiting_for_hints_ = false;  // registered with ToolDiscovery::awaitHints
  bool waiting_for_shared_cache_ = false;  // registered with SharedCache::lookup
  bool waiting_for_stream_ = false;        // in ProxyContext::stream_wake
  policies::Outcome hints_outcome_;  // the failure whose retry decision waits for the listing
  std::optional<policies::Duration> hints_retry_after_;
  RecoveryCounts recovery_counts_;
  DownstreamState downstream_;
  RequestReport report_;  // how the request ended, for its one log line and the metrics
  bool* finished_flag_ = nullptr;
};

}  // namespace bulwark
