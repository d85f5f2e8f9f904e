// The one place Bulwark reads JSON. A message is parsed once into an owned Envelope that names
// what the proxy and its policies reason about; no simdjson type escapes jsonrpc_envelope.cc (and
// the walk behind it, envelope_walker.h).
// The whole text is validated (RFC 8259; numbers of any size are accepted, nesting is limited to
// 1000 levels), not only the members read here.
#pragma once

#include "policies/protocol_era.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

enum class MessageKind : std::uint8_t {
  kRequest,      // method and id
  kNotification, // method, no id
  kResult,       // id and result
  kError,        // id (possibly null) and error
};

// A stretch of the text given to EnvelopeParser::parse (token text; strings with their quotes).
// 32 bits suffice: simdjson refuses a text of 4 GiB or more, and an Envelope stays small.
struct JsonSpan {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  bool present() const { return length > 0; }
  std::string_view in(std::string_view text) const { return text.substr(offset, length); }
};

// result.cacheScope (2026-07-28): absent, "public", "private", or another string.
enum class ResultCacheScope : std::uint8_t { kNone, kPublic, kPrivate, kOther };

// A tool's behaviour hints as a tools/list result announces them (MCP ToolAnnotations).
struct ToolHints {
  std::string name;
  std::optional<bool> read_only;  // annotations.readOnlyHint
  std::optional<bool> idempotent; // annotations.idempotentHint
};

struct Envelope {
  MessageKind kind = MessageKind::kRequest;
  std::string method;         // empty for responses
  std::string id;             // the id's JSON text as sent (`7`, `"abc"`, `null`), ready to
                              // echo; empty if absent
  // The id as a value, when its text is not already canonical (see canonicalIdText); empty for
  // the common id (a small integer, a string without escapes). Compare ids through idKey() or
  // sameId(), never as text: a server answers `1.0` as `1` and "\u00e9" as "é".
  std::string id_key;
  std::string tool;           // params.name of a tools/call request
  std::string progress_token; // params._meta.progressToken of any request, as JSON text
                              // (string or number); empty if absent
  std::optional<std::int64_t> error_code; // error.code of an error response (always set then)
  std::string error_message;              // error.message of an error response; may be empty
  bool is_error = false; // result.isError of a tools/call result (true only if `true`)
  // What the response cache needs from a result (so that it does not parse the answer again):
  JsonSpan result_span;               // the `result` object (see `text` below for offsets)
  std::optional<std::int64_t> ttl_ms; // result.ttlMs (2026-07-28), when a non-negative integer
  ResultCacheScope cache_scope = ResultCacheScope::kNone; // result.cacheScope
  std::vector<ToolHints> tools; // result.tools[] of a tools/list result, with their hints
  // result.resultType (2026-07-28): kComplete when absent (an older server's result is final).
  policies::ResultKind result_kind = policies::ResultKind::kComplete;

  // 2026-07-28 request members:
  // The value the `Mcp-Name` header mirrors for prompts/get (params.name) and resources/read
  // (params.uri); tools/call keeps it in `tool` (see mcpName()). Empty otherwise.
  std::string mcp_name;
  // params._meta["io.modelcontextprotocol/protocolVersion"], when a string.
  std::string protocol_version;
  // params.inputResponses or params.requestState is present: the follow-up of a multi
  // round-trip request.
  bool continues_round_trip = false;
  std::string next_cursor;      // result.nextCursor of a paginated list result, when a string
  // result.protocolVersion of an initialize result, when a string
  std::string result_protocol_version;

  // Where this message and its ids lie in the parsed text, so that a bridge can rewrite them in
  // place without re-serializing (offsets into the `json` given to parse). Filled also when the
  // message is refused as kInvalidMessage; empty spans for absent or non-scalar members.
  JsonSpan text;                // the message (a batch element, or the whole text)
  JsonSpan id_span;             // "id", when a string or a number
  JsonSpan progress_token_span; // params._meta.progressToken, else params.progressToken
                                // (notifications/progress), when a string or a number
  JsonSpan request_id_span;     // params.requestId (notifications/cancelled), when a scalar
  JsonSpan traceparent_span;    // params._meta.traceparent (W3C trace context), when a string

