#include "policies/cache_identity.h"

#include <array>
#include <charconv>

namespace bulwark::policies {

namespace {

void appendNumber(std::string& out, std::size_t n) {
  std::array<char, 24> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
  out.append(digits.data(), end);
}

char tagOf(IdentityPart part) {
  switch (part) {
  case IdentityPart::kSession:
    return 's';
  case IdentityPart::kAuthorization:
    return 'a';
  case IdentityPart::kCookie:
    return 'c';
  case IdentityPart::kApiKey:
    return 'k';
  case IdentityPart::kHeader:
    return 'h';
  case IdentityPart::kQuery:
    return 'q';
  }
  return '?';
}

} // namespace

void CallerIdentity::add(IdentityPart part, std::string_view value, std::size_t header_index) {
  if (value.empty()) {
    return;
  }
  text_ += tagOf(part);
  if (part == IdentityPart::kHeader) {
    // The index ends at '.', so its digits never run into the length's.
    appendNumber(text_, header_index);
    text_ += '.';
  }
  appendNumber(text_, value.size());
  text_ += ':';
  text_ += value;
}

} // namespace bulwark::policies
