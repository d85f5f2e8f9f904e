#include "proxy/mcp/envelope_walker.h"

#include "proxy/mcp/json_writer.h"

#include <utility>

namespace bulwark::envelope {
namespace {

// A key test that first looks at the first byte, so that a key of the same length (`arguments`
// and `requestId`) costs no memcmp. For the members only some messages carry.
bool keyIs(std::string_view key, std::string_view name) {
  return key.size() == name.size() && key.front() == name.front() && key == name;
}

// The token's text including any whitespace after it; value and document spell this differently.
error_code rawToken(od::value& value, std::string_view& out) {
  out = value.raw_json_token();
  return simdjson::SUCCESS;
}
error_code rawToken(od::document& doc, std::string_view& out) {
  return doc.raw_json_token().get(out);
}

} // namespace

error_code Walker::skip(od::value value, int depth) {
  od::json_type type{};
  if (auto err = value.type().get(type))
    return err;
  switch (type) {
  case od::json_type::object: {
    od::object object;
    if (auto err = enter(value.get_object().get(object), depth))
      return err;
    return forEachMember(object,
                         [&](std::string_view, od::value child) { return skip(child, depth + 1); });
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
error_code Walker::record(od::value value, int depth, Member& member, OnObject&& on_object) {
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

error_code Walker::record(od::value value, int depth, Member& member) {
  return record(value, depth, member, [&](od::object object) {
    return forEachMember(object,
                         [&](std::string_view, od::value child) { return skip(child, depth + 1); });
  });
}

error_code Walker::message(od::object object, int depth, MessageMembers& m) {
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
          return skip(v, inner + 1);
        });
      });
      // The walk now stands on the token after the result (',' or '}').
      const char* end = nullptr;
      if (!err && !doc_.current_location().get(end) && end > start)
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
error_code Walker::tools(od::value value, int depth, std::vector<ToolMembers>& out) {
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

error_code Walker::scalar(od::value& value, od::json_type type, Member& member) {
  return scalarOf(value, type, member);
}

error_code Walker::scalar(od::document& root, od::json_type type, Member& member) {
  return scalarOf(root, type, member);
}

template <typename Value>
error_code Walker::scalarOf(Value& value, od::json_type type, Member& member) {
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

// Checks the depth before the walk descends into a container at level `depth`.
error_code Walker::enter(error_code got, int depth) {
  if (got)
    return got;
  if (depth > kMaxDepth) {
    depth_exceeded_ = true;
    return simdjson::DEPTH_ERROR;
  }
  return simdjson::SUCCESS;
}

template <typename OnMember>
error_code Walker::forEachMember(od::object& object, OnMember&& on_member) {
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

} // namespace bulwark::envelope
