#include "proxy/upstream/tool_discovery.h"

#include "policies/tool_knowledge.h"
#include "proxy/admin/log.h"
#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/upstream_fetch.h"

namespace bulwark {
namespace {

constexpr std::string_view kStatelessVersion = "2026-07-28";
constexpr std::string_view kSessionVersion = "2025-11-25";

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

}  // namespace

// One listing, from the first request to the catalog update. It owns itself: the fetches call
// back into it after the owner may have closed, so the owner only detaches it.
class ToolDiscovery::Listing {
public:
  Listing(ToolDiscovery& owner, std::optional<bool> stateless)
      : owner_(&owner), host_(owner.host_), path_(owner.path_),
        headers_(owner.settings_.headers), timeout_(owner.settings_.request_timeout),
        stateless_(stateless) {}

  void begin() {
    if (stateless_.value_or(true)) {
      send(RequestParts{"POST", {}, kStatelessVersion, "server/discover",
                        rpcRequest(nextId(), "server/discover", "{}")},
           &Listing::onDiscover);
    } else {
      initialize();
    }
  }

  void detach() { owner_ = nullptr; }

private:
  using Step = void (Listing::*)(FetchResult&&);

  int nextId() { return ++last_id_; }

  void send(const RequestParts& parts, Step step) {
    if (owner_ == nullptr) {
      delete this;
      return;
    }
    fetchFromUpstream(owner_->loop_, owner_->pool_, owner_->metrics_,
                      ownRequest(host_, path_, headers_, parts), timeout_,
                      [this, step](FetchResult&& result) {
                        if (owner_ == nullptr) {
                          delete this;
                          return;
                        }
                        (this->*step)(std::move(result));
                      });
  }

