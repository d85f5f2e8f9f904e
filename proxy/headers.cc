#include "proxy/headers.h"

#include <array>

namespace bulwark {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

constexpr std::array<std::string_view, 8> kHopByHop = {
    "connection", "keep-alive", "proxy-connection", "te",
    "trailer",    "transfer-encoding", "upgrade",   "content-length"};

bool namedByConnection(const HeaderList& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equalsIgnoreCase(field.name, "connection") && headerHasToken(field.value, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

const HeaderField* findHeader(const HeaderList& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equalsIgnoreCase(field.name, name)) {
      return &field;
    }
  }
  return nullptr;
}

bool headerHasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (equalsIgnoreCase(trim(value.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

void appendEndToEndHeaders(std::string& out, const HeaderList& headers,
                           std::initializer_list<std::string_view> also_drop) {
  const bool has_connection = findHeader(headers, "connection") != nullptr;
  for (const HeaderField& field : headers) {
    bool drop = false;
    for (const std::string_view hop : kHopByHop) {
      drop = drop || equalsIgnoreCase(field.name, hop);
    }
    for (const std::string_view extra : also_drop) {
      drop = drop || equalsIgnoreCase(field.name, extra);
    }
    if (drop || (has_connection && namedByConnection(headers, field.name))) {
      continue;
    }
    out += field.name;
    out += ": ";
    out += field.value;
    out += "\r\n";
  }
}

}  // namespace bulwark
