// One request in a session this sidecar does not know: its Redis read, then local service,
// a forward to the owner, or a takeover. The request (head and body) is moved out of the
// connection while Redis answers; nothing here runs for a known session or a session-less one.
#include "proxy/shared/session_router.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/http/headers.h"
#include "proxy/upstream/upstream_connection.h"

#include <vector>

namespace bulwark {

// Lives from handle() until the connection has ended the request and no Redis answer or
// forwarded response is outstanding; deleted by the last of those (never inside its own call:
// Busy defers it to the end of the outermost one).
class RoutedRequest final : public ClientStream, private UpstreamResponseSink {
public:
  RoutedRequest(SessionRouter& router, Request& request, ClientConnection& client,
                std::string session_id, bool forwarded)
      : router_(router), client_(&client), request_(std::move(request)),
        session_id_(std::move(session_id)), forwarded_(forwarded) {
    router_.live_.insert(this);
  }
  ~RoutedRequest() { router_.live_.erase(this); }
  RoutedRequest(const RoutedRequest&) = delete;
  RoutedRequest& operator=(const RoutedRequest&) = delete;

  // The Redis client stopped (shutdown): its callbacks were dropped, none will come.
  void redisStopped() {
    waiting_redis_ = false;
    maybeDelete();
  }

  void begin() {
    Busy busy(*this);
    waiting_redis_ = true;
    router_.shared_.lookup(session_id_, [this](SessionRecord record) {
      Busy inner(*this);
      waiting_redis_ = false;
      onRecord(std::move(record));
    });
  }

  // The connection is done with this request (SessionRouter::requestEnded).
  void ended() {
    ended_ = true;
    client_ = nullptr;
    maybeDelete();
  }

private:
  // Defers deletion to the end of the outermost call into this object.
  struct Busy {
    explicit Busy(RoutedRequest& r) : routed(r) { ++routed.depth_; }
    ~Busy() {
      if (--routed.depth_ == 0) {
        routed.maybeDelete();
      }
    }
    RoutedRequest& routed;
  };

  void maybeDelete() {
    if (depth_ == 0 && ended_ && !waiting_redis_ && peer_ == nullptr) {
      delete this;
    }
  }

  // ClientStream
  void onClientGone() override {
    Busy busy(*this);
    client_ = nullptr;
    if (inner_ != nullptr) {
      ClientStream* inner = inner_;
      inner_ = nullptr;
      inner->onClientGone();
    }
    if (peer_ != nullptr) {
      UpstreamConnection* peer = peer_;
      peer_ = nullptr;
      peer->abandon();
    }
  }
  void onClientWritable() override {
    if (inner_ != nullptr) {
      inner_->onClientWritable();
    } else if (peer_ != nullptr) {
      peer_->resumeResponse();
    }
  }
  void onServerDraining() override {
    if (inner_ != nullptr) {
      inner_->onServerDraining();
    }
  }

  void onRecord(SessionRecord record) {
    if (client_ == nullptr) {
      return;
    }
    switch (record.owner_state) {
    case SessionRecord::Owner::kNone:
      serveLocally();
      return;
    case SessionRecord::Owner::kHere:
      adopt(record.initialize_body);
      serveLocally();
      return;
    case SessionRecord::Owner::kAlive:
      if (forwarded_) {
        // Forwarded to us, yet the record names another live owner: never forwarded twice.
        router_.metrics_.recordSessionForward(SessionForwardResult::kLoopRefused);
        serveLocally();
        return;
      }
      initialize_body_ = std::move(record.initialize_body);
      forwardTo(record.owner);
      return;
    case SessionRecord::Owner::kGone:
      takeOver(record.owner, std::move(record.initialize_body));
      return;
    }
  }

  void adopt(std::string_view initialize_body) {
    if (!initialize_body.empty() && !router_.directory_.knows(session_id_)) {
      router_.directory_.opened(session_id_, initialize_body);
    }
  }