  // The JSON-RPC answer to request `last_id_` in a JSON or SSE body.
  std::optional<Envelope> answerIn(const FetchResult& result) {
    std::optional<Envelope> answer;
    auto consider = [&](std::string_view json) {
      if (answer) {
        return;
      }
      EnvelopeResult parsed = owner_->parser_.parse(json);
      if (parsed.error != EnvelopeError::kNone) {
        return;
      }
      const std::string id = std::to_string(last_id_);
      for (Envelope& message : parsed.parsed.messages) {
        if ((message.kind == MessageKind::kResult || message.kind == MessageKind::kError) &&
            sameId(message, id)) {
          answer = std::move(message);
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
      return fail(ToolDiscoveryResult::kRefused, "server/discover answered " +
                                                     std::to_string(result.status));
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
    initialize();  // not a 2026 server: open a session the 2025 way
  }

  void initialize() {
    stateless_ = false;
    std::string params = R"({"protocolVersion":)";
    appendJsonString(params, kSessionVersion);
    params += R"(,"capabilities":{},"clientInfo":{"name":"bulwark-discovery","version":)";
    appendJsonString(params, BULWARK_VERSION);
    params += "}}";
    send(RequestParts{"POST", {}, {}, {}, rpcRequest(nextId(), "initialize", params)},
         &Listing::onInitialize);
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
      return fail(answer ? ToolDiscoveryResult::kFailed : ToolDiscoveryResult::kMalformed,
                  "initialize answered " + std::to_string(result.status) +
                      (answer && answer->kind == MessageKind::kError
                           ? " with JSON-RPC error " + std::to_string(answer->error_code.value_or(0))
                           : std::string()));
    }
    session_id_ = result.session_id;
    protocol_version_ =
        answer->protocol_version.empty() ? std::string(kSessionVersion) : answer->protocol_version;
    send(RequestParts{"POST", session_id_, protocol_version_, {},
                      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"},
         &Listing::onInitialized);
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
         &Listing::onPage);
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
    if (result.status != 200) {
      return fail(ToolDiscoveryResult::kFailed, page + " answered " + std::to_string(result.status));
    }
    std::optional<Envelope> answer = answerIn(result);
    if (!answer || answer->kind != MessageKind::kResult || !answer->result_span.present()) {
      return fail(ToolDiscoveryResult::kMalformed,
                  page + (answer && answer->kind == MessageKind::kError
                              ? " is a JSON-RPC error " +
                                    std::to_string(answer->error_code.value_or(0))
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
    Outcome outcome;
    outcome.result = ToolDiscoveryResult::kSuccess;
    outcome.tools = std::move(tools_);
    outcome.ttl_ms = ttl_ms_;
    outcome.pages = pages_;
    report(std::move(outcome));
  }

  void fail(ToolDiscoveryResult result, std::string detail) {
    Outcome outcome;
    outcome.result = result;
    outcome.detail = std::move(detail);
    report(std::move(outcome));
  }

  // Hands the outcome to the owner, ends the session (a 2025 listing), and frees itself.
  void report(Outcome&& outcome) {
    outcome.protocol_version = protocol_version_;
    outcome.stateless = stateless_.value_or(false);
    ToolDiscovery& owner = *owner_;
    if (!session_id_.empty()) {
      sendDetachedRequest(owner.loop_, owner.pool_, owner.metrics_,
                          ownRequest(host_, path_, headers_,
                                     RequestParts{"DELETE", session_id_, protocol_version_, {}, {}}));
    }
    owner.listing_ = nullptr;
    delete this;
    owner.finished(std::move(outcome));
  }

  ToolDiscovery* owner_;
  std::string host_;
  std::string path_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::chrono::milliseconds timeout_;
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

ToolDiscovery::ToolDiscovery(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                             ToolCatalog& catalog, EnvelopeParser& parser, std::string host,
                             std::string path)
    : loop_(loop), pool_(pool), metrics_(metrics), catalog_(catalog), parser_(parser),
      host_(std::move(host)), path_(std::move(path)) {}

ToolDiscovery::~ToolDiscovery() { close(); }

std::string ToolDiscovery::start(DiscoverySettings settings) {
  settings_ = std::move(settings);
  status_.enabled = settings_.enabled;
  const int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    return uvError("uv_timer_init", rc);
  }
  timer_.data = this;
  timer_open_ = true;
  // The refresh timer alone does not keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  if (settings_.enabled && settings_.at_start) {
    active_ = true;
    status_.active = true;
    schedule(std::chrono::milliseconds(0));
  }
  return {};
}

void ToolDiscovery::configure(DiscoverySettings settings) {
  const bool was_enabled = settings_.enabled;
  const bool headers_changed = settings.headers != settings_.headers;
  settings_ = std::move(settings);
  if (headers_changed && status_.last_result == ToolDiscoveryResult::kRefused) {
    status_.last_result.reset();  // new credentials: a refusal no longer stands
    if (active_) {
      listSoon("discovery headers changed");
    }
  }
  status_.enabled = settings_.enabled;
  if (!settings_.enabled && timer_open_) {
    uv_timer_stop(&timer_);
  } else if (!was_enabled && settings_.at_start) {
    active_ = true;
    status_.active = true;
    listSoon("discovery enabled");
  }
}

void ToolDiscovery::needed(std::string_view why) {
  // A refusal stands until the configuration changes: the interval timer tries again.
  const bool refused = status_.last_result == ToolDiscoveryResult::kRefused;
  if (closed_ || !settings_.enabled || !timer_open_ ||
      (active_ && (fresh_ || refused || listing_ != nullptr))) {
    return;
  }
  active_ = true;
  status_.active = true;
  listSoon(why);
}

void ToolDiscovery::listSoon(std::string_view why) {
  fresh_ = false;
  if (closed_ || !settings_.enabled || !timer_open_ || !active_) {
    return;
  }
  logLine(LogLevel::kInfo, "listing the upstream's tools", {{"reason", why}});
  if (listing_ != nullptr) {
    again_ = true;
    return;
  }
  failures_ = 0;
  schedule(soonest());
}

std::chrono::milliseconds ToolDiscovery::soonest() const {
  // Triggers come in bursts (every session start of some servers says list_changed): listings
  // start at most once per kMinRefresh.
  const auto since = std::chrono::steady_clock::now() - last_begin_;
  if (last_begin_ == std::chrono::steady_clock::time_point{} || since >= policies::kMinRefresh) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(policies::kMinRefresh - since);
}

void ToolDiscovery::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (listing_ != nullptr) {
    listing_->detach();
    listing_ = nullptr;
  }
  if (timer_open_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    timer_open_ = false;
  }
}

void ToolDiscovery::schedule(std::chrono::milliseconds delay) {
  status_.next_in = delay;
  const int rc =
      uv_timer_start(&timer_, &ToolDiscovery::onTimer, static_cast<std::uint64_t>(delay.count()), 0);
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
  }
}

void ToolDiscovery::onTimer(uv_timer_t* timer) {
  static_cast<ToolDiscovery*>(timer->data)->begin();
}

void ToolDiscovery::begin() {
  if (closed_ || !settings_.enabled || listing_ != nullptr) {
    return;
  }
  again_ = false;
  last_begin_ = std::chrono::steady_clock::now();
  listing_ = new Listing(*this, stateless_);
  listing_->begin();
}

void ToolDiscovery::finished(Outcome&& outcome) {
  metrics_.recordToolDiscovery(outcome.result);
  status_.last_result = outcome.result;
  status_.last_at = std::chrono::system_clock::now();
  std::chrono::milliseconds next = settings_.interval;
  if (outcome.result == ToolDiscoveryResult::kSuccess) {
    stateless_ = outcome.stateless;
    failures_ = 0;
    fresh_ = !again_;
    status_.last_error.clear();
    status_.protocol_version = outcome.protocol_version;
    status_.pages = outcome.pages;
    status_.tools = outcome.tools.size();
    catalog_.learn(outcome.tools, policies::HintSource::kDiscovered);
    logLine(LogLevel::kInfo, "listed the upstream's tools",
            {{"tools", static_cast<std::int64_t>(outcome.tools.size())},
             {"pages", outcome.pages},
             {"protocol_version", outcome.protocol_version}});
    next = policies::nextRefreshIn(settings_.interval, outcome.ttl_ms);
    if (on_listed_) {
      on_listed_();
    }
  } else {
    status_.last_error = outcome.detail;
    logLine(LogLevel::kWarn, "tool discovery failed; the catalog is unchanged",
            {{"result", toolDiscoveryResultLabel(outcome.result)}, {"reason", outcome.detail}});
    // A refusal will not change until the configuration does: wait the whole interval.
    if (outcome.result != ToolDiscoveryResult::kRefused) {
      next = policies::retryListingIn(++failures_, settings_.interval);
    }
  }
  if (closed_ || !timer_open_) {
    return;
  }
  schedule(again_ ? soonest() : next);
}

}  // namespace bulwark
