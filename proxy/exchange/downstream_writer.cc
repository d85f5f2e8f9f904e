#include "proxy/exchange/downstream_writer.h"

#include "proxy/http/status_text.h"
#include "proxy/mcp/sse_writer.h"

namespace bulwark {

void sendJsonAnswer(ClientConnection& client, int status, std::string_view reason,
                    std::string_view header_lines, std::string_view body) {
  if (!client.responseStarted()) {
    client.sendResponseHead(status, reason, header_lines, BodyFraming::kContentLength,
                            body.size());
    client.sendResponseBody(body);
  } else if (!body.empty()) {
    client.sendResponseBody(sseMessageEvent(body));
  }
  client.endResponse();
}

void sendComposedAnswer(ClientConnection& client, std::string_view response_json,
                        std::string_view accept) {
  const bool takes_json = accept.empty() || accept.find("application/json") != std::string::npos ||
                          accept.find("*/*") != std::string::npos;
  if (client.responseStarted()) {
    client.sendResponseBody(sseMessageEvent(response_json));
  } else if (takes_json) {
    client.sendResponseHead(200, statusText(200), "Content-Type: application/json\r\n",
                            BodyFraming::kContentLength, response_json.size());
    client.sendResponseBody(response_json);
  } else {
    client.sendResponseHead(200, statusText(200),
                            "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
                            BodyFraming::kStreamed);
    client.sendResponseBody(sseMessageEvent(response_json));
  }
  client.endResponse();
}

void sendErrorAnswer(ClientConnection& client, const ErrorAnswer& answer, std::string_view body,
                     std::string_view extra_header_lines) {
  if (client.responseStarted()) {
    client.sendResponseBody(sseMessageEvent(body));
    client.endResponse();
    return;
  }
  client.sendSimpleResponse(answer.http_status, "application/json", body, extra_header_lines);
}

}  // namespace bulwark
