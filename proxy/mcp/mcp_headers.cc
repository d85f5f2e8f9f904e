#include "proxy/mcp/mcp_headers.h"

#include <array>
#include <cstdint>

namespace bulwark {

namespace {

constexpr std::string_view kSentinelPrefix = "=?base64?";
constexpr std::string_view kSentinelSuffix = "?=";

constexpr std::array<std::int8_t, 256> base64Table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table)
    entry = -1;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}

// Quoted for the error message, and cut short: a header may be long, the message need not be.
std::string quoted(std::string_view value) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  out.append(value.substr(0, kMax));
  if (value.size() > kMax)
    out.append("...");
  out.push_back('\'');
  return out;
}

} // namespace

std::optional<std::string> decodeBase64(std::string_view text) {
  static constexpr std::array<std::int8_t, 256> kTable = base64Table();
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int held = 0;
  for (const char c : text) {
    const std::int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0)
      return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<char>((bits >> held) & 0xFF));
    }
  }
  return out;
}

std::optional<McpHeaderText> decodeMcpHeaderValue(std::string_view value) {
  McpHeaderText out;
  const bool sentinel = value.size() >= kSentinelPrefix.size() + kSentinelSuffix.size() &&
                        value.substr(0, kSentinelPrefix.size()) == kSentinelPrefix &&
                        value.substr(value.size() - kSentinelSuffix.size()) == kSentinelSuffix;
  if (!sentinel) {
    out.plain = value;
    return out;
  }
  std::optional<std::string> decoded = decodeBase64(value.substr(
      kSentinelPrefix.size(), value.size() - kSentinelPrefix.size() - kSentinelSuffix.size()));
  if (!decoded)
    return std::nullopt;
  out.decoded = std::move(*decoded);
  out.encoded = true;
  return out;
}

std::optional<std::string> headerMismatch(const McpHeaders& headers, const Envelope& request) {
  if (headers.method && *headers.method != request.method) {
    return "Header mismatch: Mcp-Method header value " + quoted(*headers.method) +
           " does not match body value " + quoted(request.method);
  }
  const bool mirrors_name = request.method == "tools/call" || request.method == "prompts/get" ||
                            request.method == "resources/read";
  if (!headers.name || !mirrors_name)
    return std::nullopt;
  const std::optional<McpHeaderText> name = decodeMcpHeaderValue(*headers.name);
  if (!name)
    return "Header mismatch: Mcp-Name header value " + quoted(*headers.name) +
           " is not valid Base64";
  if (name->text() != request.mcpName()) {
    return "Header mismatch: Mcp-Name header value " + quoted(name->text()) +
           " does not match body value " + quoted(request.mcpName());
  }
  return std::nullopt;
}

} // namespace bulwark
