#include "proxy/mcp/jsonrpc_envelope.h"

#include "proxy/mcp/json_writer.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <simdjson.h>
#include <utility>

namespace bulwark {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// simdjson's On-Demand front end is used rather than its DOM because the DOM rejects the whole
// document when any number does not fit 64 bits (an RFC 8259-valid `123456789012345678901234567890`
// deep inside a tool result would turn a good reply into a protocol error). The walk below visits
// every value anyway, so the document is fully validated, and numbers are checked against the
// JSON grammar without being converted.
//
// On-Demand does not report nesting beyond its parser's max_depth (1024 by default; it asserts in
// debug builds), and the walk recurses, so depth is limited here, a little below that.
constexpr int kMaxDepth = 1000;
static_assert(kMaxDepth < static_cast<int>(simdjson::DEFAULT_MAX_DEPTH));

constexpr const char* kDepthDetail = "JSON nested deeper than 1000 levels";

std::string_view trimTrailingSpace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The token's text including any whitespace after it; value and document spell this differently.
error_code rawToken(od::value& value, std::string_view& out) {
  out = value.raw_json_token();
  return simdjson::SUCCESS;
}
error_code rawToken(od::document& doc, std::string_view& out) {
  return doc.raw_json_token().get(out);
}

// A key test that first looks at the first byte, so that a key of the same length (`arguments`
// and `requestId`) costs no memcmp. For the members only some messages carry.
bool keyIs(std::string_view key, std::string_view name) {
  return key.size() == name.size() && key.front() == name.front() && key == name;
}

// One member the envelope cares about, as seen during the walk. The views point into the padded
// input or the parser's string buffer and stay valid until the next parse.
struct Member {
  int count = 0; // how often the key occurred in its object; more than once is refused
  od::json_type type = od::json_type::null;
  std::string_view raw;  // the token's text, for scalars
  std::string_view text; // the unescaped value, for strings

