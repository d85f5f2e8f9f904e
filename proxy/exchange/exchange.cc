#include "proxy/exchange/exchange.h"

#include <chrono>
#include <new>
#include <vector>

#include "policies/backoff.h"
#include "policies/retry.h"
#include "policies/retry_safety.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {
namespace {

using policies::FailureClass;
using policies::Outcome;

std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

bool isEventStream(const HttpHead& head) {
  const HeaderField* type = findHeader(head.headers, "content-type");
  return type != nullptr && startsWithIgnoreCase(type->value, "text/event-stream");
}

bool isJson(const HttpHead& head) {
  const HeaderField* type = findHeader(head.headers, "content-type");
  return type != nullptr && startsWithIgnoreCase(type->value, "application/json");
}

std::string headerValue(const HeaderList& headers, std::string_view name) {
  const HeaderField* field = findHeader(headers, name);
  return field == nullptr ? std::string() : field->value;
}

// A JSON-RPC message framed as the last event of an SSE stream Bulwark has opened.
std::string sseMessageEvent(std::string_view json) {
  std::string event = "event: message\ndata: ";
  event += json;
  event += "\n\n";
  return event;
}

// How many times one request may have its session re-opened, and how long and how often a
// client's broken GET stream is re-opened before it is ended.
constexpr int kMaxSessionRecoveries = 3;
constexpr int kMaxStreamReopens = 20;
constexpr std::chrono::milliseconds kFirstReopenDelay{50};
constexpr std::chrono::milliseconds kMaxReopenDelay{2000};
// A 400 that may name a lost session is read up to this size to decide.
constexpr std::size_t kMaxSessionCheckBytes = 64 * 1024;

Outcome outcomeOfFailure(UpstreamFailureKind kind) {
  switch (kind) {
  case UpstreamFailureKind::kConnectFailed:
  case UpstreamFailureKind::kConnectTimeout: return Outcome::connectFailed();
  case UpstreamFailureKind::kResetBeforeResponse: return Outcome::resetBeforeResponse();
  case UpstreamFailureKind::kResetDuringResponse: return Outcome::resetAfterPartialResponse();
  case UpstreamFailureKind::kMalformedResponse: return Outcome::malformedReply();
  }
  return Outcome::resetBeforeResponse();
}

std::string_view outcomeName(FailureClass failure) {
  return failure == FailureClass::kNone ? std::string_view("success")
                                        : policies::failureClassName(failure);
}

}  // namespace

ClientStream* DataPlaneHandler::handle(Request& request, ClientConnection& connection) {
  return Exchange::start(context_, request, connection);
}

Exchange::Exchange(ProxyContext& context, ClientConnection& client, Clock::time_point started_at)
    : context_(context), runtime_(context.runtime), client_(&client), started_at_(started_at),
      request_bytes_(SparePool<std::string>::take()), held_body_(SparePool<std::string>::take()) {
  // The upstream parser gets this list's storage back when it hands over the response head.
  held_head_.headers = SparePool<HeaderList>::take();
}

Exchange::~Exchange() {
  SparePool<std::string>::giveBack(std::move(request_bytes_));
  SparePool<std::string>::giveBack(std::move(held_body_));
  SparePool<HeaderList>::giveBack(std::move(held_head_.headers));
}

namespace {

// Freed exchange blocks, kept for the next request (bounded; one loop thread). Under
// AddressSanitizer none are kept, so that a use after free still shows.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kMaxFreeExchangeBlocks = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::size_t kMaxFreeExchangeBlocks = 0;
#else
constexpr std::size_t kMaxFreeExchangeBlocks = 256;
#endif
#else
constexpr std::size_t kMaxFreeExchangeBlocks = 256;
#endif

std::vector<void*>& freeExchangeBlocks() {
  thread_local struct Blocks {
    std::vector<void*> free;
    ~Blocks() {
      for (void* block : free) {
        ::operator delete(block);
      }
    }
  } blocks;
  return blocks.free;
}

}  // namespace

void* Exchange::operator new(std::size_t size) {
  std::vector<void*>& blocks = freeExchangeBlocks();
  if (size == sizeof(Exchange) && !blocks.empty()) {
    void* block = blocks.back();
    blocks.pop_back();
    return block;
  }
  return ::operator new(size);
}

void Exchange::operator delete(void* block, std::size_t size) {
  std::vector<void*>& blocks = freeExchangeBlocks();
  if (size == sizeof(Exchange) && blocks.size() < kMaxFreeExchangeBlocks) {
    blocks.push_back(block);
    return;
  }
  ::operator delete(block);
}

ClientStream* Exchange::start(ProxyContext& context, Request& request, ClientConnection& client) {
  auto* self = new Exchange(context, client, request.received_at);
  // The exchange can finish inline (bad input, or uv_tcp_connect refusing at once); then it has
  // answered and is on its way out before start returns.
  bool finished_inline = false;
  self->finished_flag_ = &finished_inline;
  if (self->parseRequest(request)) {
    self->buildUpstreamRequest(request);
    self->beginAttempt();
  }
  if (finished_inline) {
    return nullptr;
  }
  self->finished_flag_ = nullptr;
  return self;
}

