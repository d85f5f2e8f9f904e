// YAML -> Config: the top level of the document. Each section is read by its own file under
// config/sections/ against its key table (config/key_table.h); this file orders them (the
// FastMCP-style error_handling block before defaults, defaults before methods and tools) and
// checks each resolved policy, which policies::PolicyTable alone resolves. yaml-cpp types and
// exceptions stay in config/.
#include "config/config.h"
#include "config/sections/sections.h"
#include "config/yaml_stall.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace bulwark::config {
namespace {

using policies::EffectivePolicy;
using policies::formatDuration;

void checkBackoff(Reader& reader, const EffectivePolicy& merged, const Layer& layer,
                  std::string_view inherited_from) {
  const auto& b = merged.retry.backoff;
  if (b.max >= b.base) {
    return;
  }
  if (layer.max_at) {
    reader.error(layer.max_at->valueLoc(), layer.max_at->path,
                 "backoff max (" + formatDuration(b.max) + ") is less than base (" +
                     formatDuration(b.base) +
                     (layer.base_at ? std::string(")")
                                    : ", inherited from " + std::string(inherited_from) + ")"));
  } else if (layer.base_at) {
    reader.error(layer.base_at->valueLoc(), layer.base_at->path,
                 "backoff base (" + formatDuration(b.base) + ") is greater than max (" +
                     formatDuration(b.max) + ", inherited from " + std::string(inherited_from) +
                     "): raise backoff.max too");
  }
}

void checkCache(Reader& reader, const EffectivePolicy& merged, const Layer& layer) {
  if (!layer.cache_at || !merged.cache.enabled) {
    return;
  }
  if (merged.cache.ttl.count() == 0 && merged.cache.stale_if_error.count() == 0) {
    reader.error(
        layer.cache_at->valueLoc(), layer.cache_at->path,
        "the cache is enabled but ttl and stale_if_error are both 0s: set ttl (answers served "
        "without asking the upstream) or stale_if_error (answers kept for recovery)");
  }
}

// The top-level keys, kept for the loader to read in dependency order.
struct TopLevel {
  std::map<std::string, Field> sections;