  bool present() const { return count > 0; }
  bool isString() const { return present() && type == od::json_type::string; }
};

// One element of result.tools (a tools/list result).
struct ToolMembers {
  Member name;
  Member annotations;
  Member read_only;  // annotations.readOnlyHint
  Member idempotent; // annotations.idempotentHint
};

// Everything read from one top-level object.
struct MessageMembers {
  Member jsonrpc, method, id, params, result, error;
  Member tool_name;      // params.name
  Member meta;           // params._meta
  Member progress_token; // params._meta.progressToken
  Member params_progress_token; // params.progressToken (notifications/progress)
  Member request_id;     // params.requestId (notifications/cancelled)
  Member is_error;       // result.isError
  Member code;           // error.code
  Member message;        // error.message
  Member ttl_ms;         // result.ttlMs
  Member cache_scope;    // result.cacheScope
  Member next_cursor;    // result.nextCursor
  Member protocol_version; // result.protocolVersion
  std::string_view result_text; // the whole result value, when an object
  std::vector<ToolMembers> tools; // result.tools[]
};

// Visits every value of a document, validating it, and records the members named in
// MessageMembers. Syntax errors stop the walk at once; whether the message makes sense is judged
// afterwards from the recorded members, so a syntax error later in the text still wins.
class Walker {
public:
  // `value` is at nesting level `depth` (the root is level 1).
  error_code skip(od::value value, int depth) {
    od::json_type type{};
    if (auto err = value.type().get(type))
      return err;
    switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto err = enter(value.get_object().get(object), depth))
        return err;
      return forEachMember(
          object, [&](std::string_view, od::value child) { return skip(child, depth + 1); });
    }
    case od::json_type::array: {
      od::array array;
      if (auto err = enter(value.get_array().get(array), depth))
        return err;
      for (auto element : array) {
        od::value child;
        if (auto err = element.get(child))
          return err;
        if (auto err2 = skip(child, depth + 1))
          return err2;
      }
      return simdjson::SUCCESS;
    }
    default: {
      Member ignored;
      return scalar(value, type, ignored);
    }
    }
  }

  // Records `value` into `member`; containers are validated, and an object is handed to
  // `on_object` so that its own members can be recorded.
  template <typename OnObject>
  error_code record(od::value value, int depth, Member& member, OnObject&& on_object) {
    if (++member.count > 1)
      repeated_ = true;
    if (auto err = value.type().get(member.type))
      return err;
    if (member.type == od::json_type::object) {
      od::object object;
      if (auto err = enter(value.get_object().get(object), depth))
        return err;
      return on_object(object);
    }
    if (member.type == od::json_type::array)
      return skip(value, depth);
    return scalar(value, member.type, member);
  }

  error_code record(od::value value, int depth, Member& member) {
    return record(value, depth, member, [&](od::object object) {
      return forEachMember(
          object, [&](std::string_view, od::value child) { return skip(child, depth + 1); });
    });
  }

  // The members of one top-level message object at nesting level `depth`.
  error_code message(od::object object, int depth, MessageMembers& m) {
    const int inner = depth + 1;
    return forEachMember(object, [&](std::string_view key, od::value value) -> error_code {
      if (key == "jsonrpc")
        return record(value, inner, m.jsonrpc);
      if (key == "method")
        return record(value, inner, m.method);
      if (key == "id")
        return record(value, inner, m.id);
      if (key == "params") {
        return record(value, inner, m.params, [&](od::object params) {
          return forEachMember(params, [&](std::string_view k, od::value v) -> error_code {
            if (k == "name")
              return record(v, inner + 1, m.tool_name);
            if (keyIs(k, "progressToken"))
              return record(v, inner + 1, m.params_progress_token);
            if (keyIs(k, "requestId"))
              return record(v, inner + 1, m.request_id);
            if (k == "_meta") {
              return record(v, inner + 1, m.meta, [&](od::object meta) {
                return forEachMember(meta, [&](std::string_view k2, od::value v2) -> error_code {
                  if (k2 == "progressToken")
                    return record(v2, inner + 2, m.progress_token);
                  return skip(v2, inner + 2);
                });
              });
            }
            return skip(v, inner + 1);
          });
        });
      }
      if (key == "result") {
        const char* start = value.raw_json_token().data();
        const error_code err = record(value, inner, m.result, [&](od::object result) {
          return forEachMember(result, [&](std::string_view k, od::value v) -> error_code {
            if (k == "isError")
              return record(v, inner + 1, m.is_error);
            if (k == "tools")
              return tools(v, inner + 1, m.tools);
            if (keyIs(k, "ttlMs"))
              return record(v, inner + 1, m.ttl_ms);
            if (keyIs(k, "cacheScope"))
              return record(v, inner + 1, m.cache_scope);
            if (k == "nextCursor")
              return record(v, inner + 1, m.next_cursor);
            if (k == "protocolVersion")
              return record(v, inner + 1, m.protocol_version);
            return skip(v, inner + 1);
          });
        });
        // The walk now stands on the token after the result (',' or '}').
        const char* end = nullptr;
        if (!err && doc_ != nullptr && !doc_->current_location().get(end) && end > start)
          m.result_text = trimTrailingSpace(std::string_view(start, end - start));
        return err;
      }
      if (key == "error") {
        return record(value, inner, m.error, [&](od::object error) {
          return forEachMember(error, [&](std::string_view k, od::value v) -> error_code {
            if (k == "code")
              return record(v, inner + 1, m.code);
            if (k == "message")
              return record(v, inner + 1, m.message);
            return skip(v, inner + 1);
          });
        });
      }
      return skip(value, inner);
    });
  }

  // result.tools of a tools/list result at level `depth`: each tool's name and hints.
  error_code tools(od::value value, int depth, std::vector<ToolMembers>& out) {
    od::json_type type{};
    if (auto err = value.type().get(type))
      return err;
    if (type != od::json_type::array)
      return skip(value, depth);
    od::array array;
    if (auto err = enter(value.get_array().get(array), depth))
      return err;
    for (auto element : array) {
      od::value tool;
      if (auto err = element.get(tool))
        return err;
      ToolMembers& hints = out.emplace_back();
      Member whole;
      auto on_tool = [&](od::object object) {
        return forEachMember(object, [&](std::string_view k, od::value v) -> error_code {
          if (k == "name")
            return record(v, depth + 2, hints.name);
          if (k != "annotations")
            return skip(v, depth + 2);
          return record(v, depth + 2, hints.annotations, [&](od::object annotations) {
            return forEachMember(annotations, [&](std::string_view k2, od::value v2) -> error_code {
              if (k2 == "readOnlyHint")
                return record(v2, depth + 3, hints.read_only);
              if (k2 == "idempotentHint")
                return record(v2, depth + 3, hints.idempotent);
              return skip(v2, depth + 3);
            });
          });
        });
      };
      if (auto err = record(tool, depth + 1, whole, on_tool))
        return err;
    }
    return simdjson::SUCCESS;
  }

  // Validates a scalar whose type is known and records its text. `Value` is od::value, or
  // od::document for a scalar at the root.
  template <typename Value>
  static error_code scalar(Value& value, od::json_type type, Member& member) {
    std::string_view raw;
    if (auto err = rawToken(value, raw))
      return err;
    member.raw = trimTrailingSpace(raw);
    switch (type) {
    case od::json_type::string:
      // Every string is consumed, never left for simdjson to skip: its skipping takes a string
      // followed by ':' for a key and would accept `{"a":"b":1}`. Without a backslash the token
      // is the text (stage 1 has checked its UTF-8 and control characters), so the cheaper
      // consuming call will do; otherwise unescaping is what checks the escapes.
      if (member.raw.size() >= 2 && member.raw.back() == '"' &&
          member.raw.find('\\') == std::string_view::npos) {
        od::raw_json_string consumed;
        if (auto err = value.get_raw_json_string().get(consumed))
          return err;
        member.text = member.raw.substr(1, member.raw.size() - 2);
        return simdjson::SUCCESS;
      }
      return value.get_string().get(member.text);
    case od::json_type::number:
      return isJsonNumber(member.raw) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    case od::json_type::boolean:
      return member.raw == "true" || member.raw == "false" ? simdjson::SUCCESS
                                                           : simdjson::T_ATOM_ERROR;
    case od::json_type::null:
      return member.raw == "null" ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    default:
      return simdjson::INCORRECT_TYPE;
    }
  }

  bool depthExceeded() const { return depth_exceeded_; }
  // Whether any recorded member occurred twice in its object (since this walker began).
  bool sawRepeatedMember() const { return repeated_; }
  // The document being walked, to find where a value ends.
  void setDocument(od::document* doc) { doc_ = doc; }

