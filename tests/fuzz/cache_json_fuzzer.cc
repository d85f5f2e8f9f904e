// The response cache's JSON: canonical request params (the cache key) and the cached result.
// canonicalParams must be idempotent: the canonical form, put back as params, is its own
// canonical form (else two equal requests could miss each other's entry). The result copy a
// cache hit serves, flagged, must still be a JSON object with the flag in its _meta.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bulwark::CacheJson cache_json;
  static bulwark::EnvelopeParser envelopes;
  const std::string_view message(reinterpret_cast<const char*>(data), size);

  if (const std::optional<std::string> params = cache_json.canonicalParams(message)) {
    const std::string wrapped = "{\"params\":" + *params + "}";
    const std::optional<std::string> again = cache_json.canonicalParams(wrapped);
    FUZZ_CHECK(again.has_value(), "a canonical form that does not parse");
    FUZZ_CHECK(*again == *params, "canonicalParams is not idempotent");
  }

  // The id as the envelope parser reads it is what the exchange looks up results by.
  const bulwark::EnvelopeResult parsed = envelopes.parse(message);
  if (parsed.error != bulwark::EnvelopeError::kNone || parsed.parsed.batch) {
    return 0;
  }
  const bulwark::Envelope& envelope = parsed.parsed.messages.front();
  if (envelope.kind != bulwark::MessageKind::kResult) {
    return 0;
  }
  const auto result = bulwark::CacheJson::successResult(envelope, message);
  if (!result || !cache_json.canFlag(result->result_json)) {  // what the exchange never stores
    return 0;
  }
  const std::string flagged =
      bulwark::CacheJson::withMetaFlag(result->result_json, "bulwarkCached", cache_json);
  const std::string response = bulwark::CacheJson::responseFor(envelope.id, flagged);
  const bulwark::EnvelopeResult served = envelopes.parse(response);
  FUZZ_CHECK(served.error == bulwark::EnvelopeError::kNone, "a served cache entry is not valid");
  const auto reread =
      bulwark::CacheJson::successResult(served.parsed.messages.front(), response);
  FUZZ_CHECK(reread.has_value(), "a served cache entry is not a success result");
  FUZZ_CHECK(reread->result_json.find("\"bulwarkCached\":true") != std::string::npos,
             "the flag is missing from a served cache entry");
  return 0;
}
