// Reading the client request once: its envelope, the policy that applies, the request as the
// upstream will see it (kept for retries), and a fresh cache hit.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/downstream_writer.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/http/limit_report.h"
#include "proxy/http/request_target.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/mcp_headers.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

void Exchange::refuseOverBudget(ProxyContext& context, ClientConnection& client) {
  const BufferBudget& budget = BufferBudget::process();
  const std::string detail = "Bulwark buffers " + std::to_string(budget.used()) +
                             " bytes for clients and answers, at limits.max_buffered_bytes (" +
                             std::to_string(budget.limit()) + ")";
  const std::string peer = client.peerAddress();
  reportLimitHit(&context.metrics, {"data", "memory", 503, detail, peer});
  // Status and code from the one table (overload: 503); the message says whose overload it is.
  const ErrorAnswer answer = errorAnswerFor(FailureClass::kOverload);
  const std::string body = jsonRpcErrorBody(
      {}, ProxyError{answer.jsonrpc_code, "Bulwark is out of buffer memory", detail,
                     policies::failureClassName(FailureClass::kOverload), 0, {}});
  sendErrorAnswer(client, answer, body, "Retry-After: 1\r\n");
}

bool Exchange::parseRequest(Request& request) {
  const HttpHead& head = request.head;
  request_.head_request = head.method == "HEAD";
  if (head.method == "CONNECT") {
    const std::string body = jsonRpcErrorBody(
        {}, ProxyError{jsonrpc::kInvalidRequest, "CONNECT is not supported",
                       "Bulwark is a reverse proxy for one MCP server", "invalid_input", 0, {}});
    client_->sendSimpleResponse(501, "application/json", body);
    request_.method = "invalid";
    report_.error_detail = "CONNECT request";
    answered(RequestOutcome::failed(FailureClass::kInvalidInput));
    return false;
  }
  // Only a request to the MCP endpoint is judged, so every other spelling of it is refused here
  // (proxy/http/request_target.h says which and why).
  const HeaderField* host =
      head.target.starts_with('/') ? nullptr : findHeader(head.headers, "host");
  TargetVerdict target =
      classifyRequestTarget(head.target, context_.mcp_path, host != nullptr ? host->value : "");
  if (target.kind == TargetClass::kRefused) {
    report_.error_detail = std::string(target.reason) + "; the MCP path is " + context_.mcp_path;
    const std::string body = jsonRpcErrorBody(
        {}, ProxyError{jsonrpc::kInvalidRequest, "Ambiguous request-target", report_.error_detail,
                       "invalid_input", 0, {}});
    client_->sendSimpleResponse(errorAnswerFor(FailureClass::kInvalidInput).http_status,
                                "application/json", body);
    request_.method = "invalid";
    answered(RequestOutcome::failed(FailureClass::kInvalidInput));
    return false;
  }
  upstream_request_.target = std::move(target.upstream_target);
  request_.http_method = head.method;
  request_.session_id = headerValue(head.headers, "mcp-session-id");
  if (!request_.session_id.empty()) {
    // What a session recovery replays with: the current credential and versions.
    request_.protocol_version = headerValue(head.headers, "mcp-protocol-version");
    request_.authorization = headerValue(head.headers, "authorization");
    request_.host = headerValue(head.headers, "host");
  }
  request_.mcp_endpoint = target.kind == TargetClass::kMcpEndpoint;
  if (head.method != "POST" || !request_.mcp_endpoint) {
    // Not JSON-RPC: streamed through untouched; a GET stream in a session is kept alive, and
    // keeps its session from expiring while it is open.
    request_.resumable_stream =
        head.method == "GET" && context_.sessions.knows(request_.session_id);
    if (request_.resumable_stream) {
      context_.sessions.hold(request_.session_id);
      recovery_counts_.holding_session = true;
    }
    return true;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(request.body);
  if (parsed.error != EnvelopeError::kNone) {
    const bool not_json = parsed.error == EnvelopeError::kInvalidJson;
    // A single malformed message whose id could be read gets its id back, so the client's
    // request is answered rather than left pending.
    const auto& partial = parsed.parsed.messages;
    request_.id = !parsed.parsed.batch && partial.size() == 1 ? partial.front().id : "";
    request_.method = "invalid";
    const std::string body = jsonRpcErrorBody(
        request_.id, ProxyError{not_json ? jsonrpc::kParseError : jsonrpc::kInvalidRequest,
                                not_json ? "Parse error" : "Invalid Request", parsed.detail,
                                "invalid_input", 0, {}});
    sendErrorAnswer(*client_, errorAnswerFor(FailureClass::kInvalidInput), body);
    report_.error_detail = parsed.detail;
    answered(RequestOutcome::failed(FailureClass::kInvalidInput));
    return false;
  }
  const ParsedMessages& messages = parsed.parsed;
  if (messages.batch) {
    request_.method = "batch";
    return true;  // a batch carries several requests; it is forwarded, not judged
  }
  const Envelope& message = messages.messages.front();
  request_.tool = message.tool;
  if (message.kind == MessageKind::kRequest && refuseMismatchedHeaders(head, message)) {
    return false;
  }
  switch (message.kind) {
  case MessageKind::kRequest:
    request_.method = message.method;
    request_.id = message.id;
    request_.kind = policies::MessageKind::kRequest;
    // A long-lived stream has no answer to judge: it streams through (policies/protocol_era.h).
    request_.long_lived =
        policies::streamKindOf(message.method) == policies::StreamKind::kLongLived;
    request_.judged = !request_.long_lived;
    break;
  case MessageKind::kNotification:
    request_.method = message.method;
    request_.kind = policies::MessageKind::kNotification;
    break;
  case MessageKind::kResult:
  case MessageKind::kError:
    request_.method = "response";
    request_.kind = policies::MessageKind::kClientResponse;
    break;
  }
  policy_ = &runtime_->policies.policyFor(request_.method, request_.tool);
  retry_state_.emplace(policy_->retry, policy_->timeouts, runtime_->settings.restart_wait,
                       started_at_);
  if (request_.session_id.empty()) {
    request_.protocol_version = headerValue(head.headers, "mcp-protocol-version");
    request_.authorization = headerValue(head.headers, "authorization");
    request_.host = headerValue(head.headers, "host");
  }
  request_.accept = headerValue(head.headers, "accept");
  readEraFacts(message);
  if (request_.long_lived) {
    return true;  // never cut by `timeout`: no deadline timer
  }
  if (request_.judged &&
      policies::mayAnswerFromCache(request_.method, request_.continues_round_trip)) {
    prepareCache(request);
    if (answerFromFreshCache()) {
      return false;
    }
  }

  // A request Bulwark cannot bound in time is refused at once rather than left to stall.
  if (!ensureTimers() || !startTimer(deadline_timer_, &Exchange::onDeadlineTimer,
                                     retry_state_->deadline().remaining(now()))) {
    giveUp(FailureClass::kUpstream, report_.loop_error);
    return false;
  }
  context_.budget.recordRequest(now());
  return true;
}

bool Exchange::refuseMismatchedHeaders(const HttpHead& head, const Envelope& message) {
  const HeaderField* method = findHeader(head.headers, "mcp-method");
  const HeaderField* name = findHeader(head.headers, "mcp-name");
  if (method == nullptr && name == nullptr) {
    return false;
  }
  McpHeaders headers;
  if (method != nullptr) {
    headers.method = std::string_view(method->value);
  }
  if (name != nullptr) {
    headers.name = std::string_view(name->value);
  }
  std::optional<std::string> mismatch = headerMismatch(headers, message);
  if (!mismatch) {
    return false;
  }
  // 2026-07-28: an intermediary that acts on these headers refuses a request whose headers and
  // body disagree, with 400 and -32020; nothing reaches the server.
  request_.method = message.method;
  request_.id = message.id;
  const std::string body = jsonRpcErrorBody(
      request_.id, ProxyError{kHeaderMismatchCode, *mismatch, "", "invalid_input", 0, {}});
  client_->sendSimpleResponse(400, "application/json", body);
  report_.error_detail = std::move(*mismatch);
  answered(RequestOutcome::failed(FailureClass::kInvalidInput));
  return true;
}

void Exchange::readEraFacts(const Envelope& message) {
  request_.stateless = policies::eraOf(request_.protocol_version, message.protocol_version) ==
                       policies::ProtocolEra::kStateless;
  request_.continues_round_trip = message.continues_round_trip;
  request_.traceparent_at = message.traceparent_span.offset;
  request_.traceparent_length = message.traceparent_span.length;
}

void Exchange::buildUpstreamRequest(const Request& request) {
  // The request as the upstream will see it: same method, target and end-to-end fields; our
  // own framing. The body was read whole, so Expect is answered here and not forwarded.
  const HttpHead& head = request.head;
  std::string& out = upstream_request_.bytes;
  out.reserve(256 + request.body.size());
  out += head.method;
  out.push_back(' ');
  out += upstream_request_.target.empty() ? std::string_view(head.target)
                                          : upstream_request_.target;
  out += " HTTP/1.1\r\n";
  appendEndToEndHeaders(out, head.headers, {"expect", "mcp-session-id"});
  if (!request_.session_id.empty()) {
    upstream_request_.session_id = context_.sessions.upstreamIdOf(request_.session_id);
    out += "Mcp-Session-Id: ";
    upstream_request_.session_value_at = out.size();
    out += upstream_request_.session_id;
    out += "\r\n";
  }
  if (!request.body.empty() || head.method == "POST" || head.method == "PUT" ||
      head.method == "PATCH") {
    out += "Content-Length: ";
    out += std::to_string(request.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  upstream_request_.body_at = out.size();
  out += request.body;
  upstream_request_share_.set(out.capacity());
}

void Exchange::useCurrentUpstreamSession() {
  if (upstream_request_.session_value_at == std::string::npos) {
    return;
  }
  const std::string_view current = context_.sessions.upstreamIdOf(request_.session_id);
  if (current == upstream_request_.session_id) {
    return;
  }
  upstream_request_.bytes.replace(upstream_request_.session_value_at,
                                  upstream_request_.session_id.size(), current);
  upstream_request_.body_at =
      upstream_request_.body_at - upstream_request_.session_id.size() + current.size();
  upstream_request_.session_id = current;
}

}  // namespace bulwark
