#include "proxy/upstream/tool_listing.h"

#include "policies/tool_knowledge.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/upstream/upstream_fetch.h"

namespace bulwark {
namespace {

constexpr std::string_view kStatelessVersion = "2026-07-28";
constexpr std::string_view kSessionVersion = "2025-11-25";
constexpr std::int64_t kMethodNotFound = -32601;

// A request of Bulwark's own listing, with the configured headers (credentials) added.
struct RequestParts {
  std::string_view method = "POST";
  std::string_view session_id;
  std::string_view protocol_version;
  std::string_view mcp_method; // the Mcp-Method header of a 2026 request
  std::string_view body;
};

std::string ownRequest(std::string_view host, std::string_view path,
                       const std::vector<std::pair<std::string, std::string>>& extra,
                       const RequestParts& parts) {
  std::string request;
  request.reserve(256 + parts.body.size());
  request.append(parts.method).append(" ").append(path).append(" HTTP/1.1\r\n");
  auto field = [&request](std::string_view name, std::string_view value) {
    request.append(name).append(": ").append(value).append("\r\n");
  };
  field("Host", host);
  if (parts.method == "POST") {
    field("Content-Type", "application/json");
    field("Accept", "application/json, text/event-stream");
  }
  if (!parts.session_id.empty()) {
    field("Mcp-Session-Id", parts.session_id);
  }
  if (!parts.protocol_version.empty()) {
    field("MCP-Protocol-Version", parts.protocol_version);
  }
  if (!parts.mcp_method.empty()) {
    field("Mcp-Method", parts.mcp_method);
  }
  for (const auto& [name, value] : extra) {
    field(name, value);
  }
  field("Content-Length", std::to_string(parts.body.size()));
  request += "\r\n";
  request += parts.body;
  return request;
}

std::string rpcRequest(int id, std::string_view method, std::string_view params) {
  std::string body = R"({"jsonrpc":"2.0","id":)";
  body += std::to_string(id);
  body += R"(,"method":)";
  appendJsonString(body, method);
  body += R"(,"params":)";
  body += params;
  body += "}";
  return body;
}

bool refusedStatus(int status) { return status == 401 || status == 403; }

} // namespace

// One listing in flight. It owns itself: the fetches call back into it, also after a cancel.
class ToolListing::Run {
public:
  Run(const ListingContext& context, ListingTarget target, ListingDone done)
      : context_(context), target_(std::move(target)), done_(std::move(done)),
        stateless_(target_.stateless), session_id_(target_.session_id),
        protocol_version_(target_.protocol_version) {}

  void begin() {
    if (target_.in_callers_context) {
      // A caller's own session (2025) or a stateless request (2026) with its credentials: no
      // handshake of Bulwark's own.
      stateless_ = session_id_.empty();
      if (protocol_version_.empty()) {
        protocol_version_ = stateless_.value_or(false) ? kStatelessVersion : kSessionVersion;
      }
      caller_session_ = !session_id_.empty();
      listPage();
    } else if (stateless_.value_or(true)) {
      send(RequestParts{"POST",
                        {},
                        kStatelessVersion,
                        "server/discover",
                        rpcRequest(nextId(), "server/discover", "{}")},
           &Run::onDiscover);
    } else {
      initialize();
    }
  }