private:
  // Checks the depth before the walk descends into a container at level `depth`.
  error_code enter(error_code got, int depth) {
    if (got)
      return got;
    if (depth > kMaxDepth) {
      depth_exceeded_ = true;
      return simdjson::DEPTH_ERROR;
    }
    return simdjson::SUCCESS;
  }

  template <typename OnMember>
  static error_code forEachMember(od::object& object, OnMember&& on_member) {
    for (auto field : object) {
      od::field member;
      if (auto err = std::move(field).get(member))
        return err;
      std::string_view key;
      if (auto err = member.unescaped_key().get(key))
        return err;
      if (auto err = on_member(key, member.value()))
        return err;
    }
    return simdjson::SUCCESS;
  }

  bool depth_exceeded_ = false;
  bool repeated_ = false;
  od::document* doc_ = nullptr;
};

bool isIdType(od::json_type type) {
  return type == od::json_type::string || type == od::json_type::number ||
         type == od::json_type::null;
}

std::optional<std::int64_t> toInt64(std::string_view number) {
  std::int64_t out = 0;
  const char* end = number.data() + number.size();
  auto [ptr, ec] = std::from_chars(number.data(), end, out);
  if (ec != std::errc() || ptr != end)
    return std::nullopt; // fractions, exponents, overflow
  return out;
}

// Builds the envelope from what the walk recorded. Returns why the object is not a JSON-RPC 2.0
// message, or an empty string. The envelope is filled as far as possible even then, so that an
// error reply can echo the id.
// The ids most clients send (a small non-negative integer, a string without escapes) are their
// own canonical text; anything else goes to canonicalIdText.
bool isPlainId(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '"')
    return raw.find('\\') == std::string_view::npos;
  if (raw.empty() || raw.size() > 18 || (raw.front() == '0' && raw.size() > 1))
    return false;
  for (const char c : raw) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

