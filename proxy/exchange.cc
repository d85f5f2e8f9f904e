#include "proxy/exchange.h"

#include "proxy/json_rpc_errors.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/upstream_pool.h"

namespace bulwark {
namespace {

std::string_view pathOf(std::string_view target) {
  return target.substr(0, target.find('?'));
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// The outcome an HTTP status alone tells, before any JSON-RPC message is seen.
std::string_view outcomeForStatus(int status) {
  if (status < 400) {
    return "success";
  }
  switch (status) {
  case 401:
  case 403: return "permission";
  case 404: return "resource";
  case 408:
  case 504: return "timeout";
  case 429: return "overload";
  default: break;
  }
  return status < 500 ? "invalid_input" : "upstream";
}

std::string_view outcomeForJsonRpcError(std::int64_t code) {
  switch (code) {
  case -32700:
  case -32600:
  case -32602: return "invalid_input";
  case -32601:
  case -32002: return "resource";
  default: return "upstream";
  }
}

}  // namespace

ClientStream* DataPlaneHandler::handle(Request& request, ClientConnection& connection) {
  return Exchange::start(context_, request, connection);
}

Exchange::Exchange(ProxyContext& context, ClientConnection& client,
                   std::chrono::steady_clock::time_point started_at)
    : context_(context), client_(&client), started_at_(started_at) {}

ClientStream* Exchange::start(ProxyContext& context, Request& request, ClientConnection& client) {
  const HttpHead& head = request.head;
  auto exchange = std::unique_ptr<Exchange>(new Exchange(context, client, request.received_at));
  exchange->head_request_ = head.method == "HEAD";

  if (head.method == "POST" && pathOf(head.target) == context.mcp_path) {
    const EnvelopeResult parsed = context.envelope_parser.parse(request.body);
    if (parsed.error != EnvelopeError::kNone) {
      const bool not_json = parsed.error == EnvelopeError::kInvalidJson;
      const std::string body = jsonRpcErrorBody(
          {}, ProxyError{not_json ? jsonrpc::kParseError : jsonrpc::kInvalidRequest,
                         not_json ? "Parse error" : "Invalid Request", parsed.detail,
                         "invalid_input"});
      client.sendSimpleResponse(400, "application/json", body);
      context.metrics.recordRequest(
          "invalid", {}, "invalid_input",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - request.received_at)
              .count());
      logLine(LogLevel::kWarn, "rejected client request",
              {{"class", "invalid_input"}, {"detail", std::string_view(parsed.detail)}});
      return nullptr;
    }
    const ParsedMessages& messages = parsed.parsed;
    if (messages.batch) {
      exchange->method_ = "batch";
    } else {
      const Envelope& message = messages.messages.front();
      exchange->method_ = message.method.empty() ? std::string("response") : message.method;
      exchange->tool_ = message.tool;
      if (message.kind == MessageKind::kRequest) {
        exchange->request_id_ = message.id;
      }
    }
  }

