// JSON-RPC error objects that Bulwark itself answers with (it never rewrites an upstream's).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark {

namespace jsonrpc {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kInternalError = -32603;
// Implementation-defined server errors (-32000..-32099), numbered as the MCP SDKs number them
// (ConnectionClosed, RequestTimeout) so that clients already know what they mean.
inline constexpr int kUpstreamUnavailable = -32000;
inline constexpr int kRequestTimeout = -32001;
}  // namespace jsonrpc

struct ProxyError {
  int code = jsonrpc::kInternalError;
  std::string_view message;     // short, stable text
  std::string_view detail;      // the specific cause, e.g. "connect: ECONNREFUSED"
  std::string_view error_class;  // the failure class policies reason about, e.g. "upstream"
  int attempts = 0;              // upstream attempts made; 0 when none was (bad input)
  std::string_view give_up;      // why no further attempt was made, e.g. "unsafe"
};

// {"jsonrpc":"2.0","id":<id_json or null>,"error":{"code":..,"message":..,
//  "data":{"source":"bulwark","class":..,"detail":..,"attempts":..,"gaveUp":..}}}
// `id_json` is the request id's JSON text as the client sent it; empty means null.
std::string jsonRpcErrorBody(std::string_view id_json, const ProxyError& error);

}  // namespace bulwark
