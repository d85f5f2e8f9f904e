// `upstream`: the MCP server, either an HTTP URL (parsed once into config::UpstreamUrl) or a
// stdio command to spawn, with the keys that apply only to a stdio server.
#include "config/sections/sections.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

namespace bulwark::config {
namespace {

void readUrl(Reader& reader, const Field& k, UpstreamConfig& out) {
  auto url = reader.scalar(k, "a URL");
  if (!url) {
    return;
  }
  std::string lower = url->substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("https://", 0) == 0) {
    reader.error(
        k.valueLoc(), k.path,
        "https upstreams are not supported (Bulwark runs next to the server: use http://)");
    return;
  }
  std::string unused;
  auto parsed = parseUpstreamUrl(*url, unused);
  if (!parsed) {
    reader.error(k.valueLoc(), k.path,
                 "invalid upstream URL " + quoted(*url) + " (use e.g. http://127.0.0.1:3000/mcp)");
    return;
  }
  out.url = std::move(*parsed);
}

void readCommand(Reader& reader, const Field& k, UpstreamConfig& out) {
  if (!k.empty() && !k.value.IsSequence()) {
    reader.error(
        k.valueLoc(), k.path,
        "expected the command as a list, e.g. [npx, -y, @modelcontextprotocol/server-memory]"
        ", got " +
            describeKind(k.value));
    return;
  }
  std::vector<std::string> argv;
  for (const Field& arg : reader.elements(k, "arguments")) {
    if (auto text = reader.nonEmptyString(arg)) {
      argv.push_back(*text);
    }
  }
  if (argv.empty() && k.value.IsSequence() && k.value.size() == 0) {
    reader.error(k.valueLoc(), k.path, "must name a program to run");
  }
  out.command = std::move(argv);
}

void readEnv(Reader& reader, const Field& k, UpstreamConfig& out) {
  if (!k.empty() && !k.value.IsMap()) {
    reader.error(k.valueLoc(), k.path,
                 "expected a mapping of variable names to values, e.g. {MEMORY_FILE_PATH: "
                 "/tmp/memory.jsonl}, got " +
                     describeKind(k.value));
    return;
  }
  if (k.empty()) {
    return;
  }
  for (auto it = k.value.begin(); it != k.value.end(); ++it) {
    Field entry{it->first, it->second, "", k.fallback};
    const std::string key = entry.key.IsScalar() ? entry.key.Scalar() : std::string();
    entry.path = joinPath(k.path, key);
    if (key.empty() || key.find('=') != std::string::npos) {
      reader.error(entry.keyLoc(), entry.path,
                   "environment variable names must be non-empty and contain no '='");
      continue;
    }
    if (auto value = reader.scalar(entry, "a string")) {
      out.env.emplace_back(key, *value);
    }
  }
}

constexpr auto kRestartBackoffKeys = std::to_array<Key<policies::BackoffParams>>({
    {"base", ValueKind::kDuration, positive(),
     [](policies::BackoffParams& b, const Value& v) { b.base = v.duration; }, nullptr,
     [] { return policies::formatDuration(StdioRestartConfig{}.backoff.base); }},
    {"multiplier", ValueKind::kNumber, between(1, 100),
     [](policies::BackoffParams& b, const Value& v) { b.multiplier = v.number; }, nullptr,
     [] { return showNumber(StdioRestartConfig{}.backoff.multiplier); }},
    {"max", ValueKind::kDuration, positive(),
     [](policies::BackoffParams& b, const Value& v) { b.max = v.duration; }, nullptr,
     [] { return policies::formatDuration(StdioRestartConfig{}.backoff.max); }},
});

void readRestartBackoff(Reader& reader, const Field& r, StdioRestartConfig& out) {
  readKeys<policies::BackoffParams>(reader, r, kRestartBackoffKeys, out.backoff);
  if (out.backoff.max < out.backoff.base) {
    reader.error(r.valueLoc(), r.path,
                 "max (" + policies::formatDuration(out.backoff.max) + ") must be at least base (" +
                     policies::formatDuration(out.backoff.base) + ")");
  }
}

constexpr auto kRestartKeys = std::to_array<Key<StdioRestartConfig>>({
    {"backoff", ValueKind::kCustom, Range{}, nullptr, &readRestartBackoff},
    {"max_restarts", ValueKind::kWhole, between(1, 1000),
     [](StdioRestartConfig& r, const Value& v) { r.max_restarts = static_cast<int>(v.whole); },
     nullptr, [] { return std::to_string(StdioRestartConfig{}.max_restarts); }},
    {"stable_after", ValueKind::kDuration, positive(),
     [](StdioRestartConfig& r, const Value& v) { r.stable_after = v.duration; }, nullptr,
     [] { return policies::formatDuration(StdioRestartConfig{}.stable_after); }},
});

// `${NAME}` in a discovery header value is replaced by the environment variable NAME; an unset
// variable is an error (naming the variable, never a value).
std::optional<std::string> expandEnvironment(Reader& reader, const Field& f,
                                             const std::string& text) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t open = text.find("${", at);
    if (open == std::string::npos) {
      out.append(text, at, std::string::npos);
      break;
    }
    const std::size_t close = text.find('}', open + 2);
    if (close == std::string::npos) {
      reader.error(f.valueLoc(), f.path, "unterminated ${ in the value (write ${NAME})");
      return std::nullopt;
    }
    const std::string name = text.substr(open + 2, close - open - 2);
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr) {
      reader.error(f.valueLoc(), f.path, "environment variable " + quoted(name) + " is not set");
      return std::nullopt;
    }
    out.append(text, at, open - at);
    out += value;
    at = close + 1;
  }
  if (out.find_first_of("\r\n") != std::string::npos) {
    reader.error(f.valueLoc(), f.path, "a header value must not contain a line break");
    return std::nullopt;
  }
  return out;
}

