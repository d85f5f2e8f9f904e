#include "proxy/admin/admin.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/uv_util.h"
#include "proxy/upstream/health_probe.h"

namespace bulwark {

ClientStream* AdminHandler::handle(Request& request, ClientConnection& connection) {
  const std::string_view target = request.head.target;
  const std::string_view path = target.substr(0, target.find('?'));
  if (request.head.method != "GET" && request.head.method != "HEAD") {
    connection.sendSimpleResponse(405, "text/plain; charset=utf-8", "method not allowed\n",
                                  "Allow: GET, HEAD\r\n");
    return nullptr;
  }
  if (path == "/metrics") {
    connection.sendSimpleResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                                  metrics_.serialize());
  } else if (path == "/healthz") {
    connection.sendSimpleResponse(200, "text/plain; charset=utf-8", "ok\n");
  } else if (path == "/readyz") {
    if (readiness_.draining) {
      connection.sendSimpleResponse(503, "text/plain; charset=utf-8", "draining\n");
    } else if (readiness_.upstream_problem) {
      const std::string problem = readiness_.upstream_problem();
      connection.sendSimpleResponse(problem.empty() ? 200 : 503, "text/plain; charset=utf-8",
                                    problem.empty() ? "ready\n" : problem + "\n");
    } else if (!readiness_.probe.reachable()) {
      connection.sendSimpleResponse(503, "text/plain; charset=utf-8",
                                    "upstream unreachable: " + readiness_.probe.lastError() + "\n");
    } else {
      connection.sendSimpleResponse(200, "text/plain; charset=utf-8", "ready\n");
    }
  } else if (path == "/tools" && tools_view_) {
    connection.sendSimpleResponse(200, "application/json", tools_view_());
  } else {
    connection.sendSimpleResponse(404, "text/plain; charset=utf-8",
                                  "not found: try /metrics, /healthz, /readyz or /tools\n");
  }
  return nullptr;
}

}  // namespace bulwark