  void serveLocally() {
    if (client_ == nullptr) {
      return;
    }
    inner_ = router_.inner_.handle(request_, *client_);
  }

  void takeOver(const std::string& dead_owner, std::string initialize_body) {
    claimed_ = true;
    previous_owner_ = dead_owner;
    initialize_body_ = std::move(initialize_body);
    waiting_redis_ = true;
    router_.shared_.claim(session_id_, dead_owner, [this](bool won, std::string owner_now) {
      Busy busy(*this);
      waiting_redis_ = false;
      if (client_ == nullptr) {
        return;
      }
      if (won) {
        // Several requests of the session may race here; the first to adopt it counts.
        if (!router_.directory_.knows(session_id_)) {
          router_.metrics_.recordSessionTakeover(SessionTakeoverResult::kSuccess);
          logLine(LogLevel::kInfo, "shared_state: took over a session of a sidecar that is gone",
                  {{"session", SessionRef{session_id_}}, {"previous_owner", previous_owner_}});
        }
        adopt(initialize_body_);
        serveLocally();
      } else if (!owner_now.empty() && owner_now != router_.shared_.advertise() && !forwarded_) {
        router_.metrics_.recordSessionTakeover(SessionTakeoverResult::kLost);
        forwardTo(owner_now);
      } else {
        router_.metrics_.recordSessionTakeover(SessionTakeoverResult::kFailed);
        serveLocally();
      }
    });
  }

  void forwardTo(const std::string& owner) {
    UpstreamPool* pool = router_.peerPool(owner);
    if (pool == nullptr) {
      router_.metrics_.recordSessionForward(SessionForwardResult::kFailed);
      serveLocally();
      return;
    }
    forward_owner_ = owner;
    std::string bytes;
    bytes.reserve(request_.head.target.size() + request_.body.size() + 512);
    bytes.append(request_.head.method).append(" ").append(request_.head.target);
    bytes.append(" HTTP/1.1\r\n");
    appendEndToEndHeaders(bytes, request_.head.headers, {SessionRouter::kForwardedHeader});
    bytes.append("Bulwark-Forwarded: 1\r\n");
    if (!request_.body.empty() || request_.head.method == "POST") {
      bytes.append("Content-Length: ").append(std::to_string(request_.body.size()));
      bytes.append("\r\n");
    }
    bytes.append("\r\n").append(request_.body);
    peer_ = &pool->acquire();
    peer_->send(bytes, request_.head.method == "HEAD", *this);
  }

  // UpstreamResponseSink: the owner's response, streamed to the client.
  void onUpstreamHead(HttpHead& head) override {
    if (client_ == nullptr) {
      return;
    }
    std::string lines;
    appendEndToEndHeaders(lines, head.headers);
    BodyFraming framing = BodyFraming::kStreamed;
    if (client_->requestIsHead() || head.status == 204 || head.status == 304) {
      framing = BodyFraming::kNone;
    } else if (head.content_length) {
      framing = BodyFraming::kContentLength;
    }
    client_->sendResponseHead(head.status, head.reason, lines, framing,
                              head.content_length.value_or(0));
  }
  void onUpstreamBody(std::string_view bytes) override {
    if (client_ == nullptr) {
      return;
    }
    client_->sendResponseBody(bytes);
    if (client_->congested() && peer_ != nullptr) {
      peer_->pauseResponse();
    }
  }
  void onUpstreamComplete() override {
    Busy busy(*this);
    peer_ = nullptr; // back in its pool
    router_.metrics_.recordSessionForward(SessionForwardResult::kSuccess);
    if (client_ != nullptr) {
      client_->endResponse();
    }
  }
  void onUpstreamFailure(const UpstreamFailure& failure) override {
    Busy busy(*this);
    peer_ = nullptr;
    if (client_ == nullptr) {
      return;
    }
    const bool never_left = failure.kind == UpstreamFailureKind::kConnectFailed ||
                            failure.kind == UpstreamFailureKind::kConnectTimeout;
    if (never_left && !client_->responseStarted()) {
      // The owner's port refuses: it is gone even if its heartbeat has not expired yet.
      router_.metrics_.recordSessionForward(SessionForwardResult::kOwnerUnreachable);
      if (!claimed_ && !forwarded_) {
        takeOver(forward_owner_, std::move(initialize_body_));
      } else {
        serveLocally();
      }
      return;
    }
    router_.metrics_.recordSessionForward(SessionForwardResult::kFailed);
    if (client_->responseStarted()) {
      client_->abortResponse();
    } else {
      client_->sendSimpleResponse(
          502, "application/json",
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,)"
          R"("message":"Bulwark: the sidecar that owns this session failed while answering"}})");
    }
  }

