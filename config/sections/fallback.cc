// `fallback` in a method or tool policy: a short text or a whole result, converted to JSON text
// at load.
#include "config/sections/sections.h"
#include "proxy/mcp/json_writer.h" // the one JSON string escaper and number grammar

#include <array>
#include <map>

namespace bulwark::config {
namespace {

constexpr int kMaxJsonDepth = 64;

// The YAML value as JSON text; false (with errors recorded) when it cannot be represented.
bool appendJson(Reader& reader, const Field& f, std::string& out, int depth) {
  if (depth > kMaxJsonDepth) {
    reader.error(f.valueLoc(), f.path,
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
      reader.error(f.valueLoc(), f.path, "must be valid UTF-8");
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
      ok = appendJson(reader, element, out, depth + 1) && ok;
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
        reader.error(member.keyLoc(), f.path,
                     "keys must be plain names, got " + describeKind(member.key));
        ok = false;
        continue;
      }
      const std::string& key = member.key.Scalar();
      member.path = f.path + "." + key;
      if (auto [prev, inserted] = seen.emplace(key, member.keyLoc()); !inserted) {
        reader.error(member.keyLoc(), member.path,
                     "duplicate key (first at line " + std::to_string(prev->second.line) + ")");
        ok = false;
        continue;
      }
      if (!policies::isValidUtf8(key)) {
        reader.error(member.keyLoc(), member.path, "keys must be valid UTF-8");
        ok = false;
        continue;
      }
      if (!first) {
        out += ',';
      }
      first = false;
      appendJsonString(out, key);
      out += ':';
      ok = appendJson(reader, member, out, depth + 1) && ok;
    }
    out += '}';
    return ok;
  }
  }
  return false;
}

} // namespace

void readFallback(Reader& reader, const Field& f, PolicyBlock& block) {
  const BlockKind kind = block.kind;
  Layer& layer = block.layer;
  if (kind == kDefaultsBlock) {
    reader.error(
        f.keyLoc(), f.path,
        "a fallback under defaults would answer every method with the same result: set it per "
        "tool (tools: [{match: \"*\", fallback: ...}] for every tool) or per method");
    return;
  }
  const bool tool_call = kind == kToolBlock || layer.method == "tools/call";
  if (f.value.IsScalar()) {
    if (f.value.Scalar() == "false" || f.value.Scalar() == "False" || f.value.Scalar() == "FALSE") {
      layer.value.fallback_off = true;
      return;
    }
    reader.error(f.valueLoc(), f.path,
                 "expected {text: \"...\"}, {result: {...}} or false (no fallback), got " +
                     describeKind(f.value));
    return;
  }
  std::optional<Field> text;
  std::optional<Field> result;
  static constexpr std::array<std::string_view, 2> kForms = {"text", "result"};
  for (const Field& k : reader.fields(f, kForms)) {
    (k.key.Scalar() == "text" ? text : result) = k;
  }
  if (f.empty() || (f.value.IsMap() && !text && !result && f.value.size() == 0)) {
    reader.error(f.valueLoc(), f.path, "expected {text: \"...\"} or {result: {...}}");
    return;
  }
  if (text && result) {
    reader.error(
        result->keyLoc(), result->path,
        "give either text or result, not both (text is the short form of a result with one "
        "text content item)");
    return;
  }
  if (text) {
    if (!tool_call) {
      reader.error(text->keyLoc(), text->path,
                   "a text fallback is a tools/call result (CallToolResult); for " +
                       quoted(layer.method) + " write the whole result under fallback.result");
      return;
    }
    auto value = reader.nonEmptyString(*text);
    if (!value) {
      return;
    }
    if (!policies::isValidUtf8(*value)) {
      reader.error(text->valueLoc(), text->path, "must be valid UTF-8");
      return;
    }
    layer.value.fallback = policies::FallbackSpec::fromText(*value);
    return;
  }
  if (!result) {
    return; // only unknown keys, already reported
  }
  if (!result->value.IsMap()) {
    reader.error(
        result->valueLoc(), result->path,
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
      reader.error(
          member.keyLoc(), member.path,
          "Bulwark adds _meta to a fallback itself ({\"bulwark/fallback\": true}); leave it out");
      ok = false;
    } else if (key == "content") {
      has_content = true;
      if (tool_call && !member.value.IsSequence()) {
        reader.error(member.valueLoc(), member.path,
                     "expected a list of content items, e.g. [{type: text, text: \"...\"}], got " +
                         describeKind(member.value));
        ok = false;
      }
    }
  }
  if (tool_call && !has_content) {
    reader.error(
        result->valueLoc(), result->path,
        "a tools/call result needs content, e.g. {content: [{type: text, text: \"...\"}]}");
    ok = false;
  }
  std::string json;
  if (!appendJson(reader, *result, json, 0) || !ok) {
    return;
  }
  layer.value.fallback = policies::FallbackSpec::fromResultJson(std::move(json));
}

} // namespace bulwark::config
