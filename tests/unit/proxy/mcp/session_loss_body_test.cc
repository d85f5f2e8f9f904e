// What an upstream's 404 or 400 body says about the session, read with the one JSON reader.
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/mcp/session_loss_body.h"

#include <doctest/doctest.h>

using namespace bulwark;
using policies::SessionLossVerdict;

namespace {

policies::SessionLossFacts inSession(int status) {
  policies::SessionLossFacts facts;
  facts.http_status = status;
  facts.session_id_sent = true;
  facts.mcp_endpoint = true;
  facts.http_method = "POST";
  facts.protocol_version = "2025-06-18";
  return facts;
}

struct Row {
  const char* what;
  int status;
  const char* body;
  SessionLossVerdict expected;
};

const Row kRows[] = {
    {"server-everything's 400", 400,
     R"({"jsonrpc":"2.0","error":{"code":-32000,)"
     R"("message":"Bad Request: No valid session ID provided"},"id":null})",
     SessionLossVerdict::kLost},
    {"server-everything's 400 without an id", 400,
     R"({"jsonrpc":"2.0","error":{"code":-32000,)"
     R"("message":"Bad Request: No valid session ID provided"}})",
     SessionLossVerdict::kLost},
    {"an id-less 400 with invalid params", 400,
     R"( {"jsonrpc":"2.0","error":{"code":-32602,"message":"Unknown session_name"}})",
     SessionLossVerdict::kNotAboutTheSession},
    {"the same 400 as an SSE event", 400,
     "event: message\r\ndata: "
     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"Session "
     "not found\"},\"id\":1}\r\n\r\n",
     SessionLossVerdict::kLost},
    {"a plain-text 400", 400, "Bad Request: No valid session ID provided",
     SessionLossVerdict::kLost},
    {"a 400 with invalid params", 400,
     R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid session_name"},"id":3})",
     SessionLossVerdict::kNotAboutTheSession},
    {"a 400 mentioning the session", 400,
     R"({"jsonrpc":"2.0","error":{"code":-32000,)"
     R"("message":"this session may not change its name"},"id":3})",
     SessionLossVerdict::kNotAboutTheSession},
    {"a 400 in JSON that is not JSON-RPC", 400, R"({"error":"session not found"})",
     SessionLossVerdict::kNotAboutTheSession},
    {"an empty 404", 404, "", SessionLossVerdict::kLost},
    {"the SDK's 404", 404,
     R"({"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null})",
     SessionLossVerdict::kLost},
    {"a routing 404", 404, R"({"detail":"Not Found"})", SessionLossVerdict::kLost},
    {"a 404 saying method not found", 404,
     R"({"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}})",
     SessionLossVerdict::kMethodNotFound},
};

} // namespace

TEST_CASE("judgeSessionLossWithBody reads the JSON-RPC error, an SSE event's, or the text") {
  EnvelopeParser parser;
  for (const Row& row : kRows) {
    CAPTURE(row.what);
    CHECK(policies::sessionLossVerdictName(
              judgeSessionLossWithBody(parser, inSession(row.status), row.body)) ==
          policies::sessionLossVerdictName(row.expected));
  }
}
