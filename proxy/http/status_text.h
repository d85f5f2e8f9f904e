// The reason phrase Bulwark writes after every status code it sends itself (the client
// connection's simple responses, its refusals, the exchange's own error answers). Responses that
// pass through from the upstream keep the upstream's phrase.
#pragma once

#include <string_view>

namespace bulwark {

// RFC 9110's phrase for `status`; "Error" for a code Bulwark never sends (a new one belongs in
// the table, and the unit test lists every code the proxy can produce).
std::string_view statusText(int status);

}  // namespace bulwark
