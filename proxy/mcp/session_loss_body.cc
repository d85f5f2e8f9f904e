#include "proxy/mcp/session_loss_body.h"

#include "proxy/mcp/jsonrpc_envelope.h"

#include <string>

namespace bulwark {
namespace {

// The data of an SSE stream's first event (its data lines joined), or `body` itself when it
// does not look like SSE.
std::string_view firstEventData(std::string_view body, std::string& joined) {
  const bool sse = body.starts_with("event:") || body.starts_with("data:") ||
                   body.starts_with("id:") || body.starts_with(":");
  if (!sse) {
    return body;
  }
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t end = body.find('\n', at);
    if (end == std::string_view::npos) {
      end = body.size();
    }
    std::string_view line = body.substr(at, end - at);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    if (line.empty() && !joined.empty()) {
      break; // the end of the first event with data
    }
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) {
        line.remove_prefix(1);
      }
      if (!joined.empty()) {
        joined.push_back('\n');
      }
      joined.append(line);
    }
    at = end + 1;
  }
  return joined;
}

} // namespace

policies::SessionLossVerdict judgeSessionLossWithBody(EnvelopeParser& parser,
                                                      policies::SessionLossFacts facts,
                                                      std::string_view body) {
  std::string joined;
  const std::string_view json = firstEventData(body, joined);
  EnvelopeResult parsed = parser.parse(json);
  if (parsed.error == EnvelopeError::kInvalidMessage) {
    // server-everything leaves the id out of its 400 (`id: req.body?.id` of a request it could
    // not route); the reader refuses a response without one. Read it as if the id were null:
    // if it had an id after all, the second one makes this fail too.
    const std::size_t open = json.find_first_not_of(" \t\r\n");
    if (open != std::string_view::npos && json[open] == '{') {
      std::string with_id = "{\"id\":null,";
      with_id.append(json.substr(open + 1));
      if (EnvelopeResult again = parser.parse(with_id); again.error == EnvelopeError::kNone) {
        parsed = std::move(again);
      }
    }
  }
  if (parsed.error == EnvelopeError::kInvalidJson) {
    facts.error_message = json; // plain text, e.g. "Bad Request: No valid session ID provided"
    return policies::judgeSessionLoss(facts);
  }
  for (const Envelope& message : parsed.parsed.messages) {
    if (message.kind == MessageKind::kError) {
      facts.jsonrpc_code = message.error_code;
      facts.error_message = message.error_message;
      return policies::judgeSessionLoss(facts); // `parsed` outlives the message's view
    }
  }
  return policies::judgeSessionLoss(facts); // JSON, but no JSON-RPC error in it
}

} // namespace bulwark
