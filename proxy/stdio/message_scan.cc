#include "proxy/stdio/message_scan.h"

#include <charconv>
#include <simdjson.h>

namespace bulwark::stdio {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

std::string_view trimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Where a scalar value's token lies in the original text (the padded copy has the same layout).
error_code spanOf(od::value value, const char* base, TextSpan& out) {
  od::json_type type{};
  if (auto err = value.type().get(type)) {
    return err;
  }
  if (type == od::json_type::object || type == od::json_type::array) {
    return simdjson::SUCCESS;  // ids and tokens are scalars; anything else is left alone
  }
  const std::string_view token = trimRight(value.raw_json_token());
  out.offset = static_cast<std::size_t>(token.data() - base);
  out.length = token.size();
  return simdjson::SUCCESS;
}

error_code scanMeta(od::value meta, const char* base, ScannedMessage& out) {
  od::object object;
  if (meta.get_object().get(object) != simdjson::SUCCESS) {
    return simdjson::SUCCESS;
  }
  for (auto field : object) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) {
      return err;
    }
    if (key == "progressToken") {
      od::value value;
      if (auto err = field.value().get(value)) {
        return err;
      }
      if (auto err = spanOf(value, base, out.progress_token)) {
        return err;
      }
    }
  }
  return simdjson::SUCCESS;
}

error_code scanParams(od::value params, const char* base, ScannedMessage& out) {
  od::object object;
  if (params.get_object().get(object) != simdjson::SUCCESS) {
    return simdjson::SUCCESS;  // params may be an array
  }
  for (auto field : object) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) {
      return err;
    }
    od::value value;
    if (auto err = field.value().get(value)) {
      return err;
    }
    if (key == "_meta") {
      if (auto err = scanMeta(value, base, out)) {
        return err;
      }
    } else if (key == "progressToken") {
      if (auto err = spanOf(value, base, out.progress_token)) {
        return err;
      }
    } else if (key == "requestId") {
      if (auto err = spanOf(value, base, out.cancelled_request_id)) {
        return err;
      }
    }
  }
  return simdjson::SUCCESS;
}

}  // namespace

std::optional<ScannedMessage> scanMessage(std::string_view json) {
  // One parser per thread, reused (its buffers grow to the largest message seen).
  thread_local od::parser parser;
  const simdjson::padded_string padded(json);
  od::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  od::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  ScannedMessage out;
  bool has_method = false;
  bool has_answer = false;
  const char* base = padded.data();
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    od::value value;
    if (field.value().get(value) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    if (key == "id") {
      od::json_type type{};
      if (value.type().get(type) != simdjson::SUCCESS || type == od::json_type::null) {
        continue;  // a null id answers nothing the bridge sent
      }
      if (spanOf(value, base, out.id) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    } else if (key == "method") {
      std::string_view method;
      if (value.get_string().get(method) != simdjson::SUCCESS) {
        return std::nullopt;
      }
      out.method = std::string(method);
      has_method = true;
    } else if (key == "result" || key == "error") {
      has_answer = true;
    } else if (key == "params") {
      if (scanParams(value, base, out) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    }
  }
  if (has_method) {
    out.kind = out.id.present() ? ScannedKind::kRequest : ScannedKind::kNotification;
  } else if (has_answer) {
    out.kind = ScannedKind::kResponse;
  } else {
    return std::nullopt;
  }
  if (out.method != "notifications/cancelled") {
    out.cancelled_request_id = {};
  }
  return out;
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

namespace bulwark::stdio {

std::optional<std::vector<std::string_view>> splitArray(std::string_view json) {
  thread_local od::parser parser;
  const simdjson::padded_string padded(json);
  od::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  od::array array;
  if (doc.get_array().get(array) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  // Each element starts at its first token; it ends where the next one starts (less the comma
  // and spaces between), the last one at the closing bracket.
  std::vector<std::size_t> starts;
  for (auto element : array) {
    od::value value;
    if (element.get(value) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    starts.push_back(static_cast<std::size_t>(value.raw_json_token().data() - padded.data()));
  }
  const std::size_t close = json.rfind(']');
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::size_t end = i + 1 < starts.size() ? starts[i + 1] : close;
    std::string_view element = json.substr(starts[i], end - starts[i]);
    element = trimRight(element);
    if (i + 1 < starts.size() && !element.empty() && element.back() == ',') {
      element.remove_suffix(1);
      element = trimRight(element);
    }
    out.push_back(element);
  }
  return out;
}

}  // namespace bulwark::stdio
