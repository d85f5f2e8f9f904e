#include "config/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace bulwark::config {

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) {
    // Appended piece by piece: GCC 12 at -O2 warns falsely (-Wrestrict, its bug 105329) on
    // a chain of std::string operator+ here.
    out += ':';
    out += std::to_string(line);
    out += ':';
    out += std::to_string(column);
  }
  out += ": ";
  if (!key_path.empty()) {
    out += key_path + ": ";
  }
  out += message;
  return out;
}

std::string ConfigLoadResult::errorText() const {
  std::string out;
  for (const ConfigError& e : errors) {
    out += e.toString();
    out += '\n';
  }
  return out;
}

namespace {

ConfigLoadResult fileError(const std::string& path, std::string message) {
  ConfigLoadResult result;
  result.errors.push_back({path, 0, 0, "", std::move(message)});
  return result;
}

} // namespace

ConfigLoadResult loadConfigFile(const std::string& path) noexcept {
  try {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec); // follows symlinks (ConfigMap swaps)
    if (ec || !std::filesystem::exists(status)) {
      return fileError(path, "cannot read the file: it does not exist");
    }
    if (!std::filesystem::is_regular_file(status)) {
      return fileError(path, "cannot read the file: not a regular file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return fileError(path, "cannot read the file: cannot open it");
    }
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) {
      return fileError(path, "cannot read the file: read error");
    }
    return loadConfigString(text, path);
  } catch (...) {
    return fileError(path, "cannot read the file");
  }
}

namespace {

std::string describePatterns(const std::optional<std::vector<std::string>>& patterns) {
  if (!patterns) {
    return "(default: loopback only when listening on loopback, else any)";
  }
  std::string out = "[";
  for (const std::string& p : *patterns) {
    out += out.size() > 1 ? ", " : "";
    out += p;
  }
  return out + "]";
}

} // namespace

std::string describeConfig(const Config& c) {
  std::ostringstream out;
  out << "source: " << c.source << "\n"
      << "listen: " << c.listen.text() << "\n"
      << "admin: " << c.admin.text() << "\n"
      << "upstream: " << (c.upstream.url ? c.upstream.url->text : "(not set)")
      << " connect_timeout=" << policies::formatDuration(c.upstream.connect_timeout) << "\n";
  if (!c.upstream.command.empty()) {
    out << "stdio command:";
    for (const std::string& arg : c.upstream.command) {
      out << " " << arg;
    }
    out << "\n  restart: backoff base=" << policies::formatDuration(c.upstream.restart.backoff.base)
        << " multiplier=" << c.upstream.restart.backoff.multiplier
        << " max=" << policies::formatDuration(c.upstream.restart.backoff.max)
        << " max_restarts=" << c.upstream.restart.max_restarts
        << " stable_after=" << policies::formatDuration(c.upstream.restart.stable_after)
        << "\n  stop_timeout=" << policies::formatDuration(c.upstream.stop_timeout)
        << " session_idle_timeout=" << policies::formatDuration(c.upstream.session_idle_timeout)
        << " max_sessions=" << c.upstream.max_sessions << "\n";
  }
  out << "retry budget: ratio=" << c.retry_budget.ratio
      << " min_per_second=" << c.retry_budget.min_per_second
      << " window=" << policies::formatDuration(c.retry_budget.window) << "\n"
      << "restart wait: max=" << policies::formatDuration(c.restart_wait.max)
      << " window=" << policies::formatDuration(c.restart_wait.window) << "\n"
      << "fallback_enabled: " << (c.fallback_enabled ? "true" : "false") << "\n"
      << "cache: max_bytes=" << c.cache_max_bytes;
  for (std::size_t i = 0; i < c.cache_identity_headers.size(); ++i) {
    out << (i == 0 ? " identity_headers=" : ",") << c.cache_identity_headers[i];
  }
  out << "\n"
      << "recovery: " << c.recovery.describe() << "\n"
      << "monitoring: log_errors=" << (c.monitoring.log_errors ? "true" : "false")
      << " error_rate=" << c.monitoring.alert_error_rate
      << " recovery_time=" << policies::formatDuration(c.monitoring.alert_recovery_time) << "\n"
      << "limits: max_header_bytes=" << c.limits.max_header_bytes
      << " max_headers=" << c.limits.max_headers << " max_body_bytes=" << c.limits.max_body_bytes
      << " max_connections=" << c.limits.max_connections
      << " max_requests_per_connection=" << c.limits.max_requests_per_connection
      << " max_streams_per_session=" << c.limits.max_streams_per_session
      << " header_timeout=" << policies::formatDuration(c.limits.header_timeout)
      << " body_timeout=" << policies::formatDuration(c.limits.body_timeout)
      << " idle_timeout=" << policies::formatDuration(c.limits.idle_timeout) << "\n"
      << "sessions: max_handshake_bytes=" << c.sessions.max_handshake_bytes
      << " max_total_bytes=" << c.sessions.max_total_bytes
      << " idle_timeout=" << policies::formatDuration(c.sessions.idle_timeout) << "\n"
      << "security: allowed_origins=" << describePatterns(c.security.allowed_origins)
      << " allowed_hosts=" << describePatterns(c.security.allowed_hosts) << "\n";
  if (const std::optional<SharedStateConfig>& s = c.shared_state) {
    out << "shared_state: redis=" << s->redis_url << " advertise="
        << (s->advertise ? s->advertise->text()
            : missingAdvertiseProblem(c.listen, s->advertise).empty()
                ? "(listen address)"
                : "(required at start: listen is a wildcard; --advertise or the key)")
        << " key_prefix=" << s->key_prefix << " timeout=" << policies::formatDuration(s->timeout)
        << " session_ttl=" << policies::formatDuration(s->session_ttl)
        << " heartbeat_interval=" << policies::formatDuration(s->heartbeat_interval)
        << " heartbeat_ttl=" << policies::formatDuration(s->heartbeat_ttl) << "\n";
  }
  out << buildPolicyTable(c).describe();
  return out.str();
}

} // namespace bulwark::config
