#include "policies/protocol_era.h"

namespace bulwark::policies {

namespace {

// A version is a date (YYYY-MM-DD); anything from the first stateless revision on is stateless.
// Text that is not a date (empty, or a name this build does not know) says nothing of the era.
bool isStatelessVersion(std::string_view version) {
  const bool dated = version.size() == kFirstStatelessVersion.size() && version[0] >= '0' &&
                     version[0] <= '9' && version[4] == '-' && version[7] == '-';
  return dated && version >= kFirstStatelessVersion;
}

} // namespace

ProtocolEra eraOf(std::string_view header_version, std::string_view meta_version) {
  return isStatelessVersion(header_version) || isStatelessVersion(meta_version)
             ? ProtocolEra::kStateless
             : ProtocolEra::kSession;
}

bool maySessionRecover(ProtocolEra era) { return era == ProtocolEra::kSession; }

ResultKind resultKindOf(std::string_view result_type, bool present) {
  if (!present || result_type == "complete")
    return ResultKind::kComplete;
  if (result_type == "input_required")
    return ResultKind::kInputRequired;
  if (result_type == "task")
    return ResultKind::kTask;
  return ResultKind::kOther;
}

bool isFinalResult(ResultKind kind) { return kind == ResultKind::kComplete; }

StreamKind streamKindOf(std::string_view method) {
  return method == "subscriptions/listen" ? StreamKind::kLongLived : StreamKind::kRequestScoped;
}

} // namespace bulwark::policies
