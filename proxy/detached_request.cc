#include "proxy/detached_request.h"

#include "proxy/metrics.h"
#include "proxy/upstream_connection.h"
#include "proxy/upstream_pool.h"

namespace bulwark {
namespace {

class DetachedRequest final : private UpstreamResponseSink {
public:
  DetachedRequest(Metrics& metrics, std::string bytes)
      : metrics_(metrics), bytes_(std::move(bytes)) {}

  // May finish (and delete this) before it returns.
  void start(UpstreamPool& pool) { pool.acquire().send(bytes_, false, *this); }

private:
  void onUpstreamHead(HttpHead&) override {}
  void onUpstreamBody(std::string_view) override {}
  void onUpstreamComplete() override {
    metrics_.recordUpstreamAttempt("response");
    delete this;
  }
  void onUpstreamFailure(const UpstreamFailure& failure) override {
    metrics_.recordUpstreamAttempt(failureKindName(failure.kind));
    delete this;
  }

  Metrics& metrics_;
  std::string bytes_;
};

}  // namespace

void sendDetachedRequest(UpstreamPool& pool, Metrics& metrics, std::string request_bytes) {
  (new DetachedRequest(metrics, std::move(request_bytes)))->start(pool);
}

}  // namespace bulwark
