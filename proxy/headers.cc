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

// The fixed hop-by-hop set (RFC 9110 7.6.1) plus Content-Length, which the proxy frames itself.
// Checked by length first: most end-to-end names fail that test with no character compared.
bool isFixedHopByHop(std::string_view name) {
  switch (name.size()) {
  case 2: return equalsIgnoreCase(name, "te");
  case 7: return equalsIgnoreCase(name, "trailer") || equalsIgnoreCase(name, "upgrade");
  case 10: return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
  case 14: return equalsIgnoreCase(name, "content-length");
  case 16: return equalsIgnoreCase(name, "proxy-connection");
  case 17: return equalsIgnoreCase(name, "transfer-encoding");
  default: return false;
  }
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

namespace {

bool namedByConnection(const HeaderList& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equalsIgnoreCase(field.name, "connection") && headerHasToken(field.value, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void appendEndToEndHeaders(std::string& out, const HeaderList& headers,
                           std::initializer_list<std::string_view> also_drop) {
  // The names the Connection fields list are collected once, not looked up per field.
  std::array<std::string_view, 8> named{};
  std::size_t named_count = 0;
  bool named_overflow = false;
  for (const HeaderField& field : headers) {
    if (field.name.size() != 10 || !equalsIgnoreCase(field.name, "connection")) {
      continue;
    }
    std::string_view value = field.value;
    while (!value.empty()) {
      const auto comma = value.find(',');
      const std::string_view token = trim(value.substr(0, comma));
      if (!token.empty()) {
        if (named_count < named.size()) {
          named[named_count++] = token;
        } else {
          named_overflow = true;
        }
      }
      if (comma == std::string_view::npos) {
        break;
      }
      value.remove_prefix(comma + 1);
    }
  }
  for (const HeaderField& field : headers) {
    bool drop = isFixedHopByHop(field.name);
    for (const std::string_view extra : also_drop) {
      drop = drop || equalsIgnoreCase(field.name, extra);
    }
    for (std::size_t i = 0; i < named_count && !drop; ++i) {
      drop = equalsIgnoreCase(field.name, named[i]);
    }
    if (!drop && named_overflow) {
      drop = namedByConnection(headers, field.name);  // rare: more names than the array holds
    }
    if (drop) {
      continue;
    }
    out += field.name;
    out += ": ";
    out += field.value;
    out += "\r\n";
  }
}

}  // namespace bulwark
