// JSON-RPC ids compared as values (the declarations are in jsonrpc_envelope.h). A server answers
// with its own spelling of the request's id: JavaScript's JSON.parse and JSON.stringify turn `1.0`
// and `1e0` into `1`, `-0` into `0` and "\u00e9" into "é". Matching answers by text would miss
// every such answer, so each id gets a canonical text and the texts of those are compared.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/mcp/json_writer.h"
#include "proxy/mcp/jsonrpc_envelope.h"

namespace bulwark {
namespace {

// Integers up to this many digits are written out in full; beyond, and for fractions, the key
// uses an exponent, so `1e400` does not become 401 characters.
constexpr std::size_t kMaxPlainDigits = 40;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Reads \uXXXX at `i` (pointing at the 'u'); -1 when malformed.
std::int32_t readHex4(std::string_view s, std::size_t i) {
  if (i + 4 >= s.size())
    return -1;
  std::int32_t v = 0;
  for (std::size_t k = 1; k <= 4; ++k) {
    const int h = hexValue(s[i + k]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

// The value of a JSON string literal's contents (between the quotes). Input that is not valid
// JSON is kept as it is: a key only has to be equal for equal values.
std::string unescape(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out.push_back(c);
      continue;
    }
    const char e = body[++i];
    switch (e) {
    case 'b': out.push_back('\b'); break;
    case 'f': out.push_back('\f'); break;
    case 'n': out.push_back('\n'); break;
    case 'r': out.push_back('\r'); break;
    case 't': out.push_back('\t'); break;
    case 'u': {
      std::int32_t cp = readHex4(body, i);
      if (cp < 0) {
        out.push_back('\\');
        out.push_back(e);
        break;
      }
      i += 4;
      // A high surrogate followed by an escaped low one is one code point; a lone surrogate is
      // kept as its three bytes (WTF-8), which still compares equal to itself.
      if (cp >= 0xD800 && cp <= 0xDBFF && i + 2 < body.size() && body[i + 1] == '\\' &&
          body[i + 2] == 'u') {
        const std::int32_t low = readHex4(body, i + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
      }
      appendUtf8(out, static_cast<std::uint32_t>(cp));
      break;
    }
    default: out.push_back(e); // \" \\ \/
    }
  }
  return out;
}

// A JSON number's exact value in the form described at canonicalIdText.
std::string canonicalNumber(std::string_view raw) {
  std::size_t i = 0;
  const bool negative = i < raw.size() && raw[i] == '-';
  if (negative)
    ++i;
  std::string digits;
  std::int64_t exponent = 0;
  for (; i < raw.size() && isDigit(raw[i]); ++i)
    digits.push_back(raw[i]);
  if (i < raw.size() && raw[i] == '.') {
    for (++i; i < raw.size() && isDigit(raw[i]); ++i) {
      digits.push_back(raw[i]);
      --exponent;
    }
  }
  if (i < raw.size() && (raw[i] == 'e' || raw[i] == 'E')) {
    ++i;
    const bool negative_exponent = i < raw.size() && raw[i] == '-';
    if (i < raw.size() && (raw[i] == '+' || raw[i] == '-'))
      ++i;
    std::int64_t written = 0;
    for (; i < raw.size() && isDigit(raw[i]); ++i) {
      // Saturates far beyond any number a JSON parser would turn into something else.
      if (written < 1'000'000'000)
        written = written * 10 + (raw[i] - '0');
    }
    exponent += negative_exponent ? -written : written;
  }
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos)
    return "0"; // 0, -0, 0.0, 0e5
  digits.erase(0, first);
  const std::size_t last = digits.find_last_not_of('0');
  exponent += static_cast<std::int64_t>(digits.size() - last - 1);
  digits.erase(last + 1);

  std::string out;
  if (negative)
    out.push_back('-');
  out += digits;
  if (exponent >= 0 &&
      digits.size() + static_cast<std::size_t>(exponent) <= kMaxPlainDigits) {
    out.append(static_cast<std::size_t>(exponent), '0');
  } else {
    out.push_back('e');
    out += std::to_string(exponent);
  }
  return out;
}

// An integer without sign trouble, fraction or exponent, short enough to be written in full, is
// its own canonical form.
bool isCanonicalNumber(std::string_view raw) {
  if (raw == "-0")
    return false;
  const std::size_t digits = raw.size() - (raw.front() == '-' ? 1 : 0);
  if (digits > kMaxPlainDigits)
    return false;
  for (const char c : raw) {
    if (c == '.' || c == 'e' || c == 'E')
      return false;
  }
  return true;
}

} // namespace

std::optional<std::string> canonicalIdText(std::string_view id_json) {
  if (id_json.empty())
    return std::nullopt;
  if (id_json.front() == '"') {
    if (id_json.find('\\') == std::string_view::npos || id_json.size() < 2)
      return std::nullopt; // nothing escaped: appendJsonString would write it the same way
    std::string out;
    appendJsonString(out, unescape(id_json.substr(1, id_json.size() - 2)));
    return out == id_json ? std::nullopt : std::optional<std::string>(std::move(out));
  }
  if (id_json == "null" || isCanonicalNumber(id_json))
    return std::nullopt;
  return canonicalNumber(id_json);
}

bool sameIdValue(const Envelope& message, std::string_view id_json) {
  if (message.id.empty() || id_json.empty())
    return false;
  const std::optional<std::string> key = canonicalIdText(id_json);
  return message.idKey() == (key ? std::string_view(*key) : id_json);
}

bool sameIdText(std::string_view a_json, std::string_view b_json) {
  if (a_json == b_json)
    return true;
  if (a_json.empty() || b_json.empty())
    return false;
  const std::optional<std::string> a = canonicalIdText(a_json);
  const std::optional<std::string> b = canonicalIdText(b_json);
  return (a ? std::string_view(*a) : a_json) == (b ? std::string_view(*b) : b_json);
}

} // namespace bulwark
