// The admin port: /metrics, /healthz and /readyz, served on the same loop as the data path and
// on a listener of its own (never the data port).
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "proxy/http/client_connection.h"

namespace bulwark {

class Metrics;
class UpstreamProbe;

struct Readiness {
  const UpstreamProbe& probe;
  bool draining = false;
  // Set when the upstream has a state of its own (a stdio child): empty when fine, else why not.
  // It then replaces the TCP probe, which would only reach Bulwark's own loopback bridge.
  std::function<std::string()> upstream_problem;
};

class AdminHandler final : public RequestHandler {
public:
  AdminHandler(Metrics& metrics, Readiness& readiness) : metrics_(metrics), readiness_(readiness) {}
  ClientStream* handle(Request& request, ClientConnection& connection) override;

private:
  Metrics& metrics_;
  Readiness& readiness_;
};

}  // namespace bulwark