  const Field* find(const char* name) const {
    auto it = sections.find(name);
    return it == sections.end() ? nullptr : &it->second;
  }
};

void keepSection(Reader&, const Field& f, TopLevel& top) { top.sections.emplace(f.name(), f); }

constexpr auto kTopLevelKeys = std::to_array<Key<TopLevel>>({
    {"listen", ValueKind::kCustom, Range{}, nullptr, &keepSection,
     [] { return Config{}.listen.text(); }},
    {"admin", ValueKind::kCustom, Range{}, nullptr, &keepSection,
     [] { return Config{}.admin.text(); }},
    {"upstream", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"cache", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"defaults", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"tools", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"methods", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"error_handling", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"monitoring", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"limits", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"sessions", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"security", ValueKind::kCustom, Range{}, nullptr, &keepSection},
    {"shared_state", ValueKind::kCustom, Range{}, nullptr, &keepSection},
});

// The global defaults: built-in <- error_handling <- defaults. `defaults` wins where both say
// something. error_handling.retry_delay raises the built-in backoff max when it exceeds it,
// since that block has no notion of a cap.
void readDefaults(Reader& reader, const TopLevel& top, Config& config) {
  Layer seed{{}, std::nullopt, std::nullopt, "error_handling"};
  if (const Field* f = top.find("error_handling")) {
    readErrorHandling(reader, *f, seed, config);
  }
  Layer defaults_layer{{}, std::nullopt, std::nullopt, "defaults"};
  if (const Field* f = top.find("defaults")) {
    PolicyBlock block{kDefaultsBlock, defaults_layer, config, nullptr};
    readPolicyBlock(reader, *f, block);
  }
  EffectivePolicy defaults;
  defaults.trust_tool_annotations = config.policies.defaults.trust_tool_annotations;
  if (seed.value.retry.base && *seed.value.retry.base > defaults.retry.backoff.max) {
    seed.value.retry.max = *seed.value.retry.base;
  }
  defaults = policies::applyOverride(defaults, seed.value, "defaults");
  defaults = policies::applyOverride(defaults, defaults_layer.value, "defaults");
  Layer combined = defaults_layer;
  if (!combined.base_at) {
    combined.base_at = seed.base_at;
  }
  checkBackoff(reader, defaults, combined, "the built-in default");
  checkCache(reader, defaults, defaults_layer);
  config.policies.defaults = defaults;
}

std::vector<Layer> readMethods(Reader& reader, const Field* f, Config& config) {
  std::vector<Layer> layers;
  if (f == nullptr) {
    return layers;
  }
  std::vector<Field> entries;
  if (!f->empty() && !f->value.IsMap()) {
    reader.error(f->valueLoc(), f->path,
                 "expected a mapping of method names to policies, e.g. "
                 "{resources/read: {retry: {max_attempts: 4}}}, got " +
                     describeKind(f->value));
  } else if (!f->empty()) {
    std::map<std::string, Loc> seen;
    for (auto it = f->value.begin(); it != f->value.end(); ++it) {
      Field entry{it->first, it->second, "", f->fallback};
      if (!entry.key.IsScalar() || entry.key.Scalar().empty()) {
        reader.error(entry.keyLoc(), f->path, "method names must be non-empty strings");
        continue;
      }
      entry.path = joinPath(f->path, entry.key.Scalar());
      if (auto [prev, inserted] = seen.emplace(entry.key.Scalar(), entry.keyLoc()); !inserted) {
        reader.error(entry.keyLoc(), entry.path,
                     "duplicate method (first at line " + std::to_string(prev->second.line) + ")");
        continue;
      }
      entries.push_back(std::move(entry));
    }
  }
  for (const Field& entry : entries) {
    Layer layer{{}, std::nullopt, std::nullopt, entry.path, entry.key.Scalar()};
    PolicyBlock block{kMethodBlock, layer, config, nullptr};
    readPolicyBlock(reader, entry, block);
    config.policies.methods.push_back({entry.key.Scalar(), layer.value});
    layers.push_back(std::move(layer));
  }
  return layers;
}

// Every tools[] entry that was read as a policy block, with or without a valid match (its
// resolved policy is checked either way).
std::vector<Layer> readTools(Reader& reader, const Field* f, Config& config) {
  std::vector<Layer> layers;
  if (f == nullptr) {
    return layers;
  }
  std::map<std::string, Loc> seen;
  for (const Field& entry : reader.elements(*f, "tool policies")) {
    Layer layer{{}, std::nullopt, std::nullopt, entry.path};
    std::optional<Field> match_field;
    if (!entry.empty() && !entry.value.IsMap()) {
      reader.error(entry.valueLoc(), entry.path,
                   "expected a tool policy mapping like {match: get_weather, ...}, got " +
                       describeKind(entry.value));
      continue;
    }
    PolicyBlock block{kToolBlock, layer, config, &match_field};
    readPolicyBlock(reader, entry, block);
    std::optional<std::string> match;
    if (!match_field) {
      reader.error(entry.valueLoc(), entry.path,
                   "missing key \"match\" (the tool name or a glob such as \"search_*\")");
    } else {
      match = reader.nonEmptyString(*match_field);
    }
    if (match) {
      if (auto [prev, inserted] = seen.emplace(*match, match_field->valueLoc()); !inserted) {
        reader.error(match_field->valueLoc(), match_field->path,
                     "duplicate match " + quoted(*match) + " (first at line " +
                         std::to_string(prev->second.line) + "; only the first would ever apply)");
        match.reset();
      }
    }
    if (match) {
      config.policies.tools.push_back({*match, layer.value});
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

// Checks every method and tool layer on the policy it resolves to, as policies::PolicyTable
// resolves it. Tool layers get a private exact name each ("\x01" and their index: no tool name
// and no glob), so also a layer without a valid match is resolved and checked.
void checkResolved(Reader& reader, const Config& config, const std::vector<Layer>& methods,
                   const std::vector<Layer>& tools) {
  policies::PolicySet set;
  set.defaults = config.policies.defaults;
  set.methods = config.policies.methods;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    set.tools.push_back({"\x01" + std::to_string(i), tools[i].value});
  }
  const policies::PolicyTable table(set);
  for (const Layer& layer : methods) {
    const EffectivePolicy& merged = layer.method == "tools/call"
                                        ? table.policyFor("tools/call", "\x02")
                                        : table.policyFor(layer.method);
    checkBackoff(reader, merged, layer, "defaults");
    checkCache(reader, merged, layer);
  }
  const bool tools_call_rule = std::any_of(methods.begin(), methods.end(), [](const Layer& layer) {
    return layer.method == "tools/call";
  });
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const EffectivePolicy& merged = table.policyFor("tools/call", "\x01" + std::to_string(i));
    checkBackoff(reader, merged, tools[i], tools_call_rule ? "methods.tools/call" : "defaults");
    checkCache(reader, merged, tools[i]);
  }
}

ConfigLoadResult load(std::string_view text, std::string file) {
  Reader reader(file);
  Config config;
  config.source = file;
  std::vector<YAML::Node> documents;
  if (const std::optional<YamlStall> stall = findYamlStall(text)) {
    reader.error(Loc{stall->line, stall->column}, "",
                 "YAML syntax error: unexpected content here (e.g. a stray ',' outside a flow "
                 "collection)");
    return {std::nullopt, std::move(reader.errors())};
  }
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::ParserException& e) {
    const bool has_mark = !e.mark.is_null() && e.mark.line >= 0;
    reader.error(has_mark ? Loc{e.mark.line + 1, e.mark.column + 1} : Loc{}, "",
                 "YAML syntax error: " + e.msg);
    return {std::nullopt, std::move(reader.errors())};
  }
  if (documents.size() > 1) {
    reader.error(locOf(documents[1]), "",
                 "expected one YAML document, found " + std::to_string(documents.size()));
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  const Field root_field{YAML::Node(YAML::NodeType::Undefined), root, "", Loc{1, 1}};

  TopLevel top;
  readKeys<TopLevel>(reader, root_field, kTopLevelKeys, top);
  if (const Field* f = top.find("listen")) {
    readAddress(reader, *f, config.listen);
  }
  if (const Field* f = top.find("admin")) {
    readAddress(reader, *f, config.admin);
  }
  if (const Field* f = top.find("upstream")) {
    readUpstream(reader, *f, config.upstream);
  }
  if (const Field* f = top.find("monitoring")) {
    readMonitoring(reader, *f, config.monitoring);
  }
  if (const Field* f = top.find("cache")) {
    readCacheStore(reader, *f, config);
  }
  if (const Field* f = top.find("limits")) {
    readLimits(reader, *f, config.limits);
  }
  if (const Field* f = top.find("sessions")) {
    readSessions(reader, *f, config.sessions);
  }
  if (const Field* f = top.find("security")) {
    readSecurity(reader, *f, config.security);
  }
  if (const Field* f = top.find("shared_state")) {
    SharedStateConfig shared;
    readSharedState(reader, *f, config, shared);
    config.shared_state = std::move(shared);
  }
  readDefaults(reader, top, config);
  const std::vector<Layer> methods = readMethods(reader, top.find("methods"), config);
  const std::vector<Layer> tools = readTools(reader, top.find("tools"), config);
  checkResolved(reader, config, methods, tools);

  std::vector<ConfigError>& errors = reader.errors();
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return {std::nullopt, std::move(errors)};
  }
  return {std::move(config), {}};
}

} // namespace

std::vector<KeyInfo> allKeys() {
  std::vector<KeyInfo> out;
  appendKeyInfo<TopLevel>(out, "", std::span<const Key<TopLevel>>(kTopLevelKeys).first(2));
  appendUpstreamKeys(out);
  appendCacheKeys(out, "cache.", true);
  appendPolicyKeys(out, "defaults.", kDefaultsBlock);
  appendPolicyKeys(out, "tools[].", kToolBlock);
  appendPolicyKeys(out, "methods.<name>.", kMethodBlock);
  appendErrorHandlingKeys(out);
  appendMonitoringKeys(out);
  appendLimitsKeys(out);
  appendSessionsKeys(out);
  appendSecurityKeys(out);
  appendSharedStateKeys(out);
  return out;
}

ConfigLoadResult loadConfigString(std::string_view yaml, std::string_view file_name) noexcept {
  try {
    return load(yaml, std::string(file_name));
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
