#include "proxy/mcp/json_rpc_errors.h"

#include "proxy/mcp/json_writer.h"

namespace bulwark {

std::string jsonRpcErrorBody(std::string_view id_json, const ProxyError& error) {
  std::string body;
  body.reserve(160 + error.detail.size());
  body += R"({"jsonrpc":"2.0","id":)";
  body += id_json.empty() ? std::string_view("null") : id_json;
  body += R"(,"error":{"code":)";
  body += std::to_string(error.code);
  body += R"(,"message":)";
  appendJsonString(body, error.message);
  body += R"(,"data":{"source":"bulwark")";
  if (!error.error_class.empty()) {
    body += R"(,"class":)";
    appendJsonString(body, error.error_class);
  }
  if (!error.detail.empty()) {
    body += R"(,"detail":)";
    appendJsonString(body, error.detail);
  }
  if (error.attempts > 0) {
    body += R"(,"attempts":)";
    body += std::to_string(error.attempts);
  }
  if (!error.give_up.empty()) {
    body += R"(,"gaveUp":)";
    appendJsonString(body, error.give_up);
  }
  body += "}}}";
  return body;
}

}  // namespace bulwark
