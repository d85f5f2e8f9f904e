// The body half of policies::judgeSessionLoss: what an upstream's 404 or 400 says, read with the
// one JSON reader. The proxy asks policies::couldMeanLostSession() on the head; when that holds
// it keeps the body (bounded) and asks here.
#pragma once

#include "policies/session_loss.h"

#include <string_view>

namespace bulwark {

class EnvelopeParser;

// Fills the body facts of `facts` from `body` and judges. The body is a JSON-RPC error (its code
// and message count), an SSE stream (its first event's data is read as such), or anything else
// (its text counts as the message). Allocates only on this error path.
policies::SessionLossVerdict judgeSessionLossWithBody(EnvelopeParser& parser,
                                                      policies::SessionLossFacts facts,
                                                      std::string_view body);

} // namespace bulwark
