// The admin port's handler behind a real Listener on a fresh loop: /metrics, /healthz, /readyz
// (probe, stdio problem, draining), 404 for other paths and 405 for other methods.
#include "proxy/admin/admin.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "tests/support/quiet_logs.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/deferred_queue.h"
#include "proxy/net/listener.h"
#include "proxy/upstream/health_probe.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_loop.h"

namespace bulwark {
namespace {

using testing::RawClient;
using testing::TestLoop;

// An admin listener on 127.0.0.1:0; ask() sends one request and returns the whole answer.
struct AdminFixture {
  testing::QuietLogs quiet;  // destroyed last
  TestLoop loop;
  Metrics metrics;
  ResolvedAddress nowhere;  // the probe is never started: the upstream counts as unreachable
  std::optional<UpstreamProbe> probe;
  std::optional<Readiness> readiness;
  std::optional<AdminHandler> handler;
  std::optional<DeferredQueue> deferred;
  std::optional<Listener> listener;
  ServerLimits limits;
  std::uint16_t port = 0;

  AdminFixture() {
    std::string error;
    nowhere = *resolveHostPort({"127.0.0.1", 9}, error);
    probe.emplace(loop, nowhere, metrics);
    readiness.emplace(Readiness{*probe, false, {}});
    handler.emplace(metrics, *readiness);
    deferred.emplace(loop);
    listener.emplace(loop, "admin", *handler, *deferred, limits, &metrics);
    REQUIRE(listener->listen({"127.0.0.1", 0}).empty());
    port = config::parseHostPort(listener->boundAddress(), error)->port;
  }

  std::string ask(const std::string& method, const std::string& target) {
    RawClient client(loop, port,
                     method + " " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    const bool ended = loop.runUntil([&] { return client.ended(); });
    CHECK(ended);
    return client.received();
  }

  int close() {
    probe->stop();
    listener->stopAccepting();
    listener->closeConnections();
    deferred->close();
    CHECK(loop.runToEnd());
    return loop.close();
  }
};

}  // namespace

TEST_CASE("admin: /healthz is 200 ok, /metrics is Prometheus text") {
  AdminFixture admin;
  const std::string health = admin.ask("GET", "/healthz");
  CHECK(health.starts_with("HTTP/1.1 200"));
  CHECK(health.ends_with("\r\n\r\nok\n"));
  const std::string metrics = admin.ask("GET", "/metrics?x=1");
  CHECK(metrics.starts_with("HTTP/1.1 200"));
  CHECK(metrics.find("text/plain; version=0.0.4") != std::string::npos);
  CHECK(metrics.find("# TYPE bulwark_") != std::string::npos);
  CHECK(admin.close() == 0);
}

TEST_CASE("admin: /readyz follows the probe, a stdio problem and draining") {
  AdminFixture admin;
  const std::string unreachable = admin.ask("GET", "/readyz");
  CHECK(unreachable.starts_with("HTTP/1.1 503"));
  CHECK(unreachable.find("upstream unreachable") != std::string::npos);

  std::string problem;
  admin.readiness->upstream_problem = [&problem] { return problem; };
  CHECK(admin.ask("GET", "/readyz").starts_with("HTTP/1.1 200"));
  problem = "no child running";
  const std::string child_down = admin.ask("GET", "/readyz");
  CHECK(child_down.starts_with("HTTP/1.1 503"));
  CHECK(child_down.ends_with("no child running\n"));

  admin.readiness->draining = true;
  const std::string draining = admin.ask("GET", "/readyz");
  CHECK(draining.starts_with("HTTP/1.1 503"));
  CHECK(draining.ends_with("draining\n"));
  CHECK(admin.close() == 0);
}

TEST_CASE("admin: other methods get 405 with Allow, other paths 404") {
  AdminFixture admin;
  const std::string post = admin.ask("POST", "/metrics");
  CHECK(post.starts_with("HTTP/1.1 405"));
  CHECK(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
  const std::string head = admin.ask("HEAD", "/healthz");
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK(head.ends_with("\r\n\r\n"));  // no body to a HEAD
  CHECK(admin.ask("GET", "/nope").starts_with("HTTP/1.1 404"));
  CHECK(admin.close() == 0);
}

}  // namespace bulwark
