// The one place Bulwark reads JSON. A message is parsed once into an owned Envelope that names
// what the proxy and its policies reason about; no simdjson type escapes jsonrpc_envelope.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

enum class MessageKind : std::uint8_t {
  kRequest,       // method and id
  kNotification,  // method, no id
  kResult,        // id and result
  kError,         // id (possibly null) and error
};

struct Envelope {
  MessageKind kind = MessageKind::kRequest;
  std::string method;               // empty for responses
  std::string id;                   // the id's JSON text (`7`, `"abc"`, `null`); empty if absent
  std::string tool;                 // params.name of a tools/call request
  std::string progress_token;       // params._meta.progressToken as JSON text; empty if absent
  std::optional<std::int64_t> error_code;  // error.code of an error response
  std::string error_message;        // error.message of an error response
  bool is_error = false;            // result.isError of a tools/call result
};

// A POST body or an SSE event's data: a single message or a batch (array) of them.
struct ParsedMessages {
  std::vector<Envelope> messages;
  bool batch = false;
};

enum class EnvelopeError : std::uint8_t {
  kNone,
  kInvalidJson,     // not JSON at all: JSON-RPC -32700
  kInvalidMessage,  // JSON, but not a JSON-RPC 2.0 message (or an empty batch): -32600
};

struct EnvelopeResult {
  ParsedMessages parsed;
  EnvelopeError error = EnvelopeError::kNone;
  std::string detail;  // human-readable reason when error != kNone, e.g. "TAPE_ERROR at byte 12"
};

// Reuses one simdjson parser across calls (its buffers grow to the largest message seen).
// Not thread-safe; one per event loop.
class EnvelopeParser {
public:
  EnvelopeParser();
  ~EnvelopeParser();
  EnvelopeParser(const EnvelopeParser&) = delete;
  EnvelopeParser& operator=(const EnvelopeParser&) = delete;

  // `json` need not be padded: the parser copies into its own padded buffer when the input's
  // capacity is unknown. Never throws; bad input is reported in the result.
  EnvelopeResult parse(std::string_view json);

private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bulwark
