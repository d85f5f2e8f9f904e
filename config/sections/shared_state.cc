// `shared_state`: the Redis that replicas share (session owners, heartbeats, shared cache). The
// URL is parsed once; secrets are named by environment variable, never written here. Checked
// against the rest: `advertise` is required when the listen address is a wildcard (no other
// sidecar could reach "0.0.0.0"), and a stdio upstream is refused (its sessions are children of
// this process, which no other replica can serve or take over).
#include "config/sections/sections.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace bulwark::config {
namespace {

constexpr double kOneDay = 24.0 * 3600 * 1000; // ms

// "redis://HOST[:PORT][/DB]" (port 6379, db 0 by default). A password in the URL is refused:
// it belongs in the environment (password_env).
bool parseRedisUrl(std::string_view text, SharedStateConfig& out, std::string& error) {
  constexpr std::string_view kScheme = "redis://";
  if (!text.starts_with(kScheme)) {
    error = "expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0";
    if (text.starts_with("rediss://")) {
      error = "TLS (rediss://) is not supported (hiredis 0.14 has none): run Redis inside the "
              "cluster network and use redis://";
    }
    return false;
  }
  std::string_view rest = text.substr(kScheme.size());
  if (rest.find('@') != std::string_view::npos) {
    error = "put no credentials in the URL: name the variable holding the password in "
            "shared_state.password_env";
    return false;
  }
  int db = 0;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db_text = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db_text.empty()) {
      const auto [end, ec] = std::from_chars(db_text.data(), db_text.data() + db_text.size(), db);
      if (ec != std::errc() || end != db_text.data() + db_text.size() || db < 0 || db > 65535) {
        error = "the database after '/' must be a number 0..65535";
        return false;
      }
    }
  }
  std::string host_port(rest);
  const bool bracketed_v6 = !rest.empty() && rest.front() == '[';
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || (bracketed_v6 && rest.back() == ']')) {
    host_port += ":6379";
  }
  std::string parse_error;
  std::optional<HostPort> parsed = parseHostPort(host_port, parse_error);
  if (!parsed || parsed->port == 0) {
    error = "expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0";
    return false;
  }
  out.redis = std::move(*parsed);
  out.redis_db = db;
  out.redis_url = std::string(text);
  return true;
}

void readRedis(Reader& reader, const Field& f, SharedStateConfig& out) {
  const std::optional<std::string> text = reader.nonEmptyString(f);
  if (!text) {
    return;
  }
  std::string error;
  if (!parseRedisUrl(*text, out, error)) {
    reader.error(f.valueLoc(), f.path, "invalid Redis URL " + quoted(*text) + ": " + error);
  }
}