// The span of a recorded scalar within the text that starts at `base`.
JsonSpan spanOf(const Member& member, const char* base) {
  if (!member.present() || member.type == od::json_type::object ||
      member.type == od::json_type::array || member.raw.empty()) {
    return {};
  }
  return {static_cast<std::size_t>(member.raw.data() - base), member.raw.size()};
}

bool isTokenType(const Member& member) {
  return member.type == od::json_type::string || member.type == od::json_type::number;
}

std::string assemble(const MessageMembers& m, const char* base, bool repeated, Envelope& out) {
  if (m.id.present() && isTokenType(m.id))
    out.id_span = spanOf(m.id, base);
  const Member& token = m.progress_token.present() ? m.progress_token : m.params_progress_token;
  if (token.present() && isTokenType(token))
    out.progress_token_span = spanOf(token, base);
  if (m.request_id.present() && m.request_id.type != od::json_type::null)
    out.request_id_span = spanOf(m.request_id, base);
  // The kind of a message that is refused is still known where it can be (a lenient reader,
  // e.g. the stdio bridge, routes on it).
  if (!m.method.present())
    out.kind = m.result.present() ? MessageKind::kResult
               : m.error.present() ? MessageKind::kError
                                   : out.kind;
  if (m.id.present() && isIdType(m.id.type)) {
    out.id = std::string(m.id.raw);
    if (!isPlainId(m.id.raw)) {
      if (std::optional<std::string> key = canonicalIdText(m.id.raw))
        out.id_key = std::move(*key);
    }
  }
  if (m.method.isString())
    out.method = std::string(m.method.text);

  // A repeated member is refused rather than resolved: parsers disagree on which copy wins
  // (JavaScript takes the last), and the proxy must route on the same one the server executes.
  // The walk notes whether any member repeated, so the usual message skips the table.
  if (repeated) {
    const std::pair<const Member*, const char*> members[] = {
        {&m.jsonrpc, "\"jsonrpc\""},
        {&m.method, "\"method\""},
        {&m.id, "\"id\""},
        {&m.params, "\"params\""},
        {&m.result, "\"result\""},
        {&m.error, "\"error\""},
        {&m.tool_name, "\"params.name\""},
        {&m.meta, "\"params._meta\""},
        {&m.progress_token, "\"params._meta.progressToken\""},
        {&m.is_error, "\"result.isError\""},
        {&m.code, "\"error.code\""},
        {&m.message, "\"error.message\""},
    };
    for (const auto& [member, name] : members) {
      if (member->count > 1)
        return std::string("duplicate ") + name + " member";
    }
  }

  if (!m.jsonrpc.present())
    return "missing \"jsonrpc\": \"2.0\"";
  if (!m.jsonrpc.isString() || m.jsonrpc.text != "2.0")
    return "\"jsonrpc\" must be \"2.0\"";
  if (m.id.present() && !isIdType(m.id.type))
    return "\"id\" must be a string, number or null";

  if (m.method.present()) {
    if (m.result.present() || m.error.present()) {
      return "\"method\" together with \"result\" or \"error\"";
    }
    if (!m.method.isString())
      return "\"method\" must be a string";
    if (m.params.present() && m.params.type != od::json_type::object &&
        m.params.type != od::json_type::array) {
      return "\"params\" must be an object or an array";
    }
    out.kind = m.id.present() ? MessageKind::kRequest : MessageKind::kNotification;
    // MCP narrows JSON-RPC here: a request's id must not be null.
    if (m.id.present() && m.id.type == od::json_type::null)
      return "request \"id\" is null";
    if (out.method == "tools/call" && m.tool_name.isString())
      out.tool = std::string(m.tool_name.text);
    // Any request may ask for progress; MCP allows a string or a number as the token.
    if (m.progress_token.present() && (m.progress_token.type == od::json_type::string ||
                                       m.progress_token.type == od::json_type::number)) {
      out.progress_token = std::string(m.progress_token.raw);
    }
    return {};
  }

  if (m.result.present() && m.error.present())
    return "both \"result\" and \"error\"";
  if (!m.result.present() && !m.error.present()) {
    return "missing \"method\", \"result\" or \"error\"";
  }
  if (!m.id.present())
    return "response without \"id\"";

  if (m.result.present()) {
    out.kind = MessageKind::kResult;
    if (m.id.type == od::json_type::null)
      return "result \"id\" is null";
    out.is_error = m.is_error.present() && m.is_error.type == od::json_type::boolean &&
                   m.is_error.raw == "true";
    if (m.result.type == od::json_type::object && !m.result_text.empty()) {
      out.result_span = {static_cast<std::size_t>(m.result_text.data() - base),
                         m.result_text.size()};
    }
    if (m.ttl_ms.count == 1 && m.ttl_ms.type == od::json_type::number) {
      const std::optional<std::int64_t> ttl = toInt64(m.ttl_ms.raw);
      if (ttl && *ttl >= 0)
        out.ttl_ms = ttl;
    }
    if (m.cache_scope.count == 1 && m.cache_scope.isString()) {
      out.cache_scope = m.cache_scope.text == "public"    ? ResultCacheScope::kPublic
                        : m.cache_scope.text == "private" ? ResultCacheScope::kPrivate
                                                          : ResultCacheScope::kOther;
    }
    if (m.next_cursor.count == 1 && m.next_cursor.isString())
      out.next_cursor = std::string(m.next_cursor.text);
    if (m.protocol_version.count == 1 && m.protocol_version.isString())
      out.protocol_version = std::string(m.protocol_version.text);
    // A hint counts only when given once, as a boolean; anything else is no evidence.
    const auto hint = [](const Member& member) -> std::optional<bool> {
      if (member.count != 1 || member.type != od::json_type::boolean)
        return std::nullopt;
      return member.raw == "true";
    };
    for (const ToolMembers& tool : m.tools) {
      if (tool.name.count == 1 && tool.name.isString())
        out.tools.push_back(
            {std::string(tool.name.text), hint(tool.read_only), hint(tool.idempotent)});
    }
    return {};
  }

  out.kind = MessageKind::kError;
  if (m.error.type != od::json_type::object)
    return "\"error\" must be an object";
  if (m.message.isString())
    out.error_message = std::string(m.message.text);
  if (m.code.present() && m.code.type == od::json_type::number)
    out.error_code = toInt64(m.code.raw);
  if (!out.error_code)
    return "\"error.code\" must be an integer";
  // error.message is required by JSON-RPC, but a reply lacking it still carries a usable code,
  // so only a wrong type is refused.
  if (m.message.present() && !m.message.isString())
    return "\"error.message\" must be a string";
  return {};
}

