// Reading the client request once: its envelope, the policy that applies, the request as the
// upstream will see it (kept for retries), and a fresh cache hit.
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_helpers.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/exchange/error_answers.h"
#include "proxy/mcp/json_rpc_errors.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_writer.h"
#include "proxy/net/spare_pool.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/upstream/upstream_fetch.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

using policies::FailureClass;
using policies::Outcome;
using namespace exchange_detail;

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
    finish(RequestOutcome::failed(FailureClass::kInvalidInput));
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
    client_->sendSimpleResponse(errorAnswerFor(FailureClass::kInvalidInput).http_status,
                                "application/json", body);
    client_ = nullptr;
    error_detail_ = parsed.detail;
    finish(RequestOutcome::failed(FailureClass::kInvalidInput));
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
  retry_state_.emplace(policy_->retry, policy_->timeouts, started_at_);
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

  // A request Bulwark cannot bound in time is refused at once rather than left to stall.
  if (!ensureTimers() || !startTimer(deadline_timer_, &Exchange::onDeadlineTimer,
                                     retry_state_->deadline().remaining(now()))) {
    giveUp(FailureClass::kUpstream, loop_error_);
    return false;
  }
  context_.budget.recordRequest(now());
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

}  // namespace bulwark