bool Exchange::parseRequest(Request& request) {
  const HttpHead& head = request.head;
  head_request_ = head.method == "HEAD";
  if (head.method == "CONNECT") {
    const std::string body = jsonRpcErrorBody(
        {}, ProxyError{jsonrpc::kInvalidRequest, "CONNECT is not supported",
                       "Bulwark is a reverse proxy for one MCP server", "invalid_input", 0, {}});
    client_->sendSimpleResponse(501, "application/json", body);
    client_ = nullptr;
    method_ = "invalid";
    error_detail_ = "CONNECT request";
    finish("invalid_input");
    return false;
  }
  http_method_ = head.method;
  session_id_ = headerValue(head.headers, "mcp-session-id");
  if (!session_id_.empty()) {
    // What a session recovery replays with: the current credential and versions.
    protocol_version_ = headerValue(head.headers, "mcp-protocol-version");
    authorization_ = headerValue(head.headers, "authorization");
    host_ = headerValue(head.headers, "host");
  }
  if (head.method != "POST" || pathOf(head.target) != context_.mcp_path) {
    // Not JSON-RPC: streamed through untouched; a GET stream in a session is kept alive.
    resumable_stream_ = head.method == "GET" && context_.sessions.knows(session_id_);
    return true;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(request.body);
  if (parsed.error != EnvelopeError::kNone) {
    const bool not_json = parsed.error == EnvelopeError::kInvalidJson;
    // A single malformed message whose id could be read gets its id back, so the client's
    // request is answered rather than left pending.
    const auto& partial = parsed.parsed.messages;
    request_id_ = !parsed.parsed.batch && partial.size() == 1 ? partial.front().id : "";
    method_ = "invalid";
    const std::string body = jsonRpcErrorBody(
        request_id_, ProxyError{not_json ? jsonrpc::kParseError : jsonrpc::kInvalidRequest,
                                not_json ? "Parse error" : "Invalid Request", parsed.detail,
                                "invalid_input", 0, {}});
    client_->sendSimpleResponse(400, "application/json", body);
    client_ = nullptr;
    error_detail_ = parsed.detail;
    finish("invalid_input");
    return false;
  }
  const ParsedMessages& messages = parsed.parsed;
  if (messages.batch) {
    method_ = "batch";
    return true;  // a batch carries several requests; it is forwarded, not judged
  }
  const Envelope& message = messages.messages.front();
  tool_ = message.tool;
  switch (message.kind) {
  case MessageKind::kRequest:
    method_ = message.method;
    request_id_ = message.id;
    kind_ = policies::MessageKind::kRequest;
    judged_ = true;
    break;
  case MessageKind::kNotification:
    method_ = message.method;
    kind_ = policies::MessageKind::kNotification;
    break;
  case MessageKind::kResult:
  case MessageKind::kError:
    method_ = "response";
    kind_ = policies::MessageKind::kClientResponse;
    break;
  }
  policy_ = &runtime_->policies.policyFor(method_, tool_);
  if (session_id_.empty()) {
    protocol_version_ = headerValue(head.headers, "mcp-protocol-version");
    authorization_ = headerValue(head.headers, "authorization");
    host_ = headerValue(head.headers, "host");
  }
  accept_ = headerValue(head.headers, "accept");
  if (judged_) {
    prepareCache(request);
    if (answerFromFreshCache()) {
      return false;
    }
  }

  if (!ensureTimers()) {
    return true;  // no timers: the request still goes, without deadlines
  }
  const auto total = policy_->timeouts.timeout;
  deadline_at_ = started_at_ + total;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_at_ - Clock::now());
  uv_timer_start(&deadline_timer_, &Exchange::onDeadlineTimer,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(left.count(), 0)), 0);
  context_.budget.recordRequest(Clock::now());
  return true;
}

bool Exchange::ensureTimers() {
  if (timers_ready_) {
    return true;
  }
  if (const int rc = uv_timer_init(context_.loop, &attempt_timer_); rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_init", rc));
    return false;
  }
  uv_timer_init(context_.loop, &deadline_timer_);  // cannot fail once the first one did not
  attempt_timer_.data = this;
  deadline_timer_.data = this;
  timers_ready_ = true;
  return true;
}

