// What the first bytes of a JSON-RPC answer too large to hold say about it: whether it is a
// result or an error, its id, the error's code and the result's isError when they have
// appeared. The exchange judges an answer it cannot hold whole from this (see
// limits.max_held_answer_bytes); a whole answer is always read by jsonrpc_envelope instead.
// A lexical scan of the top two levels of one object: no allocation, no simdjson.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark {

struct AnswerPrefix {
  enum class Kind : std::uint8_t { kUnknown, kResult, kError };
  Kind kind = Kind::kUnknown;
  std::string_view id;  // the id's JSON text (a view into the prefix); empty until seen whole
  std::optional<std::int64_t> error_code;  // error.code, when seen whole
  bool is_error = false;                   // result.isError was true
};

// Reads `prefix`, the beginning of one JSON object (possibly cut anywhere).
AnswerPrefix readAnswerPrefix(std::string_view prefix);

}  // namespace bulwark
