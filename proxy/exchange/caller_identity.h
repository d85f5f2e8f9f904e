// The `caller` cache scope's identity of one client request (policies/cache_identity.h), read
// from its head. Built only for a request a cache policy applies to: the path without a cache
// never pays for it.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "policies/cache_identity.h"
#include "proxy/http/http_message.h"

namespace bulwark {

// `client_session_id`: the Mcp-Session-Id the client sent (not the upstream's id, which changes
// when Bulwark recovers the session, so a recovered session keeps its entries).
// `identity_headers`: cache.identity_headers, lower case. Every field of each header counts, in
// arrival order. The result holds credentials: it is never logged.
policies::CallerIdentity callerIdentityOf(const HttpHead& head, std::string_view client_session_id,
                                          std::span<const std::string> identity_headers);

// The query of a request-target: "a=1" of "/mcp?a=1" or of "http://host/mcp?a=1"; empty
// without one.
std::string_view queryOf(std::string_view target);

}  // namespace bulwark