bool isHeaderName(const std::string& name) {
  static constexpr std::string_view kTokenChars = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || kTokenChars.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

void readDiscoveryHeaders(Reader& reader, const Field& k, DiscoveryConfig& out) {
  if (!k.empty() && !k.value.IsMap()) {
    reader.error(k.valueLoc(), k.path,
                 "expected a mapping of header names to values, e.g. {Authorization: \"Bearer "
                 "${MCP_TOKEN}\"}, got " +
                     describeKind(k.value));
    return;
  }
  if (k.empty()) {
    return;
  }
  for (auto it = k.value.begin(); it != k.value.end(); ++it) {
    Field entry{it->first, it->second, "", k.fallback};
    const std::string name = entry.key.IsScalar() ? entry.key.Scalar() : std::string();
    entry.path = joinPath(k.path, name);
    if (!isHeaderName(name)) {
      reader.error(entry.keyLoc(), entry.path, "not a valid HTTP header name");
      continue;
    }
    if (auto text = reader.scalar(entry, "a string")) {
      if (auto value = expandEnvironment(reader, entry, *text)) {
        out.headers.emplace_back(name, std::move(*value));
      }
    }
  }
}

constexpr auto kDiscoveryKeys = std::to_array<Key<DiscoveryConfig>>({
    {"enabled", ValueKind::kBool, Range{},
     [](DiscoveryConfig& d, const Value& v) { d.enabled = v.flag; }, nullptr,
     [] { return showBool(DiscoveryConfig{}.enabled); }},
    {"at_start", ValueKind::kBool, Range{},
     [](DiscoveryConfig& d, const Value& v) { d.at_start = v.flag; }, nullptr,
     [] { return showBool(DiscoveryConfig{}.at_start); }},
    {"interval", ValueKind::kDuration, Range{1000, 7 * 24 * 3600 * 1000.0, false,
                                              "must be at least 1s", "must be at most 7d"},
     [](DiscoveryConfig& d, const Value& v) { d.interval = v.duration; }, nullptr,
     [] { return policies::formatDuration(DiscoveryConfig{}.interval); }},
    {"headers", ValueKind::kCustom, Range{}, nullptr, &readDiscoveryHeaders},
});

// Keys that apply to an HTTP upstream too; every other key needs `command`.
constexpr std::array<std::string_view, 4> kAnyUpstreamKeys = {"url", "connect_timeout", "command",
                                                              "discovery"};

constexpr auto kUpstreamKeys = std::to_array<Key<UpstreamConfig>>({
    {"url", ValueKind::kCustom, Range{}, nullptr, &readUrl},
    {"connect_timeout", ValueKind::kDuration, positive(),
     [](UpstreamConfig& u, const Value& v) { u.connect_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(UpstreamConfig{}.connect_timeout); }},
    {"command", ValueKind::kCustom, Range{}, nullptr, &readCommand},
    {"env", ValueKind::kCustom, Range{}, nullptr, &readEnv},
    {"cwd", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, UpstreamConfig& u) {
       if (auto text = reader.nonEmptyString(f)) {
         u.cwd = *text;
       }
     }},
    {"restart", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, UpstreamConfig& u) {
       readKeys<StdioRestartConfig>(reader, f, kRestartKeys, u.restart);
     }},
    {"stop_timeout", ValueKind::kDuration, positive(),
     [](UpstreamConfig& u, const Value& v) { u.stop_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(UpstreamConfig{}.stop_timeout); }},
    {"session_idle_timeout", ValueKind::kDuration, positive(),
     [](UpstreamConfig& u, const Value& v) { u.session_idle_timeout = v.duration; }, nullptr,
     [] { return policies::formatDuration(UpstreamConfig{}.session_idle_timeout); }},
    {"max_sessions", ValueKind::kWhole, between(1, 100000),
     [](UpstreamConfig& u, const Value& v) { u.max_sessions = static_cast<std::size_t>(v.whole); },
     nullptr, [] { return std::to_string(UpstreamConfig{}.max_sessions); }},
    {"discovery", ValueKind::kCustom, Range{}, nullptr,
     [](Reader& reader, const Field& f, UpstreamConfig& u) {
       readKeys<DiscoveryConfig>(reader, f, kDiscoveryKeys, u.discovery);
     }},
});

} // namespace

