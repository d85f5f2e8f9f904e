// Who a caller is, as far as the `caller` cache scope is concerned: every part of a request that
// can tell one caller from another to the server. Two requests share a caller-scoped cache entry
// only when all of these are the same, so no caller is ever answered with what the server told
// another one.
//
// The parts, in the order they enter the identity (the proxy reads them from the request):
//   session          the client's Mcp-Session-Id (2025 era; the id the client sees, which stays
//                    the same across Bulwark's session recovery): sessions never share
//   authorization    every Authorization field
//   cookie           every Cookie field
//   api_key          every X-API-Key field
//   header           every field of each name in `cache.identity_headers`, by its position there
//   query            the request-target's query string (credentials such as ?api_key=)
// An empty value identifies no one and is left out. A request with none of these (no session,
// no credentials, no query) is anonymous: the server receives the same request from every such
// caller, so they share one anonymous scope.
//
// Pure; never throws except std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark::policies {

enum class IdentityPart : std::uint8_t {
  kSession,
  kAuthorization,
  kCookie,
  kApiKey,
  kHeader, // a configured identity header; add() takes its index in the configured list
  kQuery,
};

// The identity text: each value as <tag><decimal length>:<bytes>, where the tag is one letter
// per part ("s", "a", "c", "k", "q") or "h<index>." for a configured header. The encoding is
// injective (tags and lengths make every text decode one way only), so two callers get the same
// text only when the same values were added in the same order; the proxy adds them part by part
// in the order above and each part's fields in arrival order.
class CallerIdentity {
public:
  // `header_index` is read only for kHeader. An empty `value` adds nothing.
  void add(IdentityPart part, std::string_view value, std::size_t header_index = 0);
  void reserve(std::size_t bytes) { text_.reserve(bytes); }

  // Nothing was added: the anonymous scope.
  bool anonymous() const { return text_.empty(); }
  // What CacheKeyScope::callerOf takes (policies/response_cache.h). Never logged: it holds
  // credentials.
  std::string_view text() const { return text_; }

private:
  std::string text_;
};

} // namespace bulwark::policies
