// JSON texts the response cache needs, kept apart from the envelope parser so that the hot path
// (one On-Demand walk per message) pays nothing for them: only cacheable requests come here.
// Results to store come from the envelope (its result span, ttlMs and cacheScope), not from a
// second parse. Canonical params (sorted keys) and rewritten results use simdjson's DOM, which
// can rebuild values; no simdjson type escapes cache_json.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

struct Envelope;

struct CacheableResult {
  std::string result_json;           // the `result` value, minified
  std::optional<std::int64_t> ttl_ms;  // result.ttlMs (2026-07-28), when a non-negative integer
  std::string cache_scope;           // result.cacheScope: "public", "private" or empty
};

class CacheJson {
public:
  CacheJson();
  ~CacheJson();
  CacheJson(const CacheJson&) = delete;
  CacheJson& operator=(const CacheJson&) = delete;

  // The request's `params` in a canonical form: object keys sorted, no whitespace, and the
  // top-level `_meta` (progress tokens, trace context) left out, since it does not change the
  // answer. "{}" when there are no params; nullopt when the message is not a JSON object.
  std::optional<std::string> canonicalParams(std::string_view message);

  // The `result` of a success response, or nullopt (an error, isError), from an answer the
  // envelope parser has read already (`answer`, parsed from `message`; the caller has matched its
  // id with sameId): no second parse, only the result is minified.
  static std::optional<CacheableResult> successResult(const Envelope& answer,
                                                      std::string_view message);

  // Whether withMetaFlag can mark `result_json`: the envelope accepts results whose numbers the
  // DOM refuses (integers past 64 bits), and such a result, served stale, would go out unmarked.
  bool canFlag(std::string_view result_json);

  // `result_json` (an object) with `"_meta": {..., "<flag>": true}`, so that a client can tell a
  // cached or fallback answer from a live one. Other members keep their order.
  static std::string withMetaFlag(std::string_view result_json, std::string_view flag,
                                  CacheJson& parser);

  // {"jsonrpc":"2.0","id":<id_json>,"result":<result_json>}
  static std::string responseFor(std::string_view id_json, std::string_view result_json);

private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bulwark