void Exchange::buildUpstreamRequest(const Request& request) {
  // The request as the upstream will see it: same method, target and end-to-end fields; our
  // own framing. The body was read whole, so Expect is answered here and not forwarded.
  const HttpHead& head = request.head;
  std::string& out = request_bytes_;
  out.reserve(256 + request.body.size());
  out += head.method;
  out.push_back(' ');
  out += head.target;
  out += " HTTP/1.1\r\n";
  appendEndToEndHeaders(out, head.headers, {"expect", "mcp-session-id"});
  if (!session_id_.empty()) {
    upstream_session_id_ = context_.sessions.upstreamIdOf(session_id_);
    out += "Mcp-Session-Id: ";
    session_value_at_ = out.size();
    out += upstream_session_id_;
    out += "\r\n";
  }
  if (!request.body.empty() || head.method == "POST" || head.method == "PUT" ||
      head.method == "PATCH") {
    out += "Content-Length: ";
    out += std::to_string(request.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  body_at_ = out.size();
  out += request.body;
}

void Exchange::useCurrentUpstreamSession() {
  if (session_value_at_ == std::string::npos) {
    return;
  }
  const std::string_view current = context_.sessions.upstreamIdOf(session_id_);
  if (current == upstream_session_id_) {
    return;
  }
  request_bytes_.replace(session_value_at_, upstream_session_id_.size(), current);
  body_at_ = body_at_ - upstream_session_id_.size() + current.size();
  upstream_session_id_ = current;
}

void Exchange::beginAttempt() {
  backing_off_ = false;
  useCurrentUpstreamSession();
  ++attempt_;
  reply_ = Reply::kPending;
  upstream_status_ = 0;
  jsonrpc_code_.reset();
  held_body_.clear();
  observe_json_ = false;
  sse_.reset();
  sse_carry_.clear();
  sse_resumable_ = false;
  resent_on_fresh_connection_ = false;
  if (judged_) {
    permits_ = context_.breakers.admit(toolLabel(), *policy_, Clock::now());
    if (!permits_.allowed) {
      --attempt_;  // nothing was attempted
      refusedByBreaker();
      return;
    }
    attempt_reported_ = false;
  }
  armAttemptTimer();
  sendToUpstream(false);
}

void Exchange::refusedByBreaker() {
  // An open circuit looks to this request like an overloaded upstream that named a time to come
  // back: a retry waits for it if the deadline allows; otherwise recovery or a fast failure.
  const Outcome overloaded = Outcome::httpStatus(503, false, true, false);
  give_up_reason_ = "circuit_open";
  if (attempt_ > 0 && tryRetry(overloaded, permits_.retry_after, /*held_back=*/true)) {
    return;
  }
  const policies::RecoveryStrategy recovery = policies::chooseRecovery(
      runtime_->settings.recovery.stepsWhenCircuitOpen(), [&] {
        policies::RecoveryFacts facts;
        const auto now = Clock::now();
        for (const std::string* key : {&cache_key_caller_, &cache_key_shared_}) {
          const policies::CacheLookup found =
              cacheable_ ? context_.cache.peek(*key, now) : policies::CacheLookup{};
          facts.stale_available = facts.stale_available || found.fresh() || found.stale();
        }
        facts.fallback_available = policy_->fallback.has_value() &&
                                   runtime_->settings.fallback_enabled && method_ == "tools/call";
        return facts;
      }());
  if (recovery != policies::RecoveryStrategy::kFail && client_ != nullptr &&
      (!client_->responseStarted() || downstream_sse_)) {
    serveRecovery(recovery, FailureClass::kOverload);
    return;
  }
  const auto wait_ms = permits_.retry_after.count();
  std::string detail = "circuit open for ";
  detail += std::string(permits_.refused_by);
  detail += "; retry in " + std::to_string(wait_ms) + " ms";
  if (client_ != nullptr && !client_->responseStarted()) {
    const std::string body = jsonRpcErrorBody(
        request_id_, ProxyError{jsonrpc::kUpstreamUnavailable, "Upstream unavailable (circuit open)",
                                detail, "overload", attempt_, "circuit_open"});
    const std::string retry_after =
        "Retry-After: " + std::to_string((wait_ms + 999) / 1000) + "\r\n";
    client_->sendSimpleResponse(503, "application/json", body, retry_after);
    client_ = nullptr;
    outcome_ = "overload";
    error_detail_ = std::move(detail);
    finish(outcome_);
    return;
  }
  giveUp(FailureClass::kOverload, std::move(detail));
}

void Exchange::reportAttempt(FailureClass result) {
  if (attempt_reported_) {
    return;
  }
  attempt_reported_ = true;
  context_.breakers.report(permits_, toolLabel(), result, Clock::now());
}

void Exchange::armAttemptTimer() {
  if (!timers_ready_ || policy_ == nullptr) {
    return;
  }
  const auto now = Clock::now();
  const auto remaining = std::chrono::duration_cast<policies::Duration>(deadline_at_ - now);
  const auto per_try = std::min(policy_->timeouts.per_try_timeout, remaining);
  uv_timer_start(&attempt_timer_, &Exchange::onAttemptTimer,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(per_try.count(), 0)), 0);
}

void Exchange::sendToUpstream(bool fresh_connection) {
  upstream_ = &context_.pool.acquire(fresh_connection);
  upstream_->send(request_bytes_, head_request_, *this);
}

bool Exchange::safeToRepeat(const Outcome& outcome) const {
  policies::RetrySafetyFacts facts;
  facts.may_have_reached_upstream = policies::mayHaveReachedUpstream(outcome);
  facts.method = method_;
  facts.kind = kind_;
  facts.idempotent_override = policy_->idempotent;
  facts.trust_annotations = policy_->trust_tool_annotations;
  if (!tool_.empty()) {
    facts.annotations = context_.tools.annotationsOf(tool_);
    if (!facts.idempotent_override && !context_.tools.knows(tool_)) {
      context_.tools.unknownToolNeeded();  // discovery lists, for this tool's next decision
    }
  }
  return policies::mayRetry(facts);
}

bool Exchange::replayable() const {
  if (judged_) {
    return safeToRepeat(Outcome::resetBeforeResponse());
  }
  return method_.empty() && (http_method_ == "GET" || http_method_ == "HEAD" ||
                             http_method_ == "OPTIONS");
}

bool Exchange::retryPossible() const {
  return judged_ && attempt_ < policy_->retry.max_attempts && !policy_->retry.on.empty() &&
         safeToRepeat(Outcome::resetBeforeResponse());
}

void Exchange::onUpstreamHead(HttpHead& head) {
  upstream_status_ = head.status;
  if (sessionMayBeLost(head)) {
    if (head.status == 404) {
      recoverSession();
      return;
    }
    reply_ = Reply::kSessionCheck;  // a 400 names the session in its body, or is a plain 400
    held_head_ = std::move(head);
    return;
  }
  trackSession(head);
  if (!judged_) {
    if (client_->responseStarted()) {
      // A re-opened GET stream: the client has had its head; events go on where they stopped.
      if (head.status >= 200 && head.status < 300 && isEventStream(head)) {
        reply_ = Reply::kForward;
        sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
        return;
      }
      abandonUpstream();
      if (!reopenStream()) {
        client_->endResponse();
        client_ = nullptr;
        finish("upstream");
      }
      return;
    }
    forwardHead(head);
    return;
  }
  if (head.status < 200 || head.status >= 300) {
    const HeaderField* retry_after_field = findHeader(head.headers, "retry-after");
    std::optional<policies::Duration> retry_after;
    if (retry_after_field != nullptr) {
      retry_after =
          policies::parseRetryAfter(retry_after_field->value, std::chrono::system_clock::now());
    }
    const Outcome outcome = Outcome::httpStatus(head.status, !session_id_.empty(),
                                                retry_after.has_value(), false);
    if (reply_ != Reply::kForward && tryRetry(outcome, retry_after)) {
      return;
    }
    outcome_ = outcomeName(policies::classify(outcome));
    const policies::RecoveryStrategy recovery = planRecovery(policies::classify(outcome));
    if (recovery != policies::RecoveryStrategy::kFail) {
      abandonUpstream();
      serveRecovery(recovery, policies::classify(outcome));
      return;
    }
    if (!client_->responseStarted()) {
      forwardHead(head);  // the upstream's own error goes to the client untouched
      return;
    }
    abandonUpstream();
    giveUp(policies::classify(outcome), "upstream answered HTTP " + std::to_string(head.status));
    return;
  }
  if (isEventStream(head)) {
    if (!client_->responseStarted()) {
      std::string lines;
      appendClientHeaders(lines, head.headers);
      client_->sendResponseHead(head.status, head.reason, lines, BodyFraming::kStreamed);
      downstream_sse_ = true;
    }
    reply_ = Reply::kSse;
    sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
    return;
  }
  // A JSON answer is judged whole before the client sees any of it, so a truncated or garbled
  // one becomes a retry or a clear error rather than broken JSON at the client. Anything that
  // is neither JSON nor SSE is no answer to a JSON-RPC request: held too, it judges malformed.
  reply_ = Reply::kHoldJson;
  held_head_ = std::move(head);
}

void Exchange::forwardHead(const HttpHead& head) {
  reply_ = Reply::kForward;
  std::string lines;
  lines.reserve(512);
  appendClientHeaders(lines, head.headers);
  BodyFraming framing = BodyFraming::kStreamed;
  std::uint64_t length = 0;
  if (head_request_ || head.status == 204 || head.status == 304) {
    framing = BodyFraming::kNone;
    if (head.content_length && head_request_) {
      lines += "Content-Length: " + std::to_string(*head.content_length) + "\r\n";
    }
  } else if (head.content_length) {
    framing = BodyFraming::kContentLength;
    length = *head.content_length;
  }
  // Observe what passes, to learn the outcome and the tools' hints.
  if (resumable_stream_ && head.status >= 200 && head.status < 300 && isEventStream(head)) {
    sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
  } else if (!request_id_.empty() || method_ == "batch") {
    if (isEventStream(head)) {
      sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
    } else if (isJson(head)) {
      observe_json_ = true;
    }
  }
  client_->sendResponseHead(head.status, head.reason, lines, framing, length);
}

void Exchange::onUpstreamReadDone() {
  if (client_ != nullptr) {
    client_->uncork();
  }
}

void Exchange::onUpstreamBody(std::string_view bytes) {
  if (client_ != nullptr) {
    client_->cork();  // until onUpstreamReadDone or the end of the response
  }
  switch (reply_) {
  case Reply::kForward:
    if (resumable_stream_ && sse_) {
      forwardWholeEvents(bytes);
      break;
    }
    if (sse_) {
      sse_->feed(bytes, [this](const SseEvent& event) {
        if (!event.data.empty()) {
          observe(event.data);
        }
      });
    } else if (observe_json_) {
      if (held_body_.size() + bytes.size() <= context_.max_observed_body_bytes) {
        held_body_.append(bytes);
      } else {
        observe_json_ = false;  // too large to observe; forwarded all the same
        held_body_.clear();
      }
    }
    client_->sendResponseBody(bytes);
    break;
  case Reply::kHoldJson:
    if (held_body_.size() + bytes.size() > context_.max_observed_body_bytes) {
      // Too large to judge: it can only be delivered as it is.
      if (!client_->responseStarted()) {
        forwardHead(held_head_);
        client_->sendResponseBody(held_body_);
        client_->sendResponseBody(bytes);
        held_body_.clear();
        return;
      }
      abandonUpstream();
      giveUp(FailureClass::kProtocol, "upstream reply larger than the inspection limit");
      return;
    }
    held_body_.append(bytes);
    return;
  case Reply::kSse:
    feedSse(bytes);
    break;
  case Reply::kSessionCheck:
    held_body_.append(bytes.substr(0, kMaxSessionCheckBytes - std::min(held_body_.size(),
                                                                        kMaxSessionCheckBytes)));
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
  if (client_ != nullptr && client_->congested() && upstream_ != nullptr) {
    upstream_->pauseResponse();
  }
}

void Exchange::feedSse(std::string_view bytes) {
  std::size_t forwarded = 0;  // bytes of this chunk already sent or judged
  sse_->feed(bytes, [&](const SseEvent& event) {
    if (reply_ != Reply::kSse) {
      return;  // a retry or give-up started inside this feed
    }
    const std::size_t end = sse_->dispatchOffset();
    sse_resumable_ = sse_resumable_ || (event.id.has_value() && !event.id->empty());
    Outcome outcome;
    const bool is_final = !final_delivered_ && !event.data.empty() && judgeFinal(event.data, outcome);
    if (is_final && tryRetry(outcome, std::nullopt)) {
      return;
    }
    // Progress, notifications and server-to-client requests go out as they come; so does the
    // final answer once judged deliverable.
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
      sse_carry_.clear();
    }
    client_->sendResponseBody(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    if (is_final) {
      final_delivered_ = true;
      outcome_ = outcomeName(policies::classify(outcome));
      if (timers_ready_) {
        uv_timer_stop(&attempt_timer_);
      }
    } else if (!final_delivered_) {
      armAttemptTimer();  // progress from the upstream restarts the per-try clock
    }
  });
  if (reply_ == Reply::kSse && forwarded < bytes.size()) {
    sse_carry_.append(bytes.substr(forwarded));
  }
}

bool Exchange::judgeFinal(std::string_view json, Outcome& outcome) {
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    return false;  // not ours to judge; it passes through
  }
  for (const Envelope& message : parsed.parsed.messages) {
    context_.tools.notice(message);
    if (!sameId(message, request_id_) ||
        (message.kind != MessageKind::kResult && message.kind != MessageKind::kError)) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      jsonrpc_code_ = message.error_code;
      outcome = Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)));
    } else {
      outcome = message.is_error ? Outcome::toolError() : Outcome::success();
      if (!message.is_error && cacheable_) {
        storeInCache(json, message);
      }
    }
    return true;
  }
  return false;
}

