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
// Implementation-defined server errors (-32000..-32099) for conditions of the proxy itself.
inline constexpr int kUpstreamUnavailable = -32001;
}  // namespace jsonrpc

struct ProxyError {
  int code = jsonrpc::kInternalError;
  std::string_view message;     // short, stable text
  std::string_view detail;      // the specific cause, e.g. "connect: ECONNREFUSED"
  std::string_view error_class;  // the failure class policies reason about, e.g. "upstream"
};

// {"jsonrpc":"2.0","id":<id_json or null>,"error":{"code":..,"message":..,
//  "data":{"class":..,"detail":..,"source":"bulwark"}}}
// `id_json` is the request id's JSON text as the client sent it; empty means null.
std::string jsonRpcErrorBody(std::string_view id_json, const ProxyError& error);

}  // namespace bulwark
