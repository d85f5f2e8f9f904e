#include "proxy/exchange/caller_identity.h"

namespace bulwark {

using policies::IdentityPart;

std::string_view queryOf(std::string_view target) {
  const auto mark = target.find('?');
  return mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1);
}

policies::CallerIdentity callerIdentityOf(const HttpHead& head, std::string_view client_session_id,
                                          std::span<const std::string> identity_headers) {
  struct Named {
    std::string_view name;
    IdentityPart part;
    std::size_t index;
  };
  const std::string_view query = queryOf(head.target);
  // At most one allocation: the values that count are sized before any is added (24: a tag and
  // a length each), and an anonymous caller allocates nothing.
  constexpr std::size_t kPerValue = 24;
  std::size_t bytes = 0;
  for (const std::string_view value : {client_session_id, query}) {
    bytes += value.empty() ? 0 : value.size() + kPerValue;
  }
  const auto counts = [&](std::string_view name) {
    if (equalsIgnoreCase(name, "authorization") || equalsIgnoreCase(name, "cookie") ||
        equalsIgnoreCase(name, "x-api-key")) {
      return true;
    }
    for (const std::string& configured : identity_headers) {
      if (equalsIgnoreCase(name, configured)) {
        return true;
      }
    }
    return false;
  };
  for (const HeaderField& field : head.headers) {
    if (!field.value.empty() && counts(field.name)) {
      bytes += field.value.size() + kPerValue;
    }
  }
  policies::CallerIdentity identity;
  if (bytes == 0) {
    return identity;  // anonymous: one pass over the fields, nothing allocated
  }
  identity.reserve(bytes);
  identity.add(IdentityPart::kSession, client_session_id);
  const auto addEvery = [&](const Named& named) {
    for (const HeaderField& field : head.headers) {
      if (equalsIgnoreCase(field.name, named.name)) {
        identity.add(named.part, field.value, named.index);
      }
    }
  };
  addEvery({"authorization", IdentityPart::kAuthorization, 0});
  addEvery({"cookie", IdentityPart::kCookie, 0});
  addEvery({"x-api-key", IdentityPart::kApiKey, 0});
  for (std::size_t index = 0; index < identity_headers.size(); ++index) {
    addEvery({identity_headers[index], IdentityPart::kHeader, index});
  }
  identity.add(IdentityPart::kQuery, query);
  return identity;
}

}  // namespace bulwark