void Exchange::observe(std::string_view json) {
  if (!outcome_.empty()) {
    return;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    outcome_ = "protocol";
    return;
  }
  for (const Envelope& message : parsed.parsed.messages) {
    context_.tools.notice(message);
    if (method_ != "batch" && !sameId(message, request_id_)) {
      continue;
    }
    if (!message.tools.empty()) {
      context_.tools.learn(message.tools);
    }
    if (message.kind == MessageKind::kError) {
      jsonrpc_code_ = message.error_code;
      outcome_ = outcomeName(policies::classify(
          Outcome::jsonRpcError(static_cast<int>(message.error_code.value_or(-32603)))));
      return;
    }
    if (message.kind == MessageKind::kResult && method_ != "batch") {
      outcome_ = message.is_error ? "tool_error" : "success";
      return;
    }
  }
}

bool Exchange::tryRetry(const Outcome& outcome, std::optional<policies::Duration> retry_after,
                        bool held_back) {
  // A request held back by an open circuit asks again this often: the circuit may close
  // before the time it announced (see UpstreamProbe::setOnReachableAgain).
  constexpr policies::Duration kBreakerRecheck{250};
  // An upstream seen up this recently is restarting: attempts that never reached it are waits,
  // bounded by the deadline. One never seen up (or down for longer) fails after max_attempts.
  constexpr std::chrono::seconds kRestartWindow{60};
  const FailureClass failure = policies::classify(outcome);
  if (!judged_ || failure == FailureClass::kNone) {
    return false;
  }
  reportAttempt(failure);
  const auto now = Clock::now();
  policies::RetryFacts facts;
  facts.attempt = attempt_;
  facts.failure = failure;
  facts.safe = held_back || safeToRepeat(outcome);  // held back: this attempt never left
  facts.remaining = std::chrono::duration_cast<policies::Duration>(deadline_at_ - now);
  facts.retry_after = retry_after;
  facts.budget_available = context_.budget.canRetry(now);
  facts.draw = std::uniform_real_distribution<double>(0.0, 1.0)(context_.random);
  facts.never_sent = (held_back || !policies::mayHaveReachedUpstream(outcome)) &&
                     context_.health.reachableWithin(kRestartWindow, now);
  if (held_back) {
    facts.recheck_after = kBreakerRecheck;
  }
  const policies::RetryDecision decision = policies::decideRetry(policy_->retry, facts);
  if (!decision.retry) {
    give_up_reason_ = policies::giveUpReasonName(decision.reason);
    if (decision.reason == policies::GiveUpReason::kBudgetExhausted) {
      context_.metrics.recordBudgetExhausted();
    }
    return false;
  }
  context_.budget.recordRetry(now);
  context_.metrics.recordRetry(toolLabel(), failure);
  if (first_failure_at_ == Clock::time_point{}) {
    first_failure_at_ = now;
  }
  logLine(LogLevel::kDebug, "retrying",
          {{"class", policies::failureClassName(failure)},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"request_id", std::string_view(request_id_)},
           {"attempt", attempt_},
           {"delay_ms", static_cast<std::int64_t>(decision.delay.count())}});
  abandonUpstream();
  if (client_ != nullptr) {
    client_->uncork();  // progress already judged deliverable goes out before the backoff
  }
  backing_off_ = true;
  uv_timer_start(&attempt_timer_, &Exchange::onAttemptTimer,
                 static_cast<std::uint64_t>(decision.delay.count()), 0);
  return true;
}

