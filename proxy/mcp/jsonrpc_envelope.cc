#include "proxy/mcp/jsonrpc_envelope.h"

#include "proxy/mcp/envelope_walker.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <simdjson.h>
#include <stdexcept>
#include <utility>

namespace bulwark {
namespace {

using envelope::Member;
using envelope::MessageMembers;
using envelope::ToolMembers;
using envelope::trimTrailingSpace;
using envelope::Walker;
namespace od = envelope::od;
using simdjson::error_code;

constexpr const char* kDepthDetail = "JSON nested deeper than 1000 levels";
static_assert(envelope::kMaxDepth == 1000);

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

// `token`, which lies in the parsed text starting at `base`, as a span of that text.
JsonSpan spanIn(const char* base, std::string_view token) {
  return {static_cast<std::uint32_t>(token.data() - base),
          static_cast<std::uint32_t>(token.size())};
}

// The span of a recorded scalar within the text that starts at `base`.
JsonSpan spanOf(const Member& member, const char* base) {
  if (!member.present() || member.type == od::json_type::object ||
      member.type == od::json_type::array || member.raw.empty()) {
    return {};
  }
  return spanIn(base, member.raw);
}

bool isTokenType(const Member& member) {
  return member.type == od::json_type::string || member.type == od::json_type::number;
}

// Builds the envelope from what the walk recorded. Returns why the object is not a JSON-RPC 2.0
// message, or an empty string. The envelope is filled as far as possible even then, so that an
// error reply can echo the id.
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
      out.result_span = spanIn(base, m.result_text);
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
  return spanIn(padded.data(), trimTrailingSpace(std::string_view(start, end - start)));
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

  void parseInto(std::string_view json, EnvelopeResult& result);
};

const Envelope& EnvelopeList::at(std::size_t index) const {
  if (index >= size_)
    throw std::out_of_range("EnvelopeList::at");
  return data()[index];
}

Envelope& EnvelopeList::emplace_back() {
  if (size_ == 0) {
    ++size_;
    return first_;
  }
  if (size_ == 1) {
    spill_.reserve(4);
    spill_.push_back(std::move(first_));
    first_ = Envelope{};
  }
  ++size_;
  return spill_.emplace_back();
}

EnvelopeParser::EnvelopeParser() : state_(std::make_unique<State>()) {}
EnvelopeParser::~EnvelopeParser() = default;

EnvelopeResult EnvelopeParser::parse(std::string_view json) {
  // Filled in place and returned by name: a result holds its first message inline, so moving it
  // would copy that message.
  EnvelopeResult result;
  state_->parseInto(json, result);
  return result;
}

void EnvelopeParser::State::parseInto(std::string_view json, EnvelopeResult& result) {
  const std::string_view padded = pad(json);
  if (padded.data() == nullptr) {
    result.error = EnvelopeError::kInvalidJson;
    result.detail = "out of memory";
    return;
  }

  od::document doc;
  Walker walker(doc);
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
  };

  if (auto err =
          parser.iterate(padded.data(), padded.size(), padded.size() + simdjson::SIMDJSON_PADDING)
              .get(doc)) {
    return failJson(err);
  }
  have_doc = true;
  od::json_type root_type{};
  if (auto err = doc.type().get(root_type))
    return failJson(err);

  std::string shape_error;
  if (root_type == od::json_type::object) {
    od::object object;
    if (auto err = doc.get_object().get(object))
      return failJson(err);
    members.reset();
    if (auto err = walker.message(object, 1, members))
      return failJson(err);
    Envelope& message = result.parsed.messages.emplace_back();
    message.text = {0, static_cast<std::uint32_t>(json.size())};
    shape_error = assemble(members, padded.data(), walker.sawRepeatedMember(), message);
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
        members.reset();
        if (auto err = walker.message(object, 2, members))
          return failJson(err);
        Envelope& message = result.parsed.messages.emplace_back();
        message.text = elementSpan(padded, start, doc);
        const std::string why =
            assemble(members, padded.data(), walker.sawRepeatedMember(), message);
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
    if (auto err = doc.raw_json_token().get(raw))
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
}

} // namespace bulwark
