// The walk behind EnvelopeParser (jsonrpc_envelope.h): it visits every value of a document with
// simdjson's On-Demand front end, validating it, and records the members an Envelope is made
// from. Private to the one JSON reader: only jsonrpc_envelope.cc and envelope_walker.cc include
// this header, so no simdjson type reaches the rest of the proxy.
//
// On-Demand is used rather than the DOM because the DOM rejects the whole document when any
// number does not fit 64 bits (an RFC 8259-valid `123456789012345678901234567890` deep inside a
// tool result would turn a good reply into a protocol error). The walk visits every value anyway,
// so the document is fully validated, and numbers are checked against the JSON grammar without
// being converted.
#pragma once

#include <simdjson.h>
#include <string_view>
#include <vector>

namespace bulwark::envelope {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// On-Demand does not report nesting beyond its parser's max_depth (1024 by default; it asserts in
// debug builds), and the walk recurses, so depth is limited here, a little below that.
constexpr int kMaxDepth = 1000;
static_assert(kMaxDepth < static_cast<int>(simdjson::DEFAULT_MAX_DEPTH));

inline std::string_view trimTrailingSpace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
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
  Member tool_name;               // params.name
  Member meta;                    // params._meta
  Member progress_token;          // params._meta.progressToken
  Member params_progress_token;   // params.progressToken (notifications/progress)
  Member request_id;              // params.requestId (notifications/cancelled)
  Member is_error;                // result.isError
  Member code;                    // error.code
  Member message;                 // error.message
  Member ttl_ms;                  // result.ttlMs
  Member cache_scope;             // result.cacheScope
  std::string_view result_text;   // the whole result value, when an object
  std::vector<ToolMembers> tools; // result.tools[]

  // Ready for the next message. Only the counts are cleared (rewriting every record for every
  // message showed in the profile): a member's other fields are read only while it is present,
  // and the walk sets them whenever it counts one.
  void reset() {
    jsonrpc.count = method.count = id.count = params.count = result.count = error.count = 0;
    tool_name.count = meta.count = progress_token.count = params_progress_token.count = 0;
    request_id.count = is_error.count = code.count = message.count = 0;
    ttl_ms.count = cache_scope.count = 0;
    result_text = {};
    tools.clear();
  }
};

// Visits every value of a document, validating it, and records the members named in
// MessageMembers. Syntax errors stop the walk at once; whether the message makes sense is judged
// afterwards from the recorded members, so a syntax error later in the text still wins.
class Walker {
public:
  // `document` is the one being walked (to find where a value ends); it must outlive the walker.
  explicit Walker(od::document& document) : doc_(document) {}

  // Validates `value`, at nesting level `depth` (the root is level 1), recording nothing.
  error_code skip(od::value value, int depth);

  // The members of one top-level message object at nesting level `depth`.
  error_code message(od::object object, int depth, MessageMembers& m);

  // Validates a scalar whose type is known and records its text: a value, or the document's
  // root when it is a scalar.
  static error_code scalar(od::value& value, od::json_type type, Member& member);
  static error_code scalar(od::document& root, od::json_type type, Member& member);

  bool depthExceeded() const { return depth_exceeded_; }
  // Whether any recorded member occurred twice in its object (since this walker began).
  bool sawRepeatedMember() const { return repeated_; }

private:
  template <typename OnObject>
  error_code record(od::value value, int depth, Member& member, OnObject&& on_object);
  error_code record(od::value value, int depth, Member& member);
  error_code tools(od::value value, int depth, std::vector<ToolMembers>& out);
  error_code enter(error_code got, int depth);
  template <typename OnMember>
  static error_code forEachMember(od::object& object, OnMember&& on_member);
  template <typename Value>
  static error_code scalarOf(Value& value, od::json_type type, Member& member);

  od::document& doc_;
  bool depth_exceeded_ = false;
  bool repeated_ = false;
};

} // namespace bulwark::envelope