void Exchange::abandonUpstream() {
  reply_ = Reply::kDiscard;
  if (upstream_ != nullptr) {
    // The attempt ends here: it answered (and we refused the answer), or it was cut short
    // (a timeout, the client leaving).
    context_.metrics.recordUpstreamAttempt(upstream_status_ > 0 ? UpstreamAttemptResult::kResponse
                                                                : UpstreamAttemptResult::kAbandoned);
    upstream_->abandon();
    upstream_ = nullptr;
  }
}

void Exchange::onUpstreamComplete() {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt(UpstreamAttemptResult::kResponse);
  switch (reply_) {
  case Reply::kForward:
    if (observe_json_ && !held_body_.empty()) {
      observe(held_body_);
    }
    if (outcome_.empty() || upstream_status_ >= 400) {
      outcome_ = outcomeName(policies::classify(
          upstream_status_ >= 300 ? Outcome::httpStatus(upstream_status_, !session_id_.empty())
                                  : Outcome::success()));
    }
    client_->endResponse();
    client_ = nullptr;
    finish(outcome_);
    return;
  case Reply::kHoldJson: {
    Outcome outcome;
    // The body decides, not its label: a JSON-RPC answer under a sloppy Content-Type is still
    // the answer; garbage or truncated JSON under application/json is not.
    const bool answered = judgeFinal(held_body_, outcome);
    if (!answered) {
      outcome = Outcome::malformedReply();
    }
    if (tryRetry(outcome, std::nullopt)) {
      return;
    }
    outcome_ = outcomeName(policies::classify(outcome));
    if (!answered) {
      giveUp(FailureClass::kProtocol, malformedDetail());
      return;
    }
    if (const policies::RecoveryStrategy recovery = planRecovery(policies::classify(outcome));
        recovery != policies::RecoveryStrategy::kFail) {
      serveRecovery(recovery, policies::classify(outcome));
      return;
    }
    deliverHeldJson();
    return;
  }
  case Reply::kSessionCheck:
    settleHeldSessionCheck();
    return;
  case Reply::kSse:
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
    }
    if (!final_delivered_ && !sse_resumable_) {
      // The stream ended without an answer, and without an event id a client could resume
      // from: the answer is lost, as if the connection had broken.
      const Outcome lost = Outcome::resetAfterPartialResponse();
      if (tryRetry(lost, std::nullopt)) {
        return;
      }
      giveUp(policies::classify(lost), "the upstream ended its SSE stream without an answer");
      return;
    }
    if (outcome_.empty()) {
      // In 2025-11-25 a server may close the stream and let the client resume on a GET with
      // Last-Event-ID, so the ending passes through as it is.
      outcome_ = "success";
    }
    client_->endResponse();
    client_ = nullptr;
    finish(outcome_);
    return;
  case Reply::kPending:
  case Reply::kDiscard:
    return;
  }
}

void Exchange::deliverHeldJson() {
  if (!client_->responseStarted()) {
    std::string lines;
    appendClientHeaders(lines, held_head_.headers);
    client_->sendResponseHead(held_head_.status, held_head_.reason, lines,
                              BodyFraming::kContentLength, held_body_.size());
    client_->sendResponseBody(held_body_);
  } else if (!held_body_.empty()) {
    // An earlier attempt opened an SSE stream: this attempt's JSON answer becomes its last event.
    client_->sendResponseBody(sseMessageEvent(held_body_));
  }
  client_->endResponse();
  client_ = nullptr;
  finish(outcome_);
}

void Exchange::onUpstreamFailure(const UpstreamFailure& failure) {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt(attemptResultOf(failure.kind));
  // A kept-alive connection that died before any response byte was most likely closed by the
  // server as we reused it; it goes again, once, on a new connection, without counting as an
  // attempt. Only a request that is safe to repeat: the same signal also follows a server that
  // ran the request and then crashed (Go's net/http draws the same line).
  if (reply_ == Reply::kPending && failure.reused_connection && !resent_on_fresh_connection_ &&
      failure.kind == UpstreamFailureKind::kResetBeforeResponse && replayable()) {
    resent_on_fresh_connection_ = true;
    // Not an attempt of the policy's (no backoff, no budget), but a retry all the same for
    // whoever counts retries and recoveries.
    context_.metrics.recordRetry(toolLabel(), FailureClass::kUpstream);
    if (first_failure_at_ == Clock::time_point{}) {
      first_failure_at_ = Clock::now();
    }
    sendToUpstream(true);
    return;
  }
  if (reply_ == Reply::kSse && final_delivered_) {
    client_->endResponse();  // the answer is out; the stream merely broke after it
    client_ = nullptr;
    finish(outcome_);
    return;
  }
  if (resumable_stream_ && client_ != nullptr && (reply_ == Reply::kForward || client_->responseStarted()) &&
      reopenStream()) {
    return;
  }
  const Outcome outcome = outcomeOfFailure(failure.kind);
  if (reply_ != Reply::kForward && tryRetry(outcome, std::nullopt)) {
    return;
  }
  reply_ = Reply::kDiscard;
  giveUp(policies::classify(outcome),
         std::string(failureKindName(failure.kind)) + ": " + failure.detail);
}

void Exchange::onAttemptTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->backing_off_) {
    self->beginAttempt();
    return;
  }
  // The per-try timeout: this attempt is over; closing its connection cancels it upstream.
  self->context_.metrics.recordTimeout(policies::TimeoutKind::kPerTry);
  const bool committed = self->reply_ == Reply::kForward;
  self->abandonUpstream();
  if (!committed && self->tryRetry(Outcome::perTryTimeout(), std::nullopt)) {
    return;
  }
  self->sendCancelNotification("per-try timeout");
  self->giveUp(FailureClass::kTimeout, "no answer within the per-try timeout");
}

void Exchange::onDeadlineTimer(uv_timer_t* timer) {
  auto* self = static_cast<Exchange*>(timer->data);
  if (self->final_delivered_ && self->client_ != nullptr) {
    // The answer is out and only the stream's end is late: end it, do not add a second answer.
    self->abandonUpstream();
    self->client_->endResponse();
    self->client_ = nullptr;
    self->finish(self->outcome_);
    return;
  }
  self->context_.metrics.recordTimeout(policies::TimeoutKind::kDeadline);
  const bool attempting = self->upstream_ != nullptr;
  self->abandonUpstream();
  if (attempting) {
    self->sendCancelNotification("deadline exceeded");
  }
  self->give_up_reason_ = "deadline";
  self->giveUp(FailureClass::kTimeout, "no answer within the request deadline");
}