  // The request as the upstream will see it: same method, target and end-to-end fields; our
  // own framing. The body was read whole, so Expect is answered here and not forwarded.
  std::string& out = exchange->request_bytes_;
  out.reserve(256 + request.body.size());
  out += head.method;
  out.push_back(' ');
  out += head.target;
  out += " HTTP/1.1\r\n";
  appendEndToEndHeaders(out, head.headers, {"expect"});
  if (!request.body.empty() || head.method == "POST" || head.method == "PUT" ||
      head.method == "PATCH") {
    out += "Content-Length: ";
    out += std::to_string(request.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += request.body;

  Exchange* self = exchange.release();
  // The upstream can fail inline (uv_tcp_connect refusing at once); then the exchange has
  // answered and deleted itself before sendToUpstream returns.
  bool finished_inline = false;
  self->finished_flag_ = &finished_inline;
  self->sendToUpstream(false);
  if (finished_inline) {
    return nullptr;
  }
  self->finished_flag_ = nullptr;
  return self;
}

void Exchange::sendToUpstream(bool fresh_connection) {
  upstream_ = &context_.pool.acquire(fresh_connection);
  upstream_->send(request_bytes_, head_request_, *this);
}

void Exchange::onUpstreamHead(HttpHead& head) {
  upstream_status_ = head.status;
  std::string lines;
  lines.reserve(512);
  appendEndToEndHeaders(lines, head.headers);

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

  if (!request_id_.empty() || method_ == "batch") {
    const HeaderField* type = findHeader(head.headers, "content-type");
    if (type != nullptr && startsWithIgnoreCase(type->value, "text/event-stream")) {
      sse_ = std::make_unique<SseParser>(context_.max_observed_body_bytes);
    } else if (type != nullptr && startsWithIgnoreCase(type->value, "application/json")) {
      observe_json_ = true;
    }
  }
  client_->sendResponseHead(head.status, head.reason, lines, framing, length);
}

void Exchange::onUpstreamBody(std::string_view bytes) {
  if (sse_) {
    sse_->feed(bytes, [this](const SseEvent& event) {
      if (!event.data.empty()) {
        observeMessage(event.data);
      }
    });
  } else if (observe_json_) {
    if (json_body_.size() + bytes.size() <= context_.max_observed_body_bytes) {
      json_body_.append(bytes);
    } else {
      observe_json_ = false;  // too large to inspect; forwarded all the same
      json_body_.clear();
    }
  }
  client_->sendResponseBody(bytes);
  if (client_->congested() && upstream_ != nullptr) {
    upstream_->pauseResponse();
  }
}

void Exchange::onClientWritable() {
  if (upstream_ != nullptr) {
    upstream_->resumeResponse();
  }
}

void Exchange::observeMessage(std::string_view json) {
  if (!outcome_.empty()) {
    return;
  }
  const EnvelopeResult parsed = context_.envelope_parser.parse(json);
  if (parsed.error != EnvelopeError::kNone) {
    outcome_ = "protocol";
    return;
  }
  for (const Envelope& message : parsed.parsed.messages) {
    const bool answers_us = method_ == "batch" || message.id == request_id_;
    if (!answers_us) {
      continue;
    }
    if (message.kind == MessageKind::kError) {
      outcome_ = outcomeForJsonRpcError(message.error_code.value_or(-32603));
      return;
    }
    if (message.kind == MessageKind::kResult) {
      outcome_ = message.is_error ? "tool_error" : "success";
      if (method_ != "batch") {
        return;
      }
    }
  }
}

void Exchange::onUpstreamComplete() {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt("response");
  if (observe_json_ && !json_body_.empty()) {
    observeMessage(json_body_);
  }
  client_->endResponse();
  client_ = nullptr;
  if (outcome_.empty() || upstream_status_ >= 400) {
    outcome_ = outcomeForStatus(upstream_status_);
  }
  finish(outcome_);
}

void Exchange::onUpstreamFailure(const UpstreamFailure& failure) {
  upstream_ = nullptr;
  context_.metrics.recordUpstreamAttempt(failureKindName(failure.kind));
  const bool response_started = client_->responseStarted();
  // A kept-alive connection the server had just closed: the request never reached it, so it
  // goes again, once, on a new connection (HAProxy's and Go's rule for idle-connection races).
  if (!response_started && failure.reused_connection && !resent_on_fresh_connection_ &&
      failure.kind == UpstreamFailureKind::kResetBeforeResponse) {
    resent_on_fresh_connection_ = true;
    sendToUpstream(true);
    return;
  }
  logLine(LogLevel::kWarn, "upstream exchange failed",
          {{"class", "upstream"},
           {"failure", failureKindName(failure.kind)},
           {"detail", std::string_view(failure.detail)},
           {"method", std::string_view(method_)},
           {"tool", std::string_view(tool_)},
           {"request_id", std::string_view(request_id_)},
           {"response_started", response_started}});
  if (response_started) {
    client_->abortResponse();
  } else {
    const bool connect = failure.kind == UpstreamFailureKind::kConnectFailed ||
                         failure.kind == UpstreamFailureKind::kConnectTimeout;
    const std::string body = jsonRpcErrorBody(
        request_id_, ProxyError{jsonrpc::kUpstreamUnavailable,
                                connect ? "Upstream unreachable" : "Upstream failed",
                                failure.detail, "upstream"});
    client_->sendSimpleResponse(502, "application/json", body);
  }
  client_ = nullptr;
  finish("upstream");
}

void Exchange::onClientGone() {
  client_ = nullptr;
  if (upstream_ != nullptr) {
    upstream_->abandon();
    upstream_ = nullptr;
  }
  finish("cancelled");
}

void Exchange::finish(std::string_view outcome) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  context_.metrics.recordRequest(method_, tool_, outcome, seconds);
  if (finished_flag_ != nullptr) {
    *finished_flag_ = true;
  }
  delete this;
}

}  // namespace bulwark