// A batch element from its first byte to just before the token that follows it (',' or ']'),
// where the walk now stands.
JsonSpan elementSpan(std::string_view padded, const char* start, od::document& doc) {
  const char* end = nullptr;
  if (doc.current_location().get(end) || end < start || end > padded.data() + padded.size())
    end = padded.data() + padded.size();
  const std::string_view element = trimTrailingSpace(std::string_view(start, end - start));
  return {static_cast<std::size_t>(start - padded.data()), element.size()};
}

} // namespace

struct EnvelopeParser::State {
  od::parser parser;
  // The input is copied here so that simdjson may read SIMDJSON_PADDING bytes past its end. It
  // grows to the largest message seen and is reused, so a warm parser does not allocate for it.
  std::unique_ptr<char[]> buffer;
  std::size_t capacity = 0;
  MessageMembers members;

  std::string_view pad(std::string_view json) {
    const std::size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
    if (needed > capacity) {
      const std::size_t grown = std::max(needed, capacity + capacity / 2);
      buffer.reset(new (std::nothrow) char[grown]);
      capacity = buffer ? grown : 0;
      if (!buffer)
        return {};
    }
    if (!json.empty())
      std::memcpy(buffer.get(), json.data(), json.size());
    std::memset(buffer.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    return {buffer.get(), json.size()};
  }
};

EnvelopeParser::EnvelopeParser() : state_(std::make_unique<State>()) {}
EnvelopeParser::~EnvelopeParser() = default;

EnvelopeResult EnvelopeParser::parse(std::string_view json) {
  EnvelopeResult result;
  const std::string_view padded = state_->pad(json);
  if (padded.data() == nullptr) {
    result.error = EnvelopeError::kInvalidJson;
    result.detail = "out of memory";
    return result;
  }

  Walker walker;
  od::document doc;
  bool have_doc = false;
  auto failJson = [&](error_code err) {
    result.parsed = {};
    result.error = EnvelopeError::kInvalidJson;
    result.detail = walker.depthExceeded() ? kDepthDetail : simdjson::error_message(err);
    // Where the walk stopped, which is at or just after the fault: enough to find it in a log.
    if (have_doc) {
      const char* where = nullptr;
      if (!doc.current_location().get(where) && where >= padded.data() &&
          where < padded.data() + padded.size()) {
        result.detail += " (near byte " + std::to_string(where - padded.data()) + ")";
      }
    }
    return std::move(result);
  };

  if (auto err =
          state_->parser
              .iterate(padded.data(), padded.size(), padded.size() + simdjson::SIMDJSON_PADDING)
              .get(doc)) {
    return failJson(err);
  }
  have_doc = true;
  walker.setDocument(&doc);
  od::json_type root_type{};
  if (auto err = doc.type().get(root_type))
    return failJson(err);

  std::string shape_error;
  if (root_type == od::json_type::object) {
    od::object object;
    if (auto err = doc.get_object().get(object))
      return failJson(err);
    state_->members = {};
    if (auto err = walker.message(object, 1, state_->members))
      return failJson(err);
    Envelope& message = result.parsed.messages.emplace_back();
    message.text = {0, json.size()};
    shape_error = assemble(state_->members, padded.data(), walker.sawRepeatedMember(), message);
  } else if (root_type == od::json_type::array) {
    result.parsed.batch = true;
    od::array array;
    if (auto err = doc.get_array().get(array))
      return failJson(err);
    std::size_t index = 0;
    for (auto element : array) {
      od::value value;
      if (auto err = element.get(value))
        return failJson(err);
      od::json_type type{};
      if (auto err = value.type().get(type))
        return failJson(err);
      if (type == od::json_type::object) {
        const char* start = value.raw_json_token().data();
        od::object object;
        if (auto err = value.get_object().get(object))
          return failJson(err);
        state_->members = {};
        if (auto err = walker.message(object, 2, state_->members))
          return failJson(err);
        Envelope& message = result.parsed.messages.emplace_back();
        message.text = elementSpan(padded, start, doc);
        const std::string why = assemble(state_->members, padded.data(), walker.sawRepeatedMember(), message);
        if (!why.empty() && shape_error.empty()) {
          shape_error = "batch element " + std::to_string(index) + ": " + why;
        }
      } else {
        if (auto err = walker.skip(value, 2))
          return failJson(err);
        result.parsed.messages.emplace_back(); // nothing to read, but counted
        if (shape_error.empty()) {
          shape_error = "batch element " + std::to_string(index) + " is not an object";
        }
      }
      ++index;
    }
    if (index == 0)
      shape_error = "empty batch";
  } else {
    // A lone scalar is valid JSON but never a message. It must still be told apart from text that
    // is not JSON at all; the token reaches the end of the input only if nothing follows it.
    std::string_view raw;
    if (auto err = rawToken(doc, raw))
      return failJson(err);
    Member ignored;
    if (auto err = Walker::scalar(doc, root_type, ignored))
      return failJson(err);
    if (raw.data() + raw.size() != padded.data() + padded.size()) {
      return failJson(simdjson::TRAILING_CONTENT);
    }
    shape_error = "message is not a JSON object or array";
  }
  if (root_type == od::json_type::object || root_type == od::json_type::array) {
    // The walk ends right after the root, so any token left over is trailing content.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      return failJson(simdjson::TRAILING_CONTENT);
    }
  }

  if (!shape_error.empty()) {
    result.error = EnvelopeError::kInvalidMessage;
    result.detail = std::move(shape_error);
  }
  return result;
}

} // namespace bulwark
