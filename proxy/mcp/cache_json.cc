#include "proxy/mcp/cache_json.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/jsonrpc_envelope.h"

namespace bulwark {
namespace {

namespace dom = simdjson::dom;

void appendCanonical(std::string& out, dom::element value);

// An object's members sorted by key, each value canonical; `skip` names a key left out.
void appendSortedObject(std::string& out, dom::object object, std::string_view skip = {}) {
  std::vector<std::pair<std::string_view, dom::element>> members;
  for (const auto field : object) {
    if (skip.empty() || field.key != skip) {
      members.emplace_back(field.key, field.value);
    }
  }
  std::stable_sort(members.begin(), members.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  out.push_back('{');
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    appendJsonString(out, members[i].first);
    out.push_back(':');
    appendCanonical(out, members[i].second);
  }
  out.push_back('}');
}

void appendCanonical(std::string& out, dom::element value) {
  switch (value.type()) {
  case dom::element_type::OBJECT:
    appendSortedObject(out, dom::object(value));
    return;
  case dom::element_type::ARRAY: {
    out.push_back('[');
    bool first = true;
    for (const dom::element item : dom::array(value)) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      appendCanonical(out, item);
    }
    out.push_back(']');
    return;
  }
  default:
    out += simdjson::minify(value);
  }
}

}  // namespace

struct CacheJson::State {
  dom::parser parser;
};

CacheJson::CacheJson() : state_(std::make_unique<State>()) {}
CacheJson::~CacheJson() = default;

std::optional<std::string> CacheJson::canonicalParams(std::string_view message) {
  dom::element root;
  if (state_->parser.parse(message.data(), message.size(), true).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return std::nullopt;
  }
  dom::element params;
  if (root["params"].get(params) != simdjson::SUCCESS) {
    return std::string("{}");
  }
  std::string out;
  if (params.is_object()) {
    appendSortedObject(out, dom::object(params), "_meta");
  } else {
    appendCanonical(out, params);
  }
  return out;
}

std::optional<CacheableResult> CacheJson::successResult(const Envelope& answer,
                                                        std::string_view message) {
  if (answer.kind != MessageKind::kResult || answer.is_error || !answer.result_span.present() ||
      answer.result_span.offset + answer.result_span.length > message.size()) {
    return std::nullopt;
  }
  const std::string_view result = answer.result_span.in(message);
  CacheableResult out;
  out.result_json.resize(result.size());
  std::size_t length = 0;
  if (simdjson::minify(result.data(), result.size(), out.result_json.data(), length) !=
      simdjson::SUCCESS) {
    return std::nullopt;
  }
  out.result_json.resize(length);
  out.ttl_ms = answer.ttl_ms;
  switch (answer.cache_scope) {
  case ResultCacheScope::kPublic: out.cache_scope = "public"; break;
  case ResultCacheScope::kPrivate: out.cache_scope = "private"; break;
  case ResultCacheScope::kNone:
  case ResultCacheScope::kOther: break; // the cache tells only these two apart
  }
  return out;
}

bool CacheJson::canFlag(std::string_view result_json) {
  dom::element result;
  return state_->parser.parse(result_json.data(), result_json.size(), true).get(result) ==
             simdjson::SUCCESS &&
         result.is_object();
}

std::string CacheJson::withMetaFlag(std::string_view result_json, std::string_view flag,
                                    CacheJson& parser) {
  dom::element result;
  if (parser.state_->parser.parse(result_json.data(), result_json.size(), true).get(result) !=
          simdjson::SUCCESS ||
      !result.is_object()) {
    return std::string(result_json);
  }
  std::string out = "{\"_meta\":{";
  dom::element meta;
  bool first = true;
  if (result["_meta"].get(meta) == simdjson::SUCCESS && meta.is_object()) {
    for (const auto field : dom::object(meta)) {
      if (field.key == flag) {
        continue;
      }
      if (!first) {
        out.push_back(',');
      }
      first = false;
      appendJsonString(out, field.key);
      out.push_back(':');
      out += simdjson::minify(field.value);
    }
  }
  if (!first) {
    out.push_back(',');
  }
  appendJsonString(out, flag);
  out += ":true}";
  for (const auto field : dom::object(result)) {
    if (field.key == "_meta") {
      continue;
    }
    out.push_back(',');
    appendJsonString(out, field.key);
    out.push_back(':');
    out += simdjson::minify(field.value);
  }
  out.push_back('}');
  return out;
}

std::string CacheJson::responseFor(std::string_view id_json, std::string_view result_json) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += id_json;
  out += R"(,"result":)";
  out += result_json;
  out.push_back('}');
  return out;
}

}  // namespace bulwark
