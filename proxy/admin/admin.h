// The admin port: /metrics, /healthz, /readyz and /tools, served on the same loop as the data path
// and on a listener of its own (never the data port).
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
  // GET /tools answers this JSON (what Bulwark knows about the upstream's tools).
  void setToolsView(std::function<std::string()> view) { tools_view_ = std::move(view); }

private:
  Metrics& metrics_;
  Readiness& readiness_;
  std::function<std::string()> tools_view_;
};

}  // namespace bulwark