void Exchange::giveUp(FailureClass failure, std::string detail) {
  reportAttempt(failure);
  const std::string_view class_name = policies::failureClassName(failure);
  outcome_ = class_name;
  if (client_ == nullptr) {
    finish(outcome_);
    return;
  }
  if (const policies::RecoveryStrategy recovery = planRecovery(failure);
      recovery != policies::RecoveryStrategy::kFail) {
    error_detail_ = std::move(detail);
    serveRecovery(recovery, failure);
    return;
  }
  if (client_->responseStarted() && !downstream_sse_) {
    client_->abortResponse();  // the only honest signal once a plain body has started
    client_ = nullptr;
    error_detail_ = std::move(detail);
    finish(outcome_);
    return;
  }
  int status = 502;
  int code = jsonrpc::kUpstreamUnavailable;
  std::string_view message = "Upstream failed";
  if (failure == FailureClass::kTimeout) {
    status = 504;
    code = jsonrpc::kRequestTimeout;
    message = "Upstream timed out";
  } else if (failure == FailureClass::kProtocol) {
    code = jsonrpc::kInternalError;
    message = "Upstream sent a malformed reply";
  } else if (failure == FailureClass::kOverload) {
    status = 503;
    message = "Upstream overloaded";
  } else if (failure == FailureClass::kSessionLost) {
    status = 404;  // the spec's signal for a client to start a new session itself
    message = "Session not found";
  } else if (attempt_ <= 1 && detail.starts_with("connect_failed")) {
    message = "Upstream unreachable";
  }
  std::string full_message(message);
  full_message += ": ";
  full_message += detail;
  std::string body = jsonRpcErrorBody(
      request_id_, ProxyError{code, full_message, detail, class_name, attempt_, give_up_reason_});
  if (client_->responseStarted()) {
    client_->sendResponseBody(sseMessageEvent(body));
    client_->endResponse();
  } else {
    client_->sendSimpleResponse(status, "application/json", body);
  }
  client_ = nullptr;
  error_detail_ = std::move(detail);
  finish(outcome_);
}

void Exchange::sendCancelNotification(std::string_view reason) {
  // In the session protocol a closed stream is not cancellation (2025-06-18 says so); the
  // server learns it only from notifications/cancelled. A stateless server learns it from the
  // closed connection, which abandonUpstream() already did.
  if (session_id_.empty() || request_id_.empty()) {
    return;
  }
  std::string body = R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)";
  body += request_id_;
  body += R"(,"reason":)";
  appendJsonString(body, std::string("bulwark: ") + std::string(reason));
  body += "}}";
  std::string request = ownJsonRpcPost(
      context_.mcp_path, body, upstream_session_id_,
      OwnRequestHeaders{host_, authorization_, protocol_version_});
  sendDetachedRequest(context_.loop, context_.pool, context_.metrics, std::move(request));
}

void Exchange::prepareCache(const Request& request) {
  const policies::CachePolicy& cache = policy_->cache;
  if (!cache.enabled || !policies::isCacheableMethod(method_) ||
      runtime_->settings.cache_max_bytes == 0) {
    return;
  }
  const std::optional<std::string> params = context_.cache_json.canonicalParams(request.body);
  if (!params) {
    return;
  }
  cacheable_ = true;
  // The caller's identity is its credential itself, never a hash of it: no two callers can
  // share an entry by collision. Keys live only in memory and are never logged.
  cache_key_caller_ = policies::cacheKey(method_, tool_, *params, protocol_version_,
                                         policies::CacheKeyScope::callerOf(authorization_));
  cache_key_shared_ = policies::cacheKey(method_, tool_, *params, protocol_version_,
                                         policies::CacheKeyScope::shared());
}

bool Exchange::answerFromFreshCache() {
  if (!cacheable_) {
    return false;
  }
  const auto now = Clock::now();
  for (const std::string* key : {&cache_key_caller_, &cache_key_shared_}) {
    const policies::CacheLookup found = context_.cache.peek(*key, now);
    if (found.fresh()) {
      context_.metrics.recordCacheRequest(CacheResult::kHit);
      const std::string result = found.entry->response.result_json;
      outcome_ = "success";
      answerWithResult(result);
      return true;
    }
  }
  context_.metrics.recordCacheRequest(CacheResult::kMiss);
  return false;
}

void Exchange::storeInCache(std::string_view message_json, const Envelope& message) {
  const std::optional<CacheableResult> result = CacheJson::successResult(message, message_json);
  if (!result) {
    return;
  }
  policies::CacheStoreFacts facts;
  facts.method = method_;
  facts.success = true;
  if (result->ttl_ms) {
    facts.server_ttl = policies::Duration(*result->ttl_ms);
  }
  facts.server_scope = result->cache_scope == "public"    ? policies::ServerCacheScope::kPublic
                       : result->cache_scope == "private" ? policies::ServerCacheScope::kPrivate
                                                          : policies::ServerCacheScope::kUnspecified;
  const auto decision = policies::cacheStoreDecision(policy_->cache, facts);
  if (!decision) {
    return;
  }
  const std::string& key = decision->scope == policies::CacheScope::kShared ? cache_key_shared_
                                                                           : cache_key_caller_;
  context_.cache.insert(key, policies::CachedResponse{result->result_json, "application/json", 0},
                        decision->ttl, decision->stale_if_error, Clock::now());
}

policies::RecoveryStrategy Exchange::planRecovery(FailureClass failure) {
  if (!judged_ || client_ == nullptr || (client_->responseStarted() && !downstream_sse_)) {
    return policies::RecoveryStrategy::kFail;
  }
  policies::RecoveryFacts facts;
  const auto now = Clock::now();
  if (cacheable_) {
    for (const std::string* key : {&cache_key_caller_, &cache_key_shared_}) {
      const policies::CacheLookup found = context_.cache.peek(*key, now);
      facts.stale_available = facts.stale_available || found.fresh() || found.stale();
    }
  }
  facts.fallback_available = policy_->fallback.has_value() &&
                             runtime_->settings.fallback_enabled && method_ == "tools/call";
  return policies::chooseRecovery(runtime_->settings.recovery.stepsFor(failure), facts);
}