// An environment variable's name (not its value: that is read at start and never shown).
std::optional<std::string> readEnvName(Reader& reader, const Field& f) {
  std::optional<std::string> name = reader.nonEmptyString(f);
  if (!name) {
    return std::nullopt;
  }
  const bool valid = std::all_of(name->begin(), name->end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  if (!valid || std::isdigit(static_cast<unsigned char>(name->front()))) {
    reader.error(f.valueLoc(), f.path,
                 "expected the name of an environment variable (letters, digits, '_'), e.g. "
                 "REDIS_PASSWORD, got " +
                     quoted(*name));
    return std::nullopt;
  }
  return name;
}

constexpr auto kSharedStateKeys = std::to_array<Key<SharedStateConfig>>({
    {"redis", ValueKind::kCustom, Range{}, nullptr, &readRedis,
     [] { return SharedStateConfig{}.redis_url; }},
    {"password_env", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SharedStateConfig& c) {
       c.password_env = readEnvName(reader, f).value_or("");
     }},
    {"key_prefix", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SharedStateConfig& c) {
       if (std::optional<std::string> prefix = reader.nonEmptyString(f)) {
         c.key_prefix = std::move(*prefix);
       }
     },
     [] { return SharedStateConfig{}.key_prefix; }},
    {"advertise", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SharedStateConfig& c) {
       HostPort address;
       readAddress(reader, f, address);
       if (!address.host.empty()) {
         c.advertise = std::move(address);
       }
     }},
    {"key_secret_env", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, SharedStateConfig& c) {
       c.key_secret_env = readEnvName(reader, f).value_or("");
     }},
    {"timeout", ValueKind::kDuration, Range{1, 10000, false, "", ""},
     [](SharedStateConfig& c, const Value& v) { c.timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(SharedStateConfig{}.timeout); }},
    {"session_ttl", ValueKind::kDuration, Range{10000, 7 * kOneDay, false, "", ""},
     [](SharedStateConfig& c, const Value& v) { c.session_ttl = v.duration; }, nullptr,
     [] { return policies::formatDuration(SharedStateConfig{}.session_ttl); }},
    {"heartbeat_interval", ValueKind::kDuration, Range{100, 60000, false, "", ""},
     [](SharedStateConfig& c, const Value& v) { c.heartbeat_interval = v.duration; }, nullptr,
     [] { return policies::formatDuration(SharedStateConfig{}.heartbeat_interval); }},
    {"heartbeat_ttl", ValueKind::kDuration, Range{1000, 600000, false, "", ""},
     [](SharedStateConfig& c, const Value& v) { c.heartbeat_ttl = v.duration; }, nullptr,
     [] { return policies::formatDuration(SharedStateConfig{}.heartbeat_ttl); }},
});

bool isWildcard(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

} // namespace

void readSharedState(Reader& reader, const Field& f, const Config& config, SharedStateConfig& out) {
  if (f.empty()) {
    reader.error(f.valueLoc(), f.path,
                 "expected a mapping such as {redis: \"redis://127.0.0.1:6379\", advertise: "
                 "\"10.0.0.5:8080\"}");
    return;
  }
  const std::vector<KeyRead> reads = readKeys<SharedStateConfig>(reader, f, kSharedStateKeys, out);
  if (out.heartbeat_ttl <= out.heartbeat_interval) {
    const Field* at = storedField(reads, "heartbeat_ttl");
    const Field& where = at != nullptr ? *at : *storedField(reads, "heartbeat_interval");
    reader.error(where.valueLoc(), where.path,
                 "shared_state.heartbeat_ttl (" + policies::formatDuration(out.heartbeat_ttl) +
                     ") must be longer than heartbeat_interval (" +
                     policies::formatDuration(out.heartbeat_interval) +
                     "), or a live sidecar would look gone between two heartbeats");
  }
  // A wildcard `listen` without `advertise` is not an error here: `--advertise` (the pod IP in
  // Kubernetes) may complete the file. main() refuses it once the flags are applied.
  if (out.advertise && (isWildcard(out.advertise->host) || out.advertise->port == 0)) {
    const Field& where = *storedField(reads, "advertise");
    reader.error(where.valueLoc(), where.path,
                 "must be an address other sidecars can reach, with a port (not a wildcard, "
                 "not port 0)");
  }
  if (!config.upstream.command.empty()) {
    reader.error(f.keyLoc(), f.path,
                 "shared_state needs an HTTP upstream (upstream.url): a stdio server's sessions "
                 "are children of this process, which no other replica can reach or take over");
  }
}

std::string missingAdvertiseProblem(const HostPort& listen,
                                    const std::optional<HostPort>& advertise,
                                    bool listen_from_flag) {
  if (advertise || !isWildcard(listen.host)) {
    return {};
  }
  // The example needs a real port: an advertised port 0 is refused too.
  const std::string port = std::to_string(listen.port != 0 ? listen.port : 8080);
  return (listen_from_flag ? "--listen is " : "listen is ") + listen.text() +
         ", which other sidecars cannot reach; set the address they should use, e.g. the pod IP "
         "and the data port (--advertise=$(POD_IP):" +
         port + ", or shared_state.advertise: \"10.0.0.5:" + port + "\")";
}

void appendSharedStateKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<SharedStateConfig>(out, "shared_state.", kSharedStateKeys);
}

} // namespace bulwark::config