  ~Run() {
    if (deleted_ != nullptr) {
      *deleted_ = true;
    }
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  void cancel() { cancelled_ = true; }
  // Set while start() runs begin(): whether the run reported (and freed itself) already.
  void watchDeletion(bool* deleted) { deleted_ = deleted; }

private:
  using Step = void (Run::*)(FetchResult&&);

  int nextId() { return ++last_id_; }

  void send(const RequestParts& parts, Step step) {
    if (cancelled_) {
      delete this;
      return;
    }
    std::string error =
        fetchFromUpstream(context_.loop, context_.pool, context_.metrics,
                          ownRequest(target_.host, target_.path, target_.headers, parts),
                          target_.timeout, [this, step](FetchResult&& result) {
                            if (cancelled_) {
                              delete this;
                              return;
                            }
                            (this->*step)(std::move(result));
                          });
    if (!error.empty()) {
      fail(ToolDiscoveryResult::kFailed, std::move(error)); // the fetch never calls back
    }
  }

  // The JSON-RPC answer to request `last_id_` in a JSON or SSE body.
  std::optional<Envelope> answerIn(const FetchResult& result) {
    std::optional<Envelope> answer;
    auto consider = [&](std::string_view json) {
      if (answer) {
        return;
      }
      EnvelopeResult parsed = context_.parser.parse(json);
      if (parsed.error != EnvelopeError::kNone) {
        return;
      }
      const std::string id = std::to_string(last_id_);
      for (const Envelope& message : parsed.parsed.messages) {
        if ((message.kind == MessageKind::kResult || message.kind == MessageKind::kError) &&
            sameId(message, id)) {
          answer = message;
          return;
        }
      }
    };
    if (result.content_type.starts_with("text/event-stream")) {
      SseParser sse;
      sse.feed(result.body, [&](const SseEvent& event) { consider(event.data); });
      sse.feed("\n\n", [&](const SseEvent& event) { consider(event.data); });
    } else {
      consider(result.body);
    }
    return answer;
  }

  void onDiscover(FetchResult&& result) {
    if (result.complete && refusedStatus(result.status)) {
      return fail(ToolDiscoveryResult::kRefused,
                  "server/discover answered " + std::to_string(result.status));
    }
    if (result.complete && result.status == 200) {
      const std::optional<Envelope> answer = answerIn(result);
      if (answer && answer->kind == MessageKind::kResult) {
        stateless_ = true;
        protocol_version_ = kStatelessVersion;
        return listPage();
      }
    }
    if (!result.complete) {
      return fail(ToolDiscoveryResult::kFailed, "server/discover: " + result.error);
    }
    initialize(); // not a 2026 server: open a session the 2025 way
  }

  void initialize() {
    stateless_ = false;
    std::string params = R"({"protocolVersion":)";
    appendJsonString(params, kSessionVersion);
    params += R"(,"capabilities":{},"clientInfo":{"name":"bulwark-discovery","version":)";
    appendJsonString(params, BULWARK_VERSION);
    params += "}}";
    send(RequestParts{"POST", {}, {}, {}, rpcRequest(nextId(), "initialize", params)},
         &Run::onInitialize);
  }

  void onInitialize(FetchResult&& result) {
    if (!result.complete) {
      return fail(ToolDiscoveryResult::kFailed, "initialize: " + result.error);
    }
    if (refusedStatus(result.status)) {
      return fail(ToolDiscoveryResult::kRefused,
                  "initialize answered " + std::to_string(result.status));
    }
    const std::optional<Envelope> answer = answerIn(result);
    if (result.status != 200 || !answer || answer->kind != MessageKind::kResult) {
      return fail(
          answer ? ToolDiscoveryResult::kFailed : ToolDiscoveryResult::kMalformed,
          "initialize answered " + std::to_string(result.status) +
              (answer && answer->kind == MessageKind::kError
                   ? " with JSON-RPC error " + std::to_string(answer->error_code.value_or(0))
                   : std::string()));
    }
    session_id_ = result.session_id;
    protocol_version_ =
        answer->result_protocol_version.empty() ? std::string(kSessionVersion)
                                                : answer->result_protocol_version;
    send(RequestParts{"POST",
                      session_id_,
                      protocol_version_,
                      {},
                      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"},
         &Run::onInitialized);
  }

  void onInitialized(FetchResult&& result) {
    if (!result.complete) {
      return fail(ToolDiscoveryResult::kFailed, "notifications/initialized: " + result.error);
    }
    listPage();
  }

  void listPage() {
    std::string params = "{}";
    if (!cursor_.empty()) {
      params = R"({"cursor":)";
      appendJsonString(params, cursor_);
      params += "}";
    }
    const bool stateless = stateless_.value_or(false);
    send(RequestParts{"POST", session_id_, protocol_version_, stateless ? "tools/list" : "",
                      rpcRequest(nextId(), "tools/list", params)},
         &Run::onPage);
  }

  void onPage(FetchResult&& result) {
    const std::string page = "tools/list page " + std::to_string(pages_ + 1);
    if (!result.complete) {
      return fail(ToolDiscoveryResult::kFailed, page + ": " + result.error);
    }
    if (refusedStatus(result.status)) {
      return fail(ToolDiscoveryResult::kRefused,
                  page + " answered " + std::to_string(result.status));
    }
    if (result.truncated) {
      return fail(ToolDiscoveryResult::kTooLarge,
                  page + " is larger than " + std::to_string(kMaxFetchBodyBytes) + " bytes");
    }
    std::optional<Envelope> answer = answerIn(result);
    if (pages_ == 0 && (result.status == 200 || result.status == 404) && answer &&
        answer->kind == MessageKind::kError && answer->error_code == kMethodNotFound) {
      // A server without tools (no `tools` capability) answers tools/list "method not found"
      // (a 2026 server with a 404): that is its whole list, not a failure to try again soon.
      return succeed();
    }
    if (result.status != 200) {
      return fail(ToolDiscoveryResult::kFailed,
                  page + " answered " + std::to_string(result.status));
    }
    if (!answer || answer->kind != MessageKind::kResult || !answer->result_span.present()) {
      return fail(
          ToolDiscoveryResult::kMalformed,
          page + (answer && answer->kind == MessageKind::kError
                      ? " is a JSON-RPC error " + std::to_string(answer->error_code.value_or(0))
                      : " is not a tools/list result"));
    }
    ++pages_;
    for (ToolHints& tool : answer->tools) {
      tools_.push_back(std::move(tool));
    }
    if (answer->ttl_ms && (!ttl_ms_ || *answer->ttl_ms < *ttl_ms_)) {
      ttl_ms_ = answer->ttl_ms;
    }
    switch (policies::nextPageStep(pages_, answer->next_cursor, cursors_)) {
    case policies::PageStep::kDone:
      return succeed();
    case policies::PageStep::kEndless:
      return fail(ToolDiscoveryResult::kEndless,
                  "pagination does not end after " + std::to_string(pages_) + " pages");
    case policies::PageStep::kNext:
      cursor_ = answer->next_cursor;
      cursors_.push_back(cursor_);
      return listPage();
    }
  }

  void succeed() {
    ListingOutcome outcome;
    outcome.result = ToolDiscoveryResult::kSuccess;
    outcome.tools = std::move(tools_);
    outcome.ttl_ms = ttl_ms_;
    outcome.pages = pages_;
    report(std::move(outcome));
  }

  void fail(ToolDiscoveryResult result, std::string detail) {
    ListingOutcome outcome;
    outcome.result = result;
    outcome.detail = std::move(detail);
    report(std::move(outcome));
  }

  // Ends Bulwark's own session (a 2025 listing), hands the outcome over, and frees itself.
  void report(ListingOutcome&& outcome) {
    outcome.protocol_version = protocol_version_;
    outcome.stateless = stateless_.value_or(false);
    if (!session_id_.empty() && !caller_session_) {
      sendDetachedRequest(
          context_.loop, context_.pool, context_.metrics,
          ownRequest(target_.host, target_.path, target_.headers,
                     RequestParts{"DELETE", session_id_, protocol_version_, {}, {}}));
    }
    ListingDone done = std::move(done_);
    delete this;
    done(std::move(outcome));
  }

  const ListingContext& context_;
  ListingTarget target_;
  ListingDone done_;
  bool cancelled_ = false;
  bool* deleted_ = nullptr;
  bool caller_session_ = false; // listing inside a caller's session: never DELETEd
  std::optional<bool> stateless_;
  std::string session_id_;
  std::string protocol_version_;
  std::string cursor_;
  std::vector<std::string> cursors_;
  std::vector<ToolHints> tools_;
  std::optional<std::int64_t> ttl_ms_;
  int pages_ = 0;
  int last_id_ = 0;
};

ToolListing ToolListing::start(const ListingContext& context, ListingTarget target,
                               ListingDone done) {
  Run* run = new Run(context, std::move(target), std::move(done));
  bool deleted = false;
  run->watchDeletion(&deleted);
  run->begin();
  if (deleted) {
    return ToolListing(); // a fetch could not even start: `done` ran inline, with kFailed
  }
  run->watchDeletion(nullptr);
  return ToolListing(run);
}

void ToolListing::cancel() {
  if (run_ != nullptr) {
    run_->cancel();
    run_ = nullptr;
  }
}

} // namespace bulwark
