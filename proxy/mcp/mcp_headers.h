// The 2026-07-28 standard request headers: `Mcp-Method` and `Mcp-Name` mirror the body's method
// and its params.name (tools/call, prompts/get) or params.uri (resources/read). An intermediary
// that acts on headers must refuse a request whose headers and body disagree (400, JSON-RPC
// -32020 HeaderMismatch), so that nothing routes on one value while the server runs another.
// Bulwark itself routes and labels metrics from the body; it checks only what is present.
#pragma once

#include "proxy/mcp/jsonrpc_envelope.h"

#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

// JSON-RPC error code of a header/body mismatch (2026-07-28 HeaderMismatch).
inline constexpr int kHeaderMismatchCode = -32020;

// The value of an `Mcp-Name` (or `Mcp-Param-*`) header as text: a plain value as it is, a value
// in the Base64 sentinel form `=?base64?{standard Base64 of the UTF-8 text}?=` (markers
// lowercase, case-sensitive) decoded. nullopt when the sentinel form holds invalid Base64.
// Allocates only for the sentinel form.
struct McpHeaderText {
  std::string_view plain; // the value itself, when not encoded
  std::string decoded;    // the decoded value, when encoded
  bool encoded = false;
  std::string_view text() const { return encoded ? std::string_view(decoded) : plain; }
};
std::optional<McpHeaderText> decodeMcpHeaderValue(std::string_view value);

// Standard Base64 (RFC 4648 section 4), with or without its `=` padding; nullopt on a character
// outside the alphabet or an impossible length.
std::optional<std::string> decodeBase64(std::string_view text);

// What the request's headers said; a header absent from the request is nullopt.
struct McpHeaders {
  std::optional<std::string_view> method; // Mcp-Method
  std::optional<std::string_view> name;   // Mcp-Name
};

// Why the headers present disagree with `request` (a parsed request envelope), as the message of
// the -32020 answer; nullopt when they agree or are absent. Header values are case-sensitive and
// compared exactly (after decoding). `Mcp-Name` on a method that mirrors no name is left alone.
std::optional<std::string> headerMismatch(const McpHeaders& headers, const Envelope& request);

} // namespace bulwark