void Exchange::serveRecovery(policies::RecoveryStrategy strategy, FailureClass failure) {
  const auto now = Clock::now();
  const auto since = first_failure_at_ == Clock::time_point{} ? started_at_ : first_failure_at_;
  const double seconds = std::chrono::duration<double>(now - since).count();
  std::string result;
  if (strategy == policies::RecoveryStrategy::kStaleCache) {
    for (const std::string* key : {&cache_key_caller_, &cache_key_shared_}) {
      const policies::CacheLookup found = context_.cache.lookupStale(*key, now);
      if (found.fresh() || found.stale()) {
        result = CacheJson::withMetaFlag(found.entry->response.result_json, "bulwark/stale",
                                         context_.cache_json);
        break;
      }
    }
    context_.metrics.recordCacheRequest(CacheResult::kStale);
    context_.metrics.recordRecovery(RecoveredBy::kStale, seconds);
  } else {
    const policies::FallbackSpec& fallback = *policy_->fallback;
    result = CacheJson::withMetaFlag(fallback.kind == policies::FallbackSpec::Kind::kText
                                         ? fallbackTextResult(fallback.text)
                                         : fallback.result_json,
                                     "bulwark/fallback", context_.cache_json);
    context_.metrics.recordFallback(toolLabel());
    context_.metrics.recordRecovery(RecoveredBy::kFallback, seconds);
  }
  logLine(LogLevel::kInfo, "answered from recovery",
          {{"strategy", strategy == policies::RecoveryStrategy::kStaleCache ? "stale" : "fallback"},
           {"class", policies::failureClassName(failure)},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"request_id", std::string_view(request_id_)},
           {"attempt", attempt_}});
  outcome_ = "success";
  first_failure_at_ = Clock::time_point{};  // counted here, not again as a retry recovery
  answerWithResult(result);
}

void Exchange::answerWithResult(std::string_view result_json) {
  const std::string body = CacheJson::responseFor(request_id_, result_json);
  const bool takes_json = accept_.empty() || accept_.find("application/json") != std::string::npos ||
                          accept_.find("*/*") != std::string::npos;
  if (client_->responseStarted()) {
    client_->sendResponseBody(sseMessageEvent(body));
  } else if (takes_json) {
    client_->sendResponseHead(200, "OK", "Content-Type: application/json\r\n",
                              BodyFraming::kContentLength, body.size());
    client_->sendResponseBody(body);
  } else {
    client_->sendResponseHead(200, "OK",
                              "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
                              BodyFraming::kStreamed);
    client_->sendResponseBody(sseMessageEvent(body));
  }
  client_->endResponse();
  client_ = nullptr;
  finish(outcome_);
}

void Exchange::trackSession(const HttpHead& head) {
  if (head.status >= 200 && head.status < 300) {
    if (method_ == "initialize") {
      if (const HeaderField* id = findHeader(head.headers, "mcp-session-id")) {
        context_.sessions.opened(id->value, std::string_view(request_bytes_).substr(body_at_));
      }
    } else if (http_method_ == "DELETE" && !session_id_.empty()) {
      context_.sessions.closed(session_id_);
    }
  } else if (http_method_ == "DELETE" && head.status == 404) {
    context_.sessions.closed(session_id_);  // gone upstream already: nothing to recover
  }
}

void Exchange::appendClientHeaders(std::string& out, const HeaderList& headers) const {
  if (session_id_.empty() || upstream_session_id_ == session_id_) {
    appendEndToEndHeaders(out, headers);
    return;
  }
  appendEndToEndHeaders(out, headers, {"mcp-session-id"});
  if (findHeader(headers, "mcp-session-id") != nullptr) {
    out += "Mcp-Session-Id: ";
    out += session_id_;
    out += "\r\n";
  }
}


bool Exchange::sessionMayBeLost(const HttpHead& head) const {
  // The 2025 session protocol says 404; the TypeScript SDK's servers answer 400 "No valid
  // session ID provided" after a restart. Only sessions Bulwark saw opened are replayed.
  return (head.status == 404 || head.status == 400) && http_method_ != "DELETE" &&
         session_recoveries_ < kMaxSessionRecoveries && client_ != nullptr &&
         reply_ == Reply::kPending && context_.sessions.knows(session_id_);
}

void Exchange::settleHeldSessionCheck() {
  if (policies::mentionsSession(held_body_)) {
    recoverSession();
    return;
  }
  // A 400 about something else: the client gets it as the upstream sent it.
  trackSession(held_head_);
  outcome_ = outcomeName(policies::classify(
      Outcome::httpStatus(held_head_.status, !session_id_.empty(), false, false)));
  if (client_->responseStarted() && !judged_) {
    client_->endResponse();  // a re-opened GET stream that was refused
    client_ = nullptr;
    finish(outcome_);
    return;
  }
  deliverHeldJson();
}

void Exchange::recoverSession() {
  abandonUpstream();
  reportAttempt(FailureClass::kSessionLost);
  --attempt_;  // the request never ran: the replayed attempt is this one again
  ++session_recoveries_;
  if (first_failure_at_ == Clock::time_point{}) {
    first_failure_at_ = Clock::now();
  }
  if (!ensureTimers()) {
    onSessionRecovered(false);
    return;
  }
  const SessionReplayHeaders headers{host_, authorization_, protocol_version_};
  switch (context_.sessions.recover(session_id_, upstream_session_id_, headers, *this)) {
  case SessionDirectory::RecoveryStart::kRetryNow:
    onSessionRecovered(true);
    return;
  case SessionDirectory::RecoveryStart::kWaiting:
    waiting_for_session_ = true;
    return;
  case SessionDirectory::RecoveryStart::kUnknown:
    onSessionRecovered(false);
    return;
  }
}

void Exchange::onSessionRecovered(bool recovered) {
  waiting_for_session_ = false;
  if (client_ == nullptr) {
    return;
  }
  if (recovered) {
    context_.metrics.recordRetry(toolLabel(), FailureClass::kSessionLost);
    scheduleAttempt(std::chrono::milliseconds{0});
    return;
  }
  if (judged_) {
    // Most often the upstream is still restarting: the request waits under its policy, as for
    // a refused connection, and finds the session lost again once the upstream is back.
    ++attempt_;
    if (tryRetry(Outcome::connectFailed(), std::nullopt)) {
      return;
    }
    giveUp(FailureClass::kSessionLost, "the upstream lost the session and re-opening it failed");
    return;
  }
  if (client_->responseStarted()) {
    if (reopenStream()) {
      return;
    }
    client_->endResponse();
    client_ = nullptr;
    finish("session_lost");
    return;
  }
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{jsonrpc::kUpstreamUnavailable, "Session not found",
                     "the upstream lost the session and re-opening it failed", "session_lost",
                     attempt_, {}});
  client_->sendSimpleResponse(404, "application/json", body);
  client_ = nullptr;
  error_detail_ = "the upstream lost the session and re-opening it failed";
  finish("session_lost");
}

void Exchange::scheduleAttempt(std::chrono::milliseconds delay) {
  backing_off_ = true;
  uv_timer_start(&attempt_timer_, &Exchange::onAttemptTimer,
                 static_cast<std::uint64_t>(delay.count()), 0);
}

