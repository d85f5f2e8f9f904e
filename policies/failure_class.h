// The closed set of failure classes every upstream outcome is reduced to (design.md, "Failure
// classes"), their stable names for metrics, logs and configuration, and a small set type.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark::policies {

enum class FailureClass : std::uint8_t {
  kNone,         // success: a well-formed reply that is not an error
  kInvalidInput, // the request itself is wrong: answer at once, never retry
  kUpstream,     // the upstream (or the path to it) failed: retry if safe
  kTimeout,      // per-try timeout or overall deadline
  kOverload,     // 429, or 503 with Retry-After: retry after the hinted delay
  kResource,     // method or resource not found: answer at once
  kPermission,   // 401/403 (and URL elicitation required): pass through, never retry or cache
  kToolError,    // result.isError: pass through unless policy says retry
  kSessionLost,  // the upstream forgot our Mcp-Session-Id: re-initialize, then retry
  kProtocol,     // malformed reply from upstream: answer -32603
};

inline constexpr std::array<FailureClass, 10> kAllFailureClasses = {
    FailureClass::kNone,       FailureClass::kInvalidInput, FailureClass::kUpstream,
    FailureClass::kTimeout,    FailureClass::kOverload,     FailureClass::kResource,
    FailureClass::kPermission, FailureClass::kToolError,    FailureClass::kSessionLost,
    FailureClass::kProtocol};

// "none", "invalid_input", "upstream", "timeout", "overload", "resource", "permission",
// "tool_error", "session_lost", "protocol". The returned view refers to static storage.
std::string_view failureClassName(FailureClass c);

// Inverse of failureClassName (exact, case-sensitive). nullopt for anything else.
std::optional<FailureClass> parseFailureClass(std::string_view name);

// A value-type set of classes (the retry policy's `on` list).
class FailureClassSet {
public:
  constexpr FailureClassSet() = default;
  constexpr FailureClassSet(std::initializer_list<FailureClass> classes) {
    for (FailureClass c : classes) {
      insert(c);
    }
  }
  constexpr void insert(FailureClass c) { bits_ |= bit(c); }
  constexpr void erase(FailureClass c) { bits_ &= static_cast<std::uint16_t>(~bit(c)); }
  constexpr bool contains(FailureClass c) const { return (bits_ & bit(c)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool operator==(const FailureClassSet&) const = default;
  // "[upstream, timeout, overload]" in enum order.
  std::string toString() const;

private:
  static constexpr std::uint16_t bit(FailureClass c) {
    return static_cast<std::uint16_t>(1U << static_cast<unsigned>(c));
  }
  std::uint16_t bits_ = 0;
};

} // namespace bulwark::policies
