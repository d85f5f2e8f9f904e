#include "proxy/stdio/message_scan.h"

#include <charconv>

namespace bulwark::stdio {
namespace {

// `span` (relative to the body) made relative to the message starting at `base`.
TextSpan within(TextSpan span, std::uint32_t base) {
  return span.present() ? TextSpan{span.offset - base, span.length} : TextSpan{};
}

std::optional<ScannedMessage> scanned(const Envelope& envelope) {
  ScannedMessage out;
  out.text = envelope.text;
  out.id = within(envelope.id_span, envelope.text.offset);
  if (!envelope.method.empty()) {
    out.kind = out.id.present() ? ScannedKind::kRequest : ScannedKind::kNotification;
    out.method = envelope.method;
  } else if (envelope.kind == MessageKind::kResult || envelope.kind == MessageKind::kError) {
    out.kind = ScannedKind::kResponse;
  } else {
    return std::nullopt;
  }
  out.progress_token = within(envelope.progress_token_span, envelope.text.offset);
  if (out.method == "notifications/cancelled") {
    out.cancelled_request_id = within(envelope.request_id_span, envelope.text.offset);
  }
  return out;
}

}  // namespace

std::optional<ScannedBody> scanMessages(EnvelopeParser& parser, std::string_view json) {
  const EnvelopeResult parsed = parser.parse(json);
  if (parsed.error == EnvelopeError::kInvalidJson) {
    return std::nullopt;
  }
  ScannedBody out;
  out.batch = parsed.parsed.batch;
  if (!out.batch && parsed.parsed.messages.size() != 1) {
    return std::nullopt;  // a lone scalar
  }
  out.messages.reserve(parsed.parsed.messages.size());
  for (const Envelope& envelope : parsed.parsed.messages) {
    auto message = scanned(envelope);
    if (!message) {
      return std::nullopt;
    }
    out.messages.push_back(std::move(*message));
  }
  return out;
}

std::optional<ScannedMessage> scanMessage(EnvelopeParser& parser, std::string_view json) {
  auto body = scanMessages(parser, json);
  if (!body || body->batch) {
    return std::nullopt;
  }
  return std::move(body->messages.front());
}

std::string replaceSpan(std::string_view json, TextSpan span, std::string_view replacement) {
  std::string out;
  out.reserve(json.size() + replacement.size());
  out.append(json.substr(0, span.offset));
  out.append(replacement);
  out.append(json.substr(span.offset + span.length));
  return out;
}

std::optional<std::int64_t> parseBridgeId(std::string_view id_text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), value);
  if (ec != std::errc() || end != id_text.data() + id_text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace bulwark::stdio
