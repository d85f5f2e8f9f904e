// Everything that runs on the loop: the data and admin listeners, the upstream pool, the
// readiness probe and the signal handlers. One Server per process (and per component test).
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>

#include "proxy/admin/admin.h"
#include "proxy/admin/metrics.h"
#include "proxy/upstream/health_probe.h"
#include "proxy/app/config_reloader.h"
#include "proxy/app/runtime_config.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/client_connection.h"
#include "proxy/http/request_gate.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/mcp/session_directory.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/net/address.h"
#include "proxy/net/allocator_trim.h"
#include "proxy/net/deferred_queue.h"
#include "proxy/net/listener.h"
#include "proxy/shared/shared_state.h"
#include "proxy/stdio/stdio_bridge.h"
#include "proxy/upstream/tool_discovery.h"
#include "proxy/upstream/upstream_pool.h"

namespace bulwark {

struct ServerSettings {
  HostPort listen{"127.0.0.1", 8080};
  HostPort admin{"127.0.0.1", 9901};
  UpstreamUrl upstream;
  // Set for a stdio server: Bulwark spawns it behind a loopback bridge and `upstream` is
  // ignored (the bridge's address is used).
  std::optional<stdio::BridgeSettings> stdio;
  UpstreamPoolOptions pool;
  // How long requests in flight (SSE streams included) may run on after SIGTERM.
  std::chrono::milliseconds drain_timeout{15000};
  RuntimeConfigPtr runtime;  // policies; never null once start() is called
  // The file to reload on SIGHUP and on change (empty: no reloading), and how to re-apply the
  // command-line overrides to each reloaded configuration.
  std::string config_path;
  ConfigReloader::Adjust adjust_reloaded;
};

class Server {
public:
  explicit Server(uv_loop_t* loop);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Resolves the upstream, binds both ports and installs signal handlers. Returns an empty
  // string, or one line saying what failed; then shutdown() has run already (nothing is left
  // listening, every handle is closing) and the loop runs out. Either way the Server must
  // outlive that loop run: its handles are freed only after their close callbacks.
  std::string start(const ServerSettings& settings);

  // SIGTERM: /readyz fails at once, the data port stops accepting, idle connections close, and
  // requests in flight get `drain_timeout` to finish; then shutdown(). A second call (a second
  // SIGTERM) shuts down at once.
  void drain();

  // Stops accepting, closes every connection and handle; the loop then runs out.
  void shutdown();

  // Puts a new configuration in force for the requests that start from now on.
  void applyConfig(RuntimeConfigPtr runtime);

  const std::string& dataAddress() const { return data_listener_->boundAddress(); }
  const std::string& adminAddress() const { return admin_listener_->boundAddress(); }
  // The exchanges' clock, for tests that move time forward.
  ExchangeClock& exchangeClock() { return context_->clock; }

private:
  // start() without the clean-up on failure.
  std::string openEverything(const ServerSettings& settings);
  static void onSignal(uv_signal_t* handle, int signal_number);
  static void onDrainTick(uv_timer_t* timer);
  // Discovery and the tool catalog's hooks (start, upstream restarts, list_changed, /tools).
  std::string startDiscovery(const std::string& mcp_path);

  uv_loop_t* loop_;
  ServerSettings settings_;
  // runtime->settings.limits, kept here so that both listeners read the reloaded values.
  ServerLimits limits_;
  DeferredQueue deferred_;
  Metrics metrics_;
  EnvelopeParser envelope_parser_;
  ToolCatalog tools_;
  std::optional<policies::RetryBudget> budget_;
  std::mt19937_64 random_{std::random_device{}()};
  policies::ResponseCache cache_;
  CacheJson cache_json_;
  CircuitBreakers breakers_{metrics_};
  std::unique_ptr<stdio::StdioBridge> stdio_bridge_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<SessionDirectory> sessions_;
  std::unique_ptr<ConfigReloader> reloader_;
  std::unique_ptr<UpstreamProbe> probe_;
  std::unique_ptr<ToolDiscovery> discovery_;
  std::unordered_set<std::string> warned_rules_; // tool rules already reported as unmatched
  std::unique_ptr<Readiness> readiness_;
  std::unique_ptr<ProxyContext> context_;
  std::unique_ptr<DataPlaneHandler> data_handler_;
  std::unique_ptr<SharedState> shared_state_; // with shared_state: Redis and the router
  std::unique_ptr<RequestGate> gate_;
  std::unique_ptr<AdminHandler> admin_handler_;
  std::unique_ptr<Listener> data_listener_;
  std::unique_ptr<Listener> admin_listener_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  bool signals_installed_ = false;
  uv_timer_t drain_timer_{};
  AllocatorTrim allocator_trim_{loop_};  // gives freed memory back after large answers
  bool draining_ = false;
  bool drain_timer_started_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  bool shut_down_ = false;
};

}  // namespace bulwark