void readUpstream(Reader& reader, const Field& f, UpstreamConfig& out) {
  const std::vector<KeyRead> reads = readKeys<UpstreamConfig>(reader, f, kUpstreamKeys, out);
  const KeyRead* url_at = nullptr;
  const KeyRead* command_at = nullptr;
  for (const KeyRead& r : reads) {
    const std::string name = r.field.key.Scalar();
    url_at = name == "url" ? &r : url_at;
    command_at = name == "command" ? &r : command_at;
  }
  if (url_at && command_at) {
    const Field& later = url_at->field.keyLoc().line > command_at->field.keyLoc().line
                             ? url_at->field
                             : command_at->field;
    reader.error(later.keyLoc(), later.path,
                 "give either upstream.url (an HTTP server) or upstream.command (a stdio server "
                 "to spawn), not both");
  }
  if (!command_at) {
    for (const KeyRead& r : reads) {
      const std::string name = r.field.key.Scalar();
      if (std::find(kAnyUpstreamKeys.begin(), kAnyUpstreamKeys.end(), name) ==
          kAnyUpstreamKeys.end()) {
        reader.error(r.field.keyLoc(), r.field.path,
                     "applies only to a stdio server: set upstream.command too");
      }
    }
  }
}

void appendUpstreamKeys(std::vector<KeyInfo>& out) {
  appendKeyInfo<UpstreamConfig>(out, "upstream.", kUpstreamKeys);
  appendKeyInfo<StdioRestartConfig>(out, "upstream.restart.", kRestartKeys);
  appendKeyInfo<policies::BackoffParams>(out, "upstream.restart.backoff.", kRestartBackoffKeys);
  appendKeyInfo<DiscoveryConfig>(out, "upstream.discovery.", kDiscoveryKeys);
}

} // namespace bulwark::config
