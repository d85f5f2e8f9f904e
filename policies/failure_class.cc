#include "policies/failure_class.h"

namespace bulwark::policies {

std::string_view failureClassName(FailureClass c) {
  switch (c) {
  case FailureClass::kNone:
    return "none";
  case FailureClass::kInvalidInput:
    return "invalid_input";
  case FailureClass::kUpstream:
    return "upstream";
  case FailureClass::kTimeout:
    return "timeout";
  case FailureClass::kOverload:
    return "overload";
  case FailureClass::kResource:
    return "resource";
  case FailureClass::kPermission:
    return "permission";
  case FailureClass::kToolError:
    return "tool_error";
  case FailureClass::kSessionLost:
    return "session_lost";
  case FailureClass::kProtocol:
    return "protocol";
  }
  return "unknown";
}

std::optional<FailureClass> parseFailureClass(std::string_view name) {
  for (FailureClass c : kAllFailureClasses) {
    if (failureClassName(c) == name) {
      return c;
    }
  }
  return std::nullopt;
}

std::string FailureClassSet::toString() const {
  std::string out = "[";
  for (FailureClass c : kAllFailureClasses) {
    if (contains(c)) {
      if (out.size() > 1) {
        out += ", ";
      }
      out += failureClassName(c);
    }
  }
  out += "]";
  return out;
}

} // namespace bulwark::policies