  SessionRouter& router_;
  ClientConnection* client_; // null once the request ended or the client left
  Request request_;
  std::string session_id_;
  bool forwarded_;
  ClientStream* inner_ = nullptr;      // the local exchange, once delegated
  UpstreamConnection* peer_ = nullptr; // the forward in flight
  std::string forward_owner_;
  std::string previous_owner_;  // the dead owner a takeover replaces
  std::string initialize_body_; // from the record: what a takeover adopts
  int depth_ = 0;
  bool waiting_redis_ = false;
  bool ended_ = false;
  bool claimed_ = false; // a takeover was tried: never twice
};

SessionRouter::SessionRouter(uv_loop_t* loop, RequestHandler& inner, SessionDirectory& directory,
                             SharedSessions& shared, Metrics& metrics,
                             UpstreamPoolOptions peer_pool)
    : loop_(loop), inner_(inner), directory_(directory), shared_(shared), metrics_(metrics),
      peer_pool_options_(peer_pool) {}

SessionRouter::~SessionRouter() = default;

ClientStream* SessionRouter::handle(Request& request, ClientConnection& connection) {
  const HeaderField* session = findHeader(request.head.headers, "mcp-session-id");
  // The hot path: a session known here, or none, or no Redis to ask.
  if (closed_ || session == nullptr || session->value.empty() || directory_.knows(session->value) ||
      !shared_.available()) {
    return inner_.handle(request, connection);
  }
  const bool forwarded = findHeader(request.head.headers, kForwardedHeader) != nullptr;
  auto* routed =
      new RoutedRequest(*this, request, connection, std::string(session->value), forwarded);
  routed_[&connection] = routed;
  routed->begin();
  return routed;
}

void SessionRouter::requestEnded(ClientConnection& connection) {
  inner_.requestEnded(connection);
  if (const auto found = routed_.find(&connection); found != routed_.end()) {
    RoutedRequest* routed = found->second;
    routed_.erase(found);
    routed->ended();
  }
}

UpstreamPool* SessionRouter::peerPool(const std::string& advertise) {
  if (closed_) {
    return nullptr;
  }
  if (const auto found = peers_.find(advertise); found != peers_.end()) {
    return found->second.get();
  }
  std::string error;
  const std::optional<HostPort> address = config::parseHostPort(advertise, error);
  const std::optional<ResolvedAddress> resolved =
      address ? resolveHostPort(*address, error) : std::nullopt;
  if (!resolved) {
    logLine(LogLevel::kWarn, "shared_state: a session owner's address does not resolve",
            {{"owner", advertise}, {"error", error}});
    return nullptr;
  }
  auto pool = std::make_unique<UpstreamPool>(loop_, *resolved, peer_pool_options_);
  UpstreamPool* raw = pool.get();
  peers_.emplace(advertise, std::move(pool));
  return raw;
}

void SessionRouter::close() {
  closed_ = true;
  // Copied: a request that has ended is deleted by redisStopped().
  const std::vector<RoutedRequest*> live(live_.begin(), live_.end());
  for (RoutedRequest* routed : live) {
    routed->redisStopped();
  }
  for (auto& [address, pool] : peers_) {
    pool->close();
  }
}

} // namespace bulwark