bool Exchange::reopenStream() {
  if (!resumable_stream_ || client_ == nullptr || stream_reopens_ >= kMaxStreamReopens ||
      !ensureTimers()) {
    return false;
  }
  // Only whole events went out; a partial one dies with the connection that carried it.
  sse_carry_.clear();
  sse_.reset();
  const std::chrono::milliseconds delay =
      std::min(kMaxReopenDelay, kFirstReopenDelay * (1 << std::min(stream_reopens_, 10)));
  ++stream_reopens_;
  if (first_failure_at_ == Clock::time_point{}) {
    first_failure_at_ = Clock::now();
  }
  reply_ = Reply::kDiscard;
  scheduleAttempt(delay);
  return true;
}

void Exchange::forwardWholeEvents(std::string_view bytes) {
  std::size_t forwarded = 0;
  sse_->feed(bytes, [&](const SseEvent& event) {
    context_.tools.noticeStreamEvent(event.data, context_.envelope_parser);
    const std::size_t end = sse_->dispatchOffset();
    if (!sse_carry_.empty()) {
      client_->sendResponseBody(sse_carry_);
      sse_carry_.clear();
    }
    client_->sendResponseBody(bytes.substr(forwarded, end - forwarded));
    forwarded = end;
    stream_reopens_ = 0;  // the stream works again: a later break starts a fresh series
  });
  if (forwarded < bytes.size()) {
    sse_carry_.append(bytes.substr(forwarded));
  }
}

void Exchange::onClientGone() {
  client_ = nullptr;
  const bool attempting = upstream_ != nullptr;
  abandonUpstream();
  if (attempting || backing_off_) {
    outcome_ = "cancelled";
  }
  finish(outcome_.empty() ? std::string_view("cancelled") : std::string_view(outcome_));
}

void Exchange::onClientWritable() {
  if (upstream_ != nullptr) {
    upstream_->resumeResponse();
  }
}

std::string Exchange::malformedDetail() const {
  const HeaderField* type = findHeader(held_head_.headers, "content-type");
  if (held_body_.empty() || type == nullptr || !isJson(held_head_)) {
    return "upstream answered HTTP " + std::to_string(held_head_.status) + " with " +
           (type == nullptr ? std::string("no Content-Type") : "Content-Type " + type->value) +
           (held_body_.empty() ? " and no body" : "") + ", not a JSON-RPC response";
  }
  return "upstream answered HTTP " + std::to_string(held_head_.status) +
         " with a body that is not a JSON-RPC response to this request (" +
         std::to_string(held_body_.size()) + " bytes)";
}

std::string Exchange::describeUpstreamAnswer() const {
  if (jsonrpc_code_) {
    return "upstream answered JSON-RPC error " + std::to_string(*jsonrpc_code_);
  }
  if (upstream_status_ >= 300) {
    return "upstream answered HTTP " + std::to_string(upstream_status_);
  }
  return "upstream answered with an error result";
}

void Exchange::logHandledError(FailureClass failure, std::string_view detail) {
  if (!runtime_->settings.monitoring.log_errors) {
    return;
  }
  context_.metrics.recordLogRecord(failure);
  const std::string_view failure_class = policies::failureClassName(failure);
  const auto duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count();
  logLine(LogLevel::kWarn, "request failed",
          {{"class", failure_class},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"session", SessionRef{session_id_}},
           {"request_id", std::string_view(request_id_)},
           {"attempt", attempt_},
           {"upstream_status", upstream_status_},
           {"jsonrpc_code", jsonrpc_code_ ? static_cast<std::int64_t>(*jsonrpc_code_) : 0},
           {"duration_ms", static_cast<std::int64_t>(duration_ms)},
           {"give_up", std::string_view(give_up_reason_)},
           // What was tried before giving up; stale and fallback answers are not errors and
           // log "answered from recovery" instead.
           {"recovery", attempt_ > 1 ? "retry" : "none"},
           {"detail", detail}});
}

std::string_view Exchange::toolLabel() const {
  // Only names the upstream listed become label values: a client cannot grow the series.
  if (tool_.empty()) {
    return {};
  }
  return context_.tools.knows(tool_) ? std::string_view(tool_) : std::string_view("other");
}

void Exchange::finish(std::string_view outcome) {
  if (waiting_for_session_) {
    waiting_for_session_ = false;
    context_.sessions.forget(session_id_, *this);
  }
  // The outcome travels as a name here; the metrics take it typed.
  const RequestOutcome typed_outcome =
      outcome == "success"     ? RequestOutcome::success()
      : outcome == "cancelled" ? RequestOutcome::cancelled()
                               : RequestOutcome::failed(policies::parseFailureClass(outcome)
                                                            .value_or(FailureClass::kNone));
  if (!attempt_reported_) {
    if (typed_outcome.isCancelled()) {
      attempt_reported_ = true;
      context_.breakers.abandon(permits_, toolLabel());
    } else {
      reportAttempt(typed_outcome.failure());
    }
  }
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - started_at_).count();
  if (runtime_ && runtime_->settings.monitoring.access_log) {
    logLine(LogLevel::kInfo, "request",
            {{"method", std::string_view(method_)},
             {"http_method", std::string_view(http_method_)},
             {"tool", std::string_view(tool_)},
             {"session", SessionRef{session_id_}},
             {"request_id", std::string_view(request_id_)},
             {"outcome", outcome},
             {"upstream_status", upstream_status_},
             {"attempts", attempt_},
             {"duration_ms", static_cast<std::int64_t>(seconds * 1000)}});
  }
  if (outcome == "success" && first_failure_at_ != Clock::time_point{}) {
    context_.metrics.recordRecovery(
        session_recoveries_ > 0 ? RecoveredBy::kSession : RecoveredBy::kRetry,
        std::chrono::duration<double>(now - first_failure_at_).count());
  }
  context_.metrics.recordRequest(method_, toolLabel(), typed_outcome, seconds);
  if (typed_outcome.isFailure()) {
    // Every client-visible error is counted once and logged once, whatever path ended it.
    context_.metrics.recordError(typed_outcome.failure(), toolLabel());
    logHandledError(typed_outcome.failure(),
                    error_detail_.empty() ? describeUpstreamAnswer() : error_detail_);
  }
  if (finished_flag_ != nullptr) {
    *finished_flag_ = true;
  }
  if (!timers_ready_) {
    delete this;
    return;
  }
  // Timers are freed only after libuv is done with them (style rule 6).
  timers_ready_ = false;
  pending_closes_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&attempt_timer_), &Exchange::onTimerClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), &Exchange::onTimerClosed);
}

void Exchange::onTimerClosed(uv_handle_t* handle) {
  auto* self = static_cast<Exchange*>(handle->data);
  if (--self->pending_closes_ == 0) {
    delete self;
  }
}

}  // namespace bulwark
