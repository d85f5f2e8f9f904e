// Small facts the exchange's parts share about HTTP heads and upstream failures (internal to
// proxy/exchange/).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "policies/outcome.h"
#include "proxy/http/headers.h"
#include "proxy/http/http_message.h"
#include "proxy/upstream/upstream_connection.h"

namespace bulwark::exchange_detail {

// How many times one request may have its session re-opened.
inline constexpr int kMaxSessionRecoveries = 3;
// A 400 that may name a lost session is read up to this size to decide.
inline constexpr std::size_t kMaxSessionCheckBytes = 64 * 1024;

inline bool contentTypeIs(const HttpHead& head, std::string_view prefix) {
  const HeaderField* type = findHeader(head.headers, "content-type");
  return type != nullptr && type->value.size() >= prefix.size() &&
         equalsIgnoreCase(std::string_view(type->value).substr(0, prefix.size()), prefix);
}
inline bool isEventStream(const HttpHead& head) {
  return contentTypeIs(head, "text/event-stream");
}
inline bool isJson(const HttpHead& head) { return contentTypeIs(head, "application/json"); }

inline std::string headerValue(const HeaderList& headers, std::string_view name) {
  const HeaderField* field = findHeader(headers, name);
  return field == nullptr ? std::string() : field->value;
}

inline policies::Outcome outcomeOfFailure(UpstreamFailureKind kind) {
  switch (kind) {
  case UpstreamFailureKind::kConnectFailed:
  case UpstreamFailureKind::kConnectTimeout: return policies::Outcome::connectFailed();
  case UpstreamFailureKind::kResetBeforeResponse: return policies::Outcome::resetBeforeResponse();
  case UpstreamFailureKind::kResetDuringResponse:
    return policies::Outcome::resetAfterPartialResponse();
  case UpstreamFailureKind::kMalformedResponse: return policies::Outcome::malformedReply();
  }
  return policies::Outcome::resetBeforeResponse();
}

}  // namespace bulwark::exchange_detail