  // Equal for two spellings of the same id, different otherwise (a string never equals a
  // number: `"1"` is not `1`). Points into this envelope.
  std::string_view mcpName() const { return method == "tools/call" ? tool : mcp_name; }

  std::string_view idKey() const { return id_key.empty() ? std::string_view(id) : id_key; }
};

// The canonical text of a JSON-RPC id given as valid JSON text (a string, number or null), or
// nullopt when `id_json` is canonical already (no allocation then). Strings: the unescaped value
// written again with appendJsonString (so `"a\/b"` is `"a/b"`). Numbers: the exact decimal
// value, as digits when it is an integer of at most 40 digits (`1.0`, `1e0` and `1` are `1`,
// `-0` is `0`), otherwise as `<digits>e<exponent>` (`1.5` is `15e-1`); big integers stay exact.
std::optional<std::string> canonicalIdText(std::string_view id_json);

// Whether `message` answers (or is) the request whose id was sent as `id_json` (its JSON text;
// empty for none). Equal texts are decided inline; otherwise sameIdValue compares canonical
// texts (no allocation when the request's id is canonical already).
bool sameIdValue(const Envelope& message, std::string_view id_json);
inline bool sameId(const Envelope& message, std::string_view id_json) {
  return message.id == id_json || sameIdValue(message, id_json);
}

// Whether two ids (or progress tokens) given as JSON text name the same value.
bool sameIdText(std::string_view a_json, std::string_view b_json);

// The messages of one parsed text, in order; read like a std::vector. Nearly every text holds a
// single message (a proxied request parses two), so the first is kept inline and only a batch
// allocates: then every message lives in `spill_`.
class EnvelopeList {
public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Envelope* begin() const { return data(); }
  const Envelope* end() const { return data() + size_; }
  const Envelope& front() const { return *data(); }
  const Envelope& operator[](std::size_t index) const { return data()[index]; }
  const Envelope& at(std::size_t index) const; // throws std::out_of_range, as std::vector's

  // A new, empty envelope at the end. References to earlier ones may be invalidated.
  Envelope& emplace_back();

private:
  const Envelope* data() const { return spill_.empty() ? &first_ : spill_.data(); }

  Envelope first_;
  std::vector<Envelope> spill_;
  std::size_t size_ = 0;
};

// A POST body or an SSE event's data: a single message or a batch (array) of them.
struct ParsedMessages {
  EnvelopeList messages;
  bool batch = false;
};

enum class EnvelopeError : std::uint8_t {
  kNone,
  kInvalidJson, // not JSON at all: JSON-RPC -32700
  // JSON, but not a JSON-RPC 2.0 message: -32600. Besides JSON-RPC's own rules this refuses an
  // empty batch, a batch with any bad element (the whole batch fails), a request or result with a
  // null id (MCP forbids it), and a repeated member among those read here (parsers disagree on
  // which copy wins, and the proxy must route on the one the server will act on).
  kInvalidMessage,
};

struct EnvelopeResult {
  // On kInvalidJson, empty. On kInvalidMessage, one envelope per message (per batch element; an
  // element that is not an object gives an empty one), filled as far as it could be read (its
  // id when that was a string, number or null) so the -32600 reply can echo the id; it must not
  // be forwarded.
  ParsedMessages parsed;
  EnvelopeError error = EnvelopeError::kNone;
  // Human-readable reason when error != kNone: simdjson's message and, when known, where, e.g.
  // "Problem while parsing a number (near byte 5)", or "batch element 2 is not an object".
  std::string detail;
};

// Reuses one simdjson parser across calls (its buffers grow to the largest message seen and are
// kept). Not thread-safe; one per event loop.
class EnvelopeParser {
public:
  EnvelopeParser();
  ~EnvelopeParser();
  EnvelopeParser(const EnvelopeParser&) = delete;
  EnvelopeParser& operator=(const EnvelopeParser&) = delete;

  // `json` need not be padded or outlive the call: it is copied into the parser's own padded
  // buffer, and the result owns all its strings. Never throws; bad input is reported in the
  // result.
  EnvelopeResult parse(std::string_view json);

private:
  struct State;
  std::unique_ptr<State> state_;
};

} // namespace bulwark
