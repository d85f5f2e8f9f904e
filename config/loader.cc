// YAML -> Config. Walks the document by hand so that every error can name the file, line, column
// and key path, and so that all errors are collected before giving up. yaml-cpp types and
// exceptions stay in this file.
#include "config/config.h"
#include "config/yaml_stall.h"
#include "policies/failure_class.h"
#include "proxy/mcp/json_writer.h" // the one JSON string escaper and number grammar

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace bulwark::config {
namespace {

using policies::Duration;
using policies::EffectivePolicy;
using policies::FailureClass;
using policies::FailureClassSet;
using policies::formatDuration;
using policies::PolicyOverride;

// Limits that catch typos (and keep arithmetic far from overflow).
constexpr int kMaxAttemptsLimit = 100;
constexpr std::string_view kDurationHint = "(use e.g. 250ms, 30s, 5m)";

struct Loc {
  int line = 0;
  int column = 0;
};

Loc locOf(const YAML::Node& n) {
  if (!n.IsDefined()) {
    return {};
  }
  const YAML::Mark m = n.Mark();
  if (m.is_null() || m.line < 0) {
    return {};
  }
  return {m.line + 1, m.column + 1};
}

// A key and its value inside a mapping (or an element of a list), with its key path.
struct Field {
  YAML::Node key; // undefined for list elements and the document root
  YAML::Node value;
  std::string path;
  Loc fallback{1, 1}; // where to point when neither node has a position

  Loc keyLoc() const {
    Loc l = key.IsDefined() ? locOf(key) : Loc{};
    return l.line > 0 ? l : valueLoc();
  }
  // yaml-cpp places an implicit null (`key:` with nothing after it) at the next token, so point at
  // the key in that case.
  Loc valueLoc() const {
    if (value.IsDefined() && !value.IsNull()) {
      Loc l = locOf(value);
      if (l.line > 0) {
        return l;
      }
    }
    Loc l = key.IsDefined() ? locOf(key) : locOf(value);
    return l.line > 0 ? l : fallback;
  }
  bool empty() const { return !value.IsDefined() || value.IsNull(); }
};

std::string describeKind(const YAML::Node& n) {
  switch (n.Type()) {
  case YAML::NodeType::Scalar:
    return "\"" + n.Scalar() + "\"";
  case YAML::NodeType::Sequence:
    return "a list";
  case YAML::NodeType::Map:
    return "a mapping";
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    break;
  }
  return "nothing";
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The closest known key when it is obviously what was meant.
std::optional<std::string_view> closestKey(std::string_view name,
                                           std::initializer_list<std::string_view> known) {
  std::optional<std::string_view> best;
  std::size_t best_distance = std::max<std::size_t>(1, name.size() / 3) + 1;
  for (std::string_view k : known) {
    const std::size_t d = editDistance(name, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  if (best) {
    return best;
  }
  // A prefix of a longer key ("per_try" -> "per_try_timeout"), or a longer word sharing a key's
  // first four letters ("retries" -> "retry").
  for (std::string_view k : known) {
    if (name.size() >= 3 && k.substr(0, name.size()) == name) {
      return k;
    }
  }
  for (std::string_view k : known) {
    const std::size_t n = std::min<std::size_t>(4, k.size());
    if (name.size() >= n && k.substr(0, n) == name.substr(0, n)) {
      return k;
    }
  }
  return std::nullopt;
}

using Hint = std::pair<std::string_view, std::string_view>;
using Hints = std::span<const Hint>;

// Keys in a policy block that belong one level down.
constexpr std::array<Hint, 7> kPolicyHints = {{{"max_attempts", "retry.max_attempts"},
                                               {"backoff", "retry.backoff"},
                                               {"on", "retry.on"},
                                               {"budget", "retry.budget"},
                                               {"base", "retry.backoff.base"},
                                               {"multiplier", "retry.backoff.multiplier"},
                                               {"max", "retry.backoff.max"}}};
constexpr std::array<Hint, 5> kRetryHints = {
    {{"base", "backoff.base"},
     {"multiplier", "backoff.multiplier"},
     {"max", "backoff.max"},
     {"timeout", "the timeout next to retry, not inside it"},
     {"per_try_timeout", "per_try_timeout next to retry, not inside it"}}};

// Per-policy cache keys written in the top-level (global) cache block.
constexpr std::array<Hint, 4> kCacheStoreHints = {
    {{"ttl", "defaults.cache.ttl, methods.<name>.cache.ttl or tools[].cache.ttl"},
     {"stale_if_error", "defaults.cache.stale_if_error (or per method or tool)"},
     {"scope", "defaults.cache.scope (or per method or tool)"},
     {"enabled", "defaults.cache.enabled (or per method or tool)"}}};

// Keys from design.md that a later version will implement (none at the moment).
bool isPlannedKey(std::string_view /*name*/) { return false; }

// Limits that catch typos.
constexpr long long kMaxMinRequests = 1000000;
constexpr long long kMaxHalfOpenProbes = 1000;
constexpr int kMaxJsonDepth = 64;
// 1 TiB: far above any sensible cache, far below overflow.
constexpr std::uint64_t kMaxCacheBytes = std::uint64_t{1} << 40;

// "64MiB", "512KiB", "1GiB", "10MB", "1000" (bytes): a whole or decimal number and an optional
// unit (B, KB, MB, GB decimal; KiB, MiB, GiB binary).
std::optional<std::uint64_t> parseByteSize(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  const std::string_view number = text.substr(0, i);
  const std::string_view unit = text.substr(i);
  if (number.empty() || number.front() == '.' || number.back() == '.') {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || ptr != number.data() + number.size()) {
    return std::nullopt;
  }
  static constexpr std::array<std::pair<std::string_view, double>, 8> kUnits = {{
      {"", 1},
      {"B", 1},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"KiB", 1024.0},
      {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      const double bytes = std::round(value * factor);
      if (bytes > static_cast<double>(kMaxCacheBytes)) {
        return std::nullopt;
      }
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

bool validHostPort(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return false;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return false; // a bare IPv6 address: must be bracketed
    }
  }
  if (host.empty() || port.empty() || port.size() > 5) {
    return false;
  }
  const bool host_ok = std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == ':' || c == '%';
  });
  if (!host_ok) {
    return false;
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && ptr == port.data() + port.size() && value <= 65535;
}

// A layer of policy overrides as parsed, with where the backoff bounds were set (for the
// cross-field check max >= base, reported where the user can fix it).
struct Layer {
  PolicyOverride value;
  std::optional<Field> base_at;
  std::optional<Field> max_at;
  std::string name;                   // "defaults", "methods.tools/call", "tools[0]"
  std::string method = {};            // the JSON-RPC method of a methods.<name> block
  std::optional<Field> cache_at = {}; // the `cache` block, for the merged check
};

enum class BlockKind { kDefaults, kMethod, kTool };

class Loader {
public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  ConfigLoadResult load(std::string_view text);

private:
  void error(Loc at, std::string path, std::string message) {
    errors_.push_back({file_, at.line, at.column, std::move(path), std::move(message)});
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  std::vector<Field> fields(const Field& at, std::initializer_list<std::string_view> known,
                            Hints hints = {});
  std::vector<Field> elements(const Field& at, std::string_view what);

  std::optional<std::string> scalar(const Field& f, std::string_view expected);
  std::optional<Duration> duration(const Field& f);
  std::optional<Duration> positiveDuration(const Field& f);
  std::optional<Duration> secondsOrDuration(const Field& f);
  std::optional<long long> integer(const Field& f);
  std::optional<double> number(const Field& f);
  std::optional<bool> boolean(const Field& f);
  std::optional<std::string> nonEmptyString(const Field& f);

  void parseAddress(const Field& f, std::string& out);
  void parseUpstream(const Field& f, UpstreamConfig& out);
  void parseSeed(const Field& f, Layer& seed, Config& config);
  void parseMonitoring(const Field& f, MonitoringConfig& out);
  void parsePolicyBlock(const Field& f, BlockKind kind, Layer& layer, Config& config,
                        std::optional<Field>* match = nullptr);
  void parseRetry(const Field& f, BlockKind kind, Layer& layer, Config& config);
  void parseBackoff(const Field& f, Layer& layer);
  // A list of failure classes; `refused` ones are errors explained by `refused_because`.
  std::optional<FailureClassSet> parseClassList(const Field& f, FailureClassSet refused,
                                                std::string_view refused_because);
  std::optional<FailureClassSet> parseOn(const Field& f);
  void parseBudget(const Field& f, policies::RetryBudgetParams& out);
  void parseCache(const Field& f, Layer& layer);
  void parseFallback(const Field& f, BlockKind kind, Layer& layer);
  void parseCircuitBreaker(const Field& f, BlockKind kind, Layer& layer);
  void parseRecovery(const Field& f, policies::RecoveryPlan& out);
  void parseCacheStore(const Field& f, Config& config);
  void parseLimits(const Field& f, LimitsConfig& out);
  void parseSecurity(const Field& f, SecurityConfig& out);
  std::optional<std::vector<std::string>> parsePatternList(
      const Field& f, bool (*valid)(std::string_view), std::string_view example);
  std::optional<std::uint64_t> byteSize(const Field& f);
  std::optional<FailureClassSet> parseBreakerOn(const Field& f);
  // The YAML value as JSON text; false (with errors recorded) when it cannot be represented.
  bool appendJson(const Field& f, std::string& out, int depth);

  void checkBackoff(const EffectivePolicy& merged, const Layer& layer,
                    std::string_view inherited_from);
  void checkCache(const EffectivePolicy& merged, const Layer& layer);

  std::string file_;
  std::vector<ConfigError> errors_;
};

std::vector<Field> Loader::fields(const Field& at, std::initializer_list<std::string_view> known,
                                  Hints hints) {
  std::vector<Field> out;
  if (at.empty()) {
    return out; // `key:` with nothing: same as an empty mapping
  }
  if (!at.value.IsMap()) {
    error(at.valueLoc(), at.path, "expected a mapping, got " + describeKind(at.value));
    return out;
  }
  std::map<std::string, Loc> seen;
  for (auto it = at.value.begin(); it != at.value.end(); ++it) {
    Field f{it->first, it->second, "", at.fallback};
    if (!f.key.IsScalar()) {
      error(f.keyLoc(), at.path, "keys must be plain names, got " + describeKind(f.key));
      continue;
    }
    const std::string name = f.key.Scalar();
    f.path = join(at.path, name);
    if (auto [prev, inserted] = seen.emplace(name, f.keyLoc()); !inserted) {
      error(f.keyLoc(), f.path,
            "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = "unknown key " + quoted(name);
      const auto hint =
          std::find_if(hints.begin(), hints.end(), [&](const auto& h) { return h.first == name; });
      if (isPlannedKey(name)) {
        message += " (not supported yet: planned for a later version)";
      } else if (hint != hints.end()) {
        message += " (did you mean " + std::string(hint->second) + "?)";
      } else if (auto close = closestKey(name, known)) {
        message += " (did you mean " + quoted(*close) + "?)";
      } else {
        message += " (known keys:";
        for (std::string_view k : known) {
          message += " " + std::string(k);
        }
        message += ")";
      }
      error(f.keyLoc(), f.path, std::move(message));
      continue;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Field> Loader::elements(const Field& at, std::string_view what) {
  std::vector<Field> out;
  if (at.empty()) {
    return out;
  }
  if (!at.value.IsSequence()) {
    error(at.valueLoc(), at.path,
          "expected a list of " + std::string(what) + ", got " + describeKind(at.value));
    return out;
  }
  std::size_t i = 0;
  for (auto it = at.value.begin(); it != at.value.end(); ++it, ++i) {
    Field f{YAML::Node(YAML::NodeType::Undefined), *it, at.path + "[" + std::to_string(i) + "]",
            at.valueLoc()};
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<std::string> Loader::scalar(const Field& f, std::string_view expected) {
  if (!f.value.IsScalar()) {
    error(f.valueLoc(), f.path,
          "expected " + std::string(expected) + ", got " + describeKind(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<Duration> Loader::duration(const Field& f) {
  auto text = scalar(f, "a duration " + std::string(kDurationHint));
  if (!text) {
    return std::nullopt;
  }
  auto d = policies::parseDuration(*text);
  if (!d) {
    error(f.valueLoc(), f.path,
          "invalid duration " + quoted(*text) + " " + std::string(kDurationHint));
  }
  return d;
}

std::optional<Duration> Loader::positiveDuration(const Field& f) {
  auto d = duration(f);
  if (d && d->count() <= 0) {
    error(f.valueLoc(), f.path, "must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<Duration> Loader::secondsOrDuration(const Field& f) {
  auto text = scalar(f, "a number of seconds or a duration");
  if (!text) {
    return std::nullopt;
  }
  if (auto d = policies::parseSeconds(*text)) {
    return d;
  }
  if (auto d = policies::parseDuration(*text)) {
    return d;
  }
  error(f.valueLoc(), f.path,
        "invalid duration " + quoted(*text) + " (use seconds, e.g. 1 or 0.5, or 250ms, 30s, 5m)");
  return std::nullopt;
}

std::optional<long long> Loader::integer(const Field& f) {
  auto text = scalar(f, "a whole number");
  if (!text) {
    return std::nullopt;
  }
  long long value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end) {
    error(f.valueLoc(), f.path, "expected a whole number, got " + quoted(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<double> Loader::number(const Field& f) {
  auto text = scalar(f, "a number");
  if (!text) {
    return std::nullopt;
  }
  double value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    error(f.valueLoc(), f.path, "expected a number, got " + quoted(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Loader::boolean(const Field& f) {
  auto text = scalar(f, "true or false");
  if (!text) {
    return std::nullopt;
  }
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    return true;
  }
  if (*text == "false" || *text == "False" || *text == "FALSE") {
    return false;
  }
  error(f.valueLoc(), f.path, "expected true or false, got " + quoted(*text));
  return std::nullopt;
}

std::optional<std::string> Loader::nonEmptyString(const Field& f) {
  auto text = scalar(f, "a string");
  if (text && text->empty()) {
    error(f.valueLoc(), f.path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

void Loader::parseAddress(const Field& f, std::string& out) {
  auto text = scalar(f, "host:port");
  if (!text) {
    return;
  }
  if (!validHostPort(*text)) {
    error(f.valueLoc(), f.path,
          "invalid address " + quoted(*text) +
              " (use host:port, e.g. 127.0.0.1:8080 or [::1]:8080)");
    return;
  }
  out = *text;
}

void Loader::parseUpstream(const Field& f, UpstreamConfig& out) {
  std::optional<Field> url_at;
  std::optional<Field> command_at;
  std::vector<Field> stdio_only;
  for (const Field& k : fields(f, {"url", "connect_timeout", "command", "env", "cwd", "restart",
                                   "stop_timeout", "session_idle_timeout", "max_sessions"})) {
    const std::string name = k.key.Scalar();
    if (name != "url" && name != "connect_timeout" && name != "command") {
      stdio_only.push_back(k);
    }
    if (name == "command") {
      command_at = k;
      if (!k.empty() && !k.value.IsSequence()) {
        error(k.valueLoc(), k.path,
              "expected the command as a list, e.g. [npx, -y, @modelcontextprotocol/server-memory]"
              ", got " + describeKind(k.value));
        continue;
      }
      std::vector<std::string> argv;
      for (const Field& arg : elements(k, "arguments")) {
        if (auto text = nonEmptyString(arg)) {
          argv.push_back(*text);
        }
      }
      if (argv.empty() && k.value.IsSequence() && k.value.size() == 0) {
        error(k.valueLoc(), k.path, "must name a program to run");
      }
      out.command = std::move(argv);
    } else if (name == "env") {
      if (!k.empty() && !k.value.IsMap()) {
        error(k.valueLoc(), k.path,
              "expected a mapping of variable names to values, e.g. {MEMORY_FILE_PATH: "
              "/tmp/memory.jsonl}, got " + describeKind(k.value));
        continue;
      }
      if (k.empty()) {
        continue;
      }
      for (auto it = k.value.begin(); it != k.value.end(); ++it) {
        Field entry{it->first, it->second, "", k.fallback};
        const std::string key = entry.key.IsScalar() ? entry.key.Scalar() : std::string();
        entry.path = join(k.path, key);
        if (key.empty() || key.find('=') != std::string::npos) {
          error(entry.keyLoc(), entry.path,
                "environment variable names must be non-empty and contain no '='");
          continue;
        }
        if (auto value = scalar(entry, "a string")) {
          out.env.emplace_back(key, *value);
        }
      }
    } else if (name == "cwd") {
      if (auto text = nonEmptyString(k)) {
        out.cwd = *text;
      }
    } else if (name == "restart") {
      for (const Field& r : fields(k, {"backoff", "max_restarts", "stable_after"})) {
        const std::string rname = r.key.Scalar();
        if (rname == "backoff") {
          for (const Field& b : fields(r, {"base", "multiplier", "max"})) {
            const std::string bname = b.key.Scalar();
            if (bname == "base") {
              if (auto d = positiveDuration(b)) {
                out.restart.backoff.base = *d;
              }
            } else if (bname == "max") {
              if (auto d = positiveDuration(b)) {
                out.restart.backoff.max = *d;
              }
            } else if (auto m = number(b)) {
              if (*m < 1 || *m > 100) {
                error(b.valueLoc(), b.path, "must be between 1 and 100");
              } else {
                out.restart.backoff.multiplier = *m;
              }
            }
          }
          if (out.restart.backoff.max < out.restart.backoff.base) {
            error(r.valueLoc(), r.path,
                  "max (" + formatDuration(out.restart.backoff.max) + ") must be at least base (" +
                      formatDuration(out.restart.backoff.base) + ")");
          }
        } else if (rname == "max_restarts") {
          if (auto n = integer(r)) {
            if (*n < 1 || *n > 1000) {
              error(r.valueLoc(), r.path, "must be between 1 and 1000");
            } else {
              out.restart.max_restarts = static_cast<int>(*n);
            }
          }
        } else if (auto d = positiveDuration(r)) {
          out.restart.stable_after = *d;
        }
      }
    } else if (name == "stop_timeout") {
      if (auto d = positiveDuration(k)) {
        out.stop_timeout = *d;
      }
    } else if (name == "session_idle_timeout") {
      if (auto d = positiveDuration(k)) {
        out.session_idle_timeout = *d;
      }
    } else if (name == "max_sessions") {
      if (auto n = integer(k)) {
        if (*n < 1 || *n > 100000) {
          error(k.valueLoc(), k.path, "must be between 1 and 100000");
        } else {
          out.max_sessions = static_cast<std::size_t>(*n);
        }
      }
    }
    if (name == "url") {
      url_at = k;
      auto url = scalar(k, "a URL");
      if (!url) {
        continue;
      }
      std::string lower = url->substr(0, 8);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower.rfind("https://", 0) == 0) {
        error(k.valueLoc(), k.path,
              "https upstreams are not supported (Bulwark runs next to the server: use http://)");
        continue;
      }
      const bool http = lower.rfind("http://", 0) == 0;
      const std::string_view rest = http ? std::string_view(*url).substr(7) : std::string_view();
      const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
      if (!http || authority.empty() ||
          (authority.find(':') != std::string_view::npos && !validHostPort(authority))) {
        error(k.valueLoc(), k.path,
              "invalid upstream URL " + quoted(*url) + " (use e.g. http://127.0.0.1:3000/mcp)");
        continue;
      }
      out.url = *url;
    } else if (name == "connect_timeout") {
      if (auto d = positiveDuration(k)) {
        out.connect_timeout = *d;
      }
    }
  }
  if (url_at && command_at) {
    const Field& later = url_at->keyLoc().line > command_at->keyLoc().line ? *url_at : *command_at;
    error(later.keyLoc(), later.path,
          "give either upstream.url (an HTTP server) or upstream.command (a stdio server to "
          "spawn), not both");
  }
  if (!command_at) {
    for (const Field& k : stdio_only) {
      error(k.keyLoc(), k.path, "applies only to a stdio server: set upstream.command too");
    }
  }
}

void Loader::parseSeed(const Field& f, Layer& seed, Config& config) {
  for (const Field& k :
       fields(f, {"max_retries", "retry_delay", "fallback_enabled", "timeout_seconds"})) {
    const std::string name = k.key.Scalar();
    if (name == "max_retries") {
      if (auto n = integer(k)) {
        if (*n < 0 || *n > kMaxAttemptsLimit - 1) {
          error(k.valueLoc(), k.path,
                "must be between 0 and " + std::to_string(kMaxAttemptsLimit - 1));
        } else {
          seed.value.retry.max_attempts = static_cast<int>(*n) + 1;
        }
      }
    } else if (name == "retry_delay") {
      if (auto d = secondsOrDuration(k)) {
        seed.value.retry.base = *d;
        seed.base_at = k;
      }
    } else if (name == "fallback_enabled") {
      if (auto b = boolean(k)) {
        config.fallback_enabled = *b;
      }
    } else if (name == "timeout_seconds") {
      if (auto d = secondsOrDuration(k)) {
        if (d->count() <= 0) {
          error(k.valueLoc(), k.path, "must be greater than 0");
        } else {
          seed.value.timeout = *d;
        }
      }
    }
  }
}

void Loader::parseMonitoring(const Field& f, MonitoringConfig& out) {
  for (const Field& k :
       fields(f, {"log_errors", "access_log", "max_tool_labels", "alert_threshold"})) {
    const std::string name = k.key.Scalar();
    if (name == "log_errors") {
      if (auto b = boolean(k)) {
        out.log_errors = *b;
      }
    } else if (name == "access_log") {
      if (auto b = boolean(k)) {
        out.access_log = *b;
      }
    } else if (name == "max_tool_labels") {
      if (auto n = integer(k)) {
        if (*n < 0 || *n > 10000) {
          error(k.valueLoc(), k.path, "must be between 0 and 10000");
        } else {
          out.max_tool_labels = static_cast<std::size_t>(*n);
        }
      }
    } else if (name == "alert_threshold") {
      for (const Field& t : fields(k, {"error_rate", "recovery_time"})) {
        const std::string tname = t.key.Scalar();
        if (tname == "error_rate") {
          if (auto r = number(t)) {
            if (*r < 0 || *r > 1) {
              error(t.valueLoc(), t.path, "must be a fraction between 0 and 1 (0.05 = 5%)");
            } else {
              out.alert_error_rate = *r;
            }
          }
        } else if (tname == "recovery_time") {
          if (auto d = secondsOrDuration(t)) {
            out.alert_recovery_time = *d;
          }
        }
      }
    }
  }
}

void Loader::parsePolicyBlock(const Field& f, BlockKind kind, Layer& layer, Config& config,
                              std::optional<Field>* match) {
  std::vector<Field> keys;
  switch (kind) {
  case BlockKind::kDefaults:
    keys = fields(f,
                  {"timeout", "per_try_timeout", "retry", "trust_tool_annotations", "cache",
                   "fallback", "circuit_breaker", "recovery"},
                  kPolicyHints);
    break;
  case BlockKind::kMethod:
    keys = fields(f,
                  {"timeout", "per_try_timeout", "retry", "idempotent", "cache", "fallback",
                   "circuit_breaker", "recovery"},
                  kPolicyHints);
    break;
  case BlockKind::kTool:
    keys = fields(f,
                  {"match", "timeout", "per_try_timeout", "retry", "idempotent", "cache",
                   "fallback", "circuit_breaker", "recovery"},
                  kPolicyHints);
    break;
  }
  for (const Field& k : keys) {
    const std::string name = k.key.Scalar();
    if (name == "timeout") {
      if (auto d = positiveDuration(k)) {
        layer.value.timeout = *d;
      }
    } else if (name == "per_try_timeout") {
      if (auto d = positiveDuration(k)) {
        layer.value.per_try_timeout = *d;
      }
    } else if (name == "retry") {
      parseRetry(k, kind, layer, config);
    } else if (name == "idempotent") {
      if (auto b = boolean(k)) {
        layer.value.idempotent = *b;
      }
    } else if (name == "trust_tool_annotations") {
      if (auto b = boolean(k)) {
        config.policies.defaults.trust_tool_annotations = *b;
      }
    } else if (name == "match" && match != nullptr) {
      *match = k;
    } else if (name == "cache") {
      layer.cache_at = k;
      parseCache(k, layer);
    } else if (name == "fallback") {
      parseFallback(k, kind, layer);
    } else if (name == "circuit_breaker") {
      parseCircuitBreaker(k, kind, layer);
    } else if (name == "recovery") {
      if (kind != BlockKind::kDefaults) {
        error(k.keyLoc(), k.path, "the recovery order is global: set it under defaults.recovery");
      } else {
        parseRecovery(k, config.recovery);
      }
    }
  }
}

void Loader::parseRetry(const Field& f, BlockKind kind, Layer& layer, Config& config) {
  for (const Field& k : fields(f, {"max_attempts", "backoff", "on", "budget"}, kRetryHints)) {
    const std::string name = k.key.Scalar();
    if (name == "max_attempts") {
      if (auto n = integer(k)) {
        if (*n < 1) {
          error(k.valueLoc(), k.path,
                "must be at least 1 (1 = no retries), got " + std::to_string(*n));
        } else if (*n > kMaxAttemptsLimit) {
          error(k.valueLoc(), k.path, "must be at most " + std::to_string(kMaxAttemptsLimit));
        } else {
          layer.value.retry.max_attempts = static_cast<int>(*n);
        }
      }
    } else if (name == "backoff") {
      parseBackoff(k, layer);
    } else if (name == "on") {
      if (auto on = parseOn(k)) {
        layer.value.retry.on = *on;
      }
    } else if (name == "budget") {
      if (kind != BlockKind::kDefaults) {
        error(k.keyLoc(), k.path,
              "the retry budget is shared by all requests: set it under defaults.retry.budget");
      } else {
        parseBudget(k, config.retry_budget);
      }
    }
  }
}

void Loader::parseBackoff(const Field& f, Layer& layer) {
  for (const Field& k : fields(f, {"base", "multiplier", "max"})) {
    const std::string name = k.key.Scalar();
    if (name == "base") {
      if (auto d = duration(k)) {
        layer.value.retry.base = *d;
        layer.base_at = k;
      }
    } else if (name == "max") {
      if (auto d = duration(k)) {
        layer.value.retry.max = *d;
        layer.max_at = k;
      }
    } else if (name == "multiplier") {
      if (auto m = number(k)) {
        if (*m < 1) {
          error(k.valueLoc(), k.path, "must be at least 1 (1 = constant backoff)");
        } else if (*m > 100) {
          error(k.valueLoc(), k.path, "must be at most 100");
        } else {
          layer.value.retry.multiplier = *m;
        }
      }
    }
  }
}

std::optional<FailureClassSet> Loader::parseClassList(const Field& f, FailureClassSet refused,
                                                      std::string_view refused_because) {
  if (!f.empty() && !f.value.IsSequence()) {
    error(f.valueLoc(), f.path,
          "expected a list of failure classes, e.g. [upstream, timeout, overload], got " +
              describeKind(f.value));
    return std::nullopt;
  }
  FailureClassSet set;
  bool ok = true;
  for (const Field& e : elements(f, "failure classes")) {
    auto name = scalar(e, "a failure class");
    if (!name) {
      ok = false;
      continue;
    }
    auto c = policies::parseFailureClass(*name);
    if (!c || *c == FailureClass::kNone) {
      std::string message = "unknown failure class " + quoted(*name) + " (one of:";
      for (FailureClass known : policies::kAllFailureClasses) {
        if (known != FailureClass::kNone && !refused.contains(known)) {
          message += " " + std::string(policies::failureClassName(known));
        }
      }
      error(e.valueLoc(), e.path, message + ")");
      ok = false;
      continue;
    }
    if (refused.contains(*c)) {
      error(e.valueLoc(), e.path, quoted(*name) + std::string(refused_because));
      ok = false;
      continue;
    }
    set.insert(*c);
  }
  return ok ? std::optional<FailureClassSet>(set) : std::nullopt;
}

std::optional<FailureClassSet> Loader::parseOn(const Field& f) {
  return parseClassList(f, {FailureClass::kInvalidInput, FailureClass::kPermission},
                        " is never retried: repeating the same request cannot succeed");
}

std::optional<FailureClassSet> Loader::parseBreakerOn(const Field& f) {
  return parseClassList(
      f, policies::kNeverBreakerFailures,
      " never counts against a circuit: it is an answer from a working upstream");
}

void Loader::parseBudget(const Field& f, policies::RetryBudgetParams& out) {
  for (const Field& k : fields(f, {"ratio", "min_per_second", "window"})) {
    const std::string name = k.key.Scalar();
    if (name == "ratio" || name == "min_per_second") {
      if (auto v = number(k)) {
        if (*v < 0) {
          error(k.valueLoc(), k.path, "must not be negative");
        } else if (*v > 1e6) {
          error(k.valueLoc(), k.path, "must be at most 1000000");
        } else {
          (name == "ratio" ? out.ratio : out.min_per_second) = *v;
        }
      }
    } else if (name == "window") {
      if (auto d = positiveDuration(k)) {
        out.window = *d;
      }
    }
  }
}

void Loader::parseCache(const Field& f, Layer& layer) {
  policies::CacheOverride& out = layer.value.cache;
  for (const Field& k : fields(f, {"ttl", "stale_if_error", "scope", "enabled"})) {
    const std::string name = k.key.Scalar();
    if (name == "ttl" || name == "stale_if_error") {
      if (auto d = duration(k)) {
        (name == "ttl" ? out.ttl : out.stale_if_error) = *d;
      }
    } else if (name == "scope") {
      if (auto text = scalar(k, "caller or shared")) {
        if (auto scope = policies::parseCacheScope(*text)) {
          out.scope = *scope;
        } else {
          error(k.valueLoc(), k.path,
                "expected caller (one entry per Authorization header) or shared (one entry for "
                "every caller), got " +
                    quoted(*text));
        }
      }
    } else if (name == "enabled") {
      if (auto b = boolean(k)) {
        out.enabled = *b;
      }
    }
  }
}

void Loader::checkCache(const EffectivePolicy& merged, const Layer& layer) {
  if (!layer.cache_at || !merged.cache.enabled) {
    return;
  }
  if (merged.cache.ttl.count() == 0 && merged.cache.stale_if_error.count() == 0) {
    error(layer.cache_at->valueLoc(), layer.cache_at->path,
          "the cache is enabled but ttl and stale_if_error are both 0s: set ttl (answers served "
          "without asking the upstream) or stale_if_error (answers kept for recovery)");
  }
}

void Loader::parseFallback(const Field& f, BlockKind kind, Layer& layer) {
  if (kind == BlockKind::kDefaults) {
    error(f.keyLoc(), f.path,
          "a fallback under defaults would answer every method with the same result: set it per "
          "tool (tools: [{match: \"*\", fallback: ...}] for every tool) or per method");
    return;
  }
  const bool tool_call = kind == BlockKind::kTool || layer.method == "tools/call";
  if (f.value.IsScalar()) {
    if (f.value.Scalar() == "false" || f.value.Scalar() == "False" || f.value.Scalar() == "FALSE") {
      layer.value.fallback_off = true;
      return;
    }
    error(f.valueLoc(), f.path,
          "expected {text: \"...\"}, {result: {...}} or false (no fallback), got " +
              describeKind(f.value));
    return;
  }
  std::optional<Field> text;
  std::optional<Field> result;
  for (const Field& k : fields(f, {"text", "result"})) {
    (k.key.Scalar() == "text" ? text : result) = k;
  }
  if (f.empty() || (f.value.IsMap() && !text && !result && f.value.size() == 0)) {
    error(f.valueLoc(), f.path, "expected {text: \"...\"} or {result: {...}}");
    return;
  }
  if (text && result) {
    error(result->keyLoc(), result->path,
          "give either text or result, not both (text is the short form of a result with one "
          "text content item)");
    return;
  }
  if (text) {
    if (!tool_call) {
      error(text->keyLoc(), text->path,
            "a text fallback is a tools/call result (CallToolResult); for " + quoted(layer.method) +
                " write the whole result under fallback.result");
      return;
    }
    auto value = nonEmptyString(*text);
    if (!value) {
      return;
    }
    if (!policies::isValidUtf8(*value)) {
      error(text->valueLoc(), text->path, "must be valid UTF-8");
      return;
    }
    layer.value.fallback = policies::FallbackSpec::fromText(*value);
    return;
  }
  if (!result) {
    return; // only unknown keys, already reported
  }
  if (!result->value.IsMap()) {
    error(result->valueLoc(), result->path,
          "expected the result object as a mapping (JSON works too: {\"content\": [...]}), got " +
              describeKind(result->value));
    return;
  }
  bool ok = true;
  bool has_content = false;
  for (auto it = result->value.begin(); it != result->value.end(); ++it) {
    if (!it->first.IsScalar()) {
      continue; // appendJson reports it
    }
    const std::string key = it->first.Scalar();
    const Field member{it->first, it->second, result->path + "." + key, result->fallback};
    if (key == "_meta") {
      error(member.keyLoc(), member.path,
            "Bulwark adds _meta to a fallback itself ({\"bulwark/fallback\": true}); leave it out");
      ok = false;
    } else if (key == "content") {
      has_content = true;
      if (tool_call && !member.value.IsSequence()) {
        error(member.valueLoc(), member.path,
              "expected a list of content items, e.g. [{type: text, text: \"...\"}], got " +
                  describeKind(member.value));
        ok = false;
      }
    }
  }
  if (tool_call && !has_content) {
    error(result->valueLoc(), result->path,
          "a tools/call result needs content, e.g. {content: [{type: text, text: \"...\"}]}");
    ok = false;
  }
  std::string json;
  if (!appendJson(*result, json, 0) || !ok) {
    return;
  }
  layer.value.fallback = policies::FallbackSpec::fromResultJson(std::move(json));
}

bool Loader::appendJson(const Field& f, std::string& out, int depth) {
  if (depth > kMaxJsonDepth) {
    error(f.valueLoc(), f.path,
          "nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    return false;
  }
  const YAML::Node& v = f.value;
  switch (v.Type()) {
  case YAML::NodeType::Undefined:
  case YAML::NodeType::Null:
    out += "null";
    return true;
  case YAML::NodeType::Scalar: {
    const std::string& text = v.Scalar();
    // A plain (unquoted, untagged) scalar may be a literal of the YAML 1.2 core schema; quoted,
    // block and explicitly tagged scalars (`!!str 5`) are strings.
    if (v.Tag() == "?") {
      if (text == "true" || text == "True" || text == "TRUE") {
        out += "true";
        return true;
      }
      if (text == "false" || text == "False" || text == "FALSE") {
        out += "false";
        return true;
      }
      if (text == "null" || text == "Null" || text == "NULL" || text == "~") {
        out += "null";
        return true;
      }
      if (isJsonNumber(text)) {
        out += text;
        return true;
      }
    }
    if (!policies::isValidUtf8(text)) {
      error(f.valueLoc(), f.path, "must be valid UTF-8");
      return false;
    }
    appendJsonString(out, text);
    return true;
  }
  case YAML::NodeType::Sequence: {
    out += '[';
    bool ok = true;
    std::size_t i = 0;
    for (auto it = v.begin(); it != v.end(); ++it, ++i) {
      if (i > 0) {
        out += ',';
      }
      const Field element{YAML::Node(YAML::NodeType::Undefined), *it,
                          f.path + "[" + std::to_string(i) + "]", f.valueLoc()};
      ok = appendJson(element, out, depth + 1) && ok;
    }
    out += ']';
    return ok;
  }
  case YAML::NodeType::Map: {
    out += '{';
    bool ok = true;
    bool first = true;
    std::map<std::string, Loc> seen;
    for (auto it = v.begin(); it != v.end(); ++it) {
      Field member{it->first, it->second, f.path, f.valueLoc()};
      if (!member.key.IsScalar()) {
        error(member.keyLoc(), f.path, "keys must be plain names, got " + describeKind(member.key));
        ok = false;
        continue;
      }
      const std::string& key = member.key.Scalar();
      member.path = f.path + "." + key;
      if (auto [prev, inserted] = seen.emplace(key, member.keyLoc()); !inserted) {
        error(member.keyLoc(), member.path,
              "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
        ok = false;
        continue;
      }
      if (!policies::isValidUtf8(key)) {
        error(member.keyLoc(), member.path, "keys must be valid UTF-8");
        ok = false;
        continue;
      }
      if (!first) {
        out += ',';
      }
      first = false;
      appendJsonString(out, key);
      out += ':';
      ok = appendJson(member, out, depth + 1) && ok;
    }
    out += '}';
    return ok;
  }
  }
  return false;
}

void Loader::parseCircuitBreaker(const Field& f, BlockKind kind, Layer& layer) {
  if (kind == BlockKind::kMethod && layer.method != "tools/call") {
    error(f.keyLoc(), f.path,
          "circuit breakers are per upstream (defaults.circuit_breaker) and per tool "
          "(methods.tools/call, tools[]), not per method");
    return;
  }
  policies::CircuitBreakerOverride& out = layer.value.circuit_breaker;
  for (const Field& k : fields(f, {"enabled", "failure_ratio", "min_requests", "window", "open_for",
                                   "half_open_probes", "on"})) {
    const std::string name = k.key.Scalar();
    if (name == "enabled") {
      if (auto b = boolean(k)) {
        out.enabled = *b;
      }
    } else if (name == "failure_ratio") {
      if (auto r = number(k)) {
        if (*r <= 0 || *r > 1) {
          error(k.valueLoc(), k.path,
                "must be a fraction greater than 0 and at most 1 (0.5 = half the attempts fail)");
        } else {
          out.failure_ratio = *r;
        }
      }
    } else if (name == "min_requests" || name == "half_open_probes") {
      const long long limit = name == "min_requests" ? kMaxMinRequests : kMaxHalfOpenProbes;
      if (auto n = integer(k)) {
        if (*n < 1 || *n > limit) {
          error(k.valueLoc(), k.path, "must be between 1 and " + std::to_string(limit));
        } else {
          (name == "min_requests" ? out.min_requests : out.half_open_probes) = static_cast<int>(*n);
        }
      }
    } else if (name == "window" || name == "open_for") {
      if (auto d = positiveDuration(k)) {
        (name == "window" ? out.window : out.open_for) = *d;
      }
    } else if (name == "on") {
      if (auto on = parseBreakerOn(k)) {
        out.on = *on;
      }
    }
  }
}

void Loader::parseRecovery(const Field& f, policies::RecoveryPlan& out) {
  if (f.empty()) {
    return;
  }
  if (!f.value.IsMap()) {
    error(f.valueLoc(), f.path,
          "expected a mapping of failure classes to strategy lists, e.g. {upstream: [retry, "
          "stale, fallback]}, got " +
              describeKind(f.value));
    return;
  }
  std::map<std::string, Loc> seen;
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    Field entry{it->first, it->second, f.path, f.fallback};
    if (!entry.key.IsScalar()) {
      error(entry.keyLoc(), f.path, "keys must be plain names, got " + describeKind(entry.key));
      continue;
    }
    const std::string name = entry.key.Scalar();
    entry.path = join(f.path, name);
    if (auto [prev, inserted] = seen.emplace(name, entry.keyLoc()); !inserted) {
      error(entry.keyLoc(), entry.path,
            "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
      continue;
    }
    const bool circuit_open = name == "circuit_open";
    const std::optional<FailureClass> cls = policies::parseFailureClass(name);
    if (!circuit_open && (!cls || *cls == FailureClass::kNone)) {
      std::string message = "unknown key " + quoted(name) + " (a failure class:";
      for (FailureClass known : policies::kAllFailureClasses) {
        if (known != FailureClass::kNone) {
          message += " " + std::string(policies::failureClassName(known));
        }
      }
      error(entry.keyLoc(), entry.path, message + "; or circuit_open)");
      continue;
    }
    if (!entry.empty() && !entry.value.IsSequence()) {
      error(entry.valueLoc(), entry.path,
            "expected a list of strategies (retry, stale, fallback, fail), got " +
                describeKind(entry.value));
      continue;
    }
    policies::RecoverySteps steps;
    bool ok = true;
    bool failed = false;
    for (const Field& e : elements(entry, "strategies")) {
      auto word = scalar(e, "a strategy");
      if (!word) {
        ok = false;
        continue;
      }
      auto s = policies::parseRecoveryStrategy(*word);
      if (!s) {
        error(e.valueLoc(), e.path,
              "unknown strategy " + quoted(*word) + " (one of: retry stale fallback fail)");
        ok = false;
        continue;
      }
      if (failed) {
        error(e.valueLoc(), e.path,
              quoted(*word) + " after fail is never reached: fail ends the list");
        ok = false;
        continue;
      }
      if (std::find(steps.begin(), steps.end(), *s) != steps.end()) {
        error(e.valueLoc(), e.path, quoted(*word) + " is listed twice");
        ok = false;
        continue;
      }
      if (*s == policies::RecoveryStrategy::kFail) {
        failed = true;
      } else if (cls &&
                 (*cls == FailureClass::kInvalidInput || *cls == FailureClass::kPermission)) {
        error(e.valueLoc(), e.path,
              quoted(name) + " answers go to the client as they are: only fail is allowed");
        ok = false;
        continue;
      } else if (circuit_open && *s == policies::RecoveryStrategy::kRetry) {
        error(e.valueLoc(), e.path,
              "an open circuit refuses every attempt: retry cannot help here (use stale, "
              "fallback, fail)");
        ok = false;
        continue;
      }
      steps.push_back(*s);
    }
    if (!ok) {
      continue;
    }
    if (circuit_open) {
      out.setCircuitOpen(std::move(steps));
    } else {
      out.set(*cls, std::move(steps));
    }
  }
}

void Loader::parseCacheStore(const Field& f, Config& config) {
  for (const Field& k : fields(f, {"max_bytes"}, kCacheStoreHints)) {
    if (auto bytes = byteSize(k)) {
      config.cache_max_bytes = static_cast<std::size_t>(*bytes);
    }
  }
}

std::optional<std::uint64_t> Loader::byteSize(const Field& f) {
  auto text = scalar(f, "a size such as 64MiB");
  if (!text) {
    return std::nullopt;
  }
  auto bytes = parseByteSize(*text);
  if (!bytes) {
    error(f.valueLoc(), f.path,
          "invalid size " + quoted(*text) +
              " (use bytes or a unit: 512KiB, 64MiB, 1GiB, 100MB; at most 1TiB)");
  }
  return bytes;
}

void Loader::parseLimits(const Field& f, LimitsConfig& out) {
  // Bounds that catch typos and keep each limit meaningful (a 0 would refuse everything).
  const auto bounded = [this](const Field& k, std::uint64_t value, std::uint64_t low,
                              std::uint64_t high, std::string_view unit) -> bool {
    if (value < low || value > high) {
      error(k.valueLoc(), k.path,
            "must be between " + std::to_string(low) + " and " + std::to_string(high) +
                std::string(unit));
      return false;
    }
    return true;
  };
  const auto count = [this](const Field& k) -> std::optional<std::uint64_t> {
    auto n = integer(k);
    if (n && *n < 0) {
      error(k.valueLoc(), k.path, "must not be negative");
      return std::nullopt;
    }
    return n ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(*n)) : std::nullopt;
  };
  for (const Field& k :
       fields(f, {"max_header_bytes", "max_headers", "max_body_bytes", "max_connections",
                  "max_requests_per_connection", "max_streams_per_session", "header_timeout",
                  "body_timeout", "idle_timeout"})) {
    const std::string name = k.key.Scalar();
    if (name == "max_header_bytes") {
      if (auto b = byteSize(k); b && bounded(k, *b, 1024, 1 << 20, " bytes (1KiB..1MiB)")) {
        out.max_header_bytes = static_cast<std::size_t>(*b);
      }
    } else if (name == "max_body_bytes") {
      if (auto b = byteSize(k);
          b && bounded(k, *b, 1024, std::uint64_t{1} << 30, " bytes (1KiB..1GiB)")) {
        out.max_body_bytes = static_cast<std::size_t>(*b);
      }
    } else if (name == "max_headers") {
      if (auto n = count(k); n && bounded(k, *n, 8, 10000, "")) {
        out.max_headers = static_cast<std::size_t>(*n);
      }
    } else if (name == "max_connections") {
      if (auto n = count(k); n && bounded(k, *n, 1, 1000000, "")) {
        out.max_connections = static_cast<std::size_t>(*n);
      }
    } else if (name == "max_requests_per_connection") {
      if (auto n = count(k)) {
        out.max_requests_per_connection = *n;  // 0: unlimited
      }
    } else if (name == "max_streams_per_session") {
      if (auto n = count(k); n && bounded(k, *n, 1, 10000, "")) {
        out.max_streams_per_session = static_cast<std::size_t>(*n);
      }
    } else {
      auto d = positiveDuration(k);
      if (!d) {
        continue;
      }
      if (*d > std::chrono::hours(24)) {
        error(k.valueLoc(), k.path, "must be at most 24h");
      } else if (name == "header_timeout") {
        out.header_timeout = *d;
      } else if (name == "body_timeout") {
        out.body_timeout = *d;
      } else {
        out.idle_timeout = *d;
      }
    }
  }
}

// A host name, an IPv4 address or a bracketed IPv6 address, without a port.
bool validHostName(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    return std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// "*", or a host with an optional :port or :* (any port).
bool validHostPattern(std::string_view pattern) {
  if (pattern == "*") {
    return true;
  }
  if (pattern.ends_with(":*")) {
    return validHostName(pattern.substr(0, pattern.size() - 2));
  }
  return validHostName(pattern) || validHostPort(pattern);
}

// "*", or http(s)://host with an optional :port or :* (any port), no path.
bool validOriginPattern(std::string_view pattern) {
  if (pattern == "*") {
    return true;
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    if (pattern.starts_with(scheme)) {
      const std::string_view rest = pattern.substr(scheme.size());
      return rest != "*" && validHostPattern(rest);
    }
  }
  return false;
}

std::optional<std::vector<std::string>> Loader::parsePatternList(
    const Field& f, bool (*valid)(std::string_view), std::string_view example) {
  if (f.empty()) {
    error(f.valueLoc(), f.path, "expected a list such as " + std::string(example));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const Field& e : elements(f, "patterns")) {
    auto text = nonEmptyString(e);
    if (!text) {
      ok = false;
    } else if (!valid(*text)) {
      error(e.valueLoc(), e.path,
            "invalid pattern " + quoted(*text) + " (examples: " + std::string(example) + ")");
      ok = false;
    } else {
      out.push_back(*text);
    }
  }
  if (!ok || !f.value.IsSequence()) {
    return std::nullopt;
  }
  return out;
}

void Loader::parseSecurity(const Field& f, SecurityConfig& out) {
  for (const Field& k : fields(f, {"allowed_origins", "allowed_hosts"})) {
    if (k.key.Scalar() == "allowed_origins") {
      out.allowed_origins = parsePatternList(
          k, &validOriginPattern, "[\"https://app.example.com\", \"http://localhost:*\", \"*\"]");
    } else {
      out.allowed_hosts = parsePatternList(
          k, &validHostPattern, "[\"mcp.example.com\", \"localhost:*\", \"*\"]");
    }
  }
}

void Loader::checkBackoff(const EffectivePolicy& merged, const Layer& layer,
                          std::string_view inherited_from) {
  const auto& b = merged.retry.backoff;
  if (b.max >= b.base) {
    return;
  }
  if (layer.max_at) {
    error(layer.max_at->valueLoc(), layer.max_at->path,
          "backoff max (" + formatDuration(b.max) + ") is less than base (" +
              formatDuration(b.base) +
              (layer.base_at ? std::string(")")
                             : ", inherited from " + std::string(inherited_from) + ")"));
  } else if (layer.base_at) {
    error(layer.base_at->valueLoc(), layer.base_at->path,
          "backoff base (" + formatDuration(b.base) + ") is greater than max (" +
              formatDuration(b.max) + ", inherited from " + std::string(inherited_from) +
              "): raise backoff.max too");
  }
}

ConfigLoadResult Loader::load(std::string_view text) {
  Config config;
  config.source = file_;
  std::vector<YAML::Node> documents;
  if (const std::optional<YamlStall> stall = findYamlStall(text)) {
    error(Loc{stall->line, stall->column}, "",
          "YAML syntax error: unexpected content here (e.g. a stray ',' outside a flow "
          "collection)");
    return {std::nullopt, std::move(errors_)};
  }
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::ParserException& e) {
    const bool has_mark = !e.mark.is_null() && e.mark.line >= 0;
    error(has_mark ? Loc{e.mark.line + 1, e.mark.column + 1} : Loc{}, "",
          "YAML syntax error: " + e.msg);
    return {std::nullopt, std::move(errors_)};
  }
  if (documents.size() > 1) {
    error(locOf(documents[1]), "",
          "expected one YAML document, found " + std::to_string(documents.size()));
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  const Field root_field{YAML::Node(YAML::NodeType::Undefined), root, "", Loc{1, 1}};

  std::map<std::string, Field> top;
  for (Field& f : fields(root_field, {"listen", "admin", "upstream", "cache", "defaults", "tools",
                                      "methods", "error_handling", "monitoring", "limits",
                                      "security"})) {
    top.emplace(f.key.Scalar(), std::move(f));
  }
  auto section = [&](const char* name) -> const Field* {
    auto it = top.find(name);
    return it == top.end() ? nullptr : &it->second;
  };

  if (auto* f = section("listen")) {
    parseAddress(*f, config.listen);
  }
  if (auto* f = section("admin")) {
    parseAddress(*f, config.admin);
  }
  if (auto* f = section("upstream")) {
    parseUpstream(*f, config.upstream);
  }
  if (auto* f = section("monitoring")) {
    parseMonitoring(*f, config.monitoring);
  }
  if (auto* f = section("cache")) {
    parseCacheStore(*f, config);
  }
  if (auto* f = section("limits")) {
    parseLimits(*f, config.limits);
  }
  if (auto* f = section("security")) {
    parseSecurity(*f, config.security);
  }

  // Global defaults: built-in <- error_handling (seed) <- defaults. `defaults` wins where both
  // say something. The seed's retry_delay raises the built-in backoff max when it exceeds it,
  // since the seed has no notion of a cap.
  Layer seed{{}, std::nullopt, std::nullopt, "error_handling"};
  if (auto* f = section("error_handling")) {
    parseSeed(*f, seed, config);
  }
  Layer defaults_layer{{}, std::nullopt, std::nullopt, "defaults"};
  if (auto* f = section("defaults")) {
    parsePolicyBlock(*f, BlockKind::kDefaults, defaults_layer, config);
  }
  const bool trust = config.policies.defaults.trust_tool_annotations;
  EffectivePolicy defaults;
  defaults.trust_tool_annotations = trust;
  if (seed.value.retry.base && *seed.value.retry.base > defaults.retry.backoff.max) {
    seed.value.retry.max = *seed.value.retry.base;
  }
  defaults = policies::applyOverride(defaults, seed.value, "defaults");
  defaults = policies::applyOverride(defaults, defaults_layer.value, "defaults");
  Layer combined = defaults_layer;
  if (!combined.base_at) {
    combined.base_at = seed.base_at;
  }
  checkBackoff(defaults, combined, "the built-in default");
  checkCache(defaults, defaults_layer);
  config.policies.defaults = defaults;

  if (auto* f = section("methods")) {
    std::vector<Field> entries;
    if (!f->empty() && !f->value.IsMap()) {
      error(f->valueLoc(), f->path,
            "expected a mapping of method names to policies, e.g. "
            "{resources/read: {retry: {max_attempts: 4}}}, got " +
                describeKind(f->value));
    } else if (!f->empty()) {
      std::map<std::string, Loc> seen;
      for (auto it = f->value.begin(); it != f->value.end(); ++it) {
        Field entry{it->first, it->second, "", f->fallback};
        if (!entry.key.IsScalar() || entry.key.Scalar().empty()) {
          error(entry.keyLoc(), f->path, "method names must be non-empty strings");
          continue;
        }
        entry.path = join(f->path, entry.key.Scalar());
        if (auto [prev, inserted] = seen.emplace(entry.key.Scalar(), entry.keyLoc()); !inserted) {
          error(entry.keyLoc(), entry.path,
                "duplicate method (first at line " + std::to_string(prev->second.line) + ")");
          continue;
        }
        entries.push_back(std::move(entry));
      }
    }
    for (const Field& entry : entries) {
      Layer layer{{}, std::nullopt, std::nullopt, entry.path, entry.key.Scalar()};
      parsePolicyBlock(entry, BlockKind::kMethod, layer, config);
      EffectivePolicy base = defaults;
      if (layer.method == "tools/call") {
        base.cache.enabled = false; // as PolicyTable resolves it
      }
      const EffectivePolicy merged = policies::applyOverride(base, layer.value, entry.path);
      checkBackoff(merged, layer, "defaults");
      checkCache(merged, layer);
      config.policies.methods.push_back({entry.key.Scalar(), layer.value});
    }
  }

  // Tools inherit from methods["tools/call"] when it exists; never an enabled cache from defaults.
  EffectivePolicy tools_base = defaults;
  tools_base.cache.enabled = false;
  std::string tools_base_name = "defaults";
  for (const auto& m : config.policies.methods) {
    if (m.method == "tools/call") {
      tools_base = policies::applyOverride(tools_base, m.policy, "methods.tools/call");
      tools_base_name = "methods.tools/call";
    }
  }
  if (auto* f = section("tools")) {
    std::map<std::string, Loc> seen;
    for (const Field& entry : elements(*f, "tool policies")) {
      Layer layer{{}, std::nullopt, std::nullopt, entry.path};
      std::optional<Field> match_field;
      if (!entry.empty() && !entry.value.IsMap()) {
        error(entry.valueLoc(), entry.path,
              "expected a tool policy mapping like {match: get_weather, ...}, got " +
                  describeKind(entry.value));
        continue;
      }
      parsePolicyBlock(entry, BlockKind::kTool, layer, config, &match_field);
      std::optional<std::string> match;
      if (!match_field) {
        error(entry.valueLoc(), entry.path,
              "missing key \"match\" (the tool name or a glob such as \"search_*\")");
      } else {
        match = nonEmptyString(*match_field);
      }
      if (match) {
        if (auto [prev, inserted] = seen.emplace(*match, match_field->valueLoc()); !inserted) {
          error(match_field->valueLoc(), match_field->path,
                "duplicate match " + quoted(*match) + " (first at line " +
                    std::to_string(prev->second.line) + "; only the first would ever apply)");
          match.reset();
        }
      }
      const EffectivePolicy merged = policies::applyOverride(tools_base, layer.value, entry.path);
      checkBackoff(merged, layer, tools_base_name);
      checkCache(merged, layer);
      if (match) {
        config.policies.tools.push_back({*match, layer.value});
      }
    }
  }

  if (!errors_.empty()) {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    return {std::nullopt, std::move(errors_)};
  }
  return {std::move(config), {}};
}

} // namespace

ConfigLoadResult loadConfigString(std::string_view yaml, std::string_view file_name) noexcept {
  try {
    Loader loader{std::string(file_name)};
    return loader.load(yaml);
  } catch (const std::exception& e) {
    ConfigLoadResult result;
    result.errors.push_back({std::string(file_name), 0, 0, "",
                             std::string("cannot load the configuration: ") + e.what()});
    return result;
  } catch (...) {
    ConfigLoadResult result;
    result.errors.push_back(
        {std::string(file_name), 0, 0, "", "cannot load the configuration: unknown error"});
    return result;
  }
}

} // namespace bulwark::config
