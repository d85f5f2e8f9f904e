// May this message be sent to the upstream again? (design.md, "Retry safety"). Pure: the proxy
// supplies the facts it knows about the request, its policy and the tool's annotations.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark::policies {

// The tool's annotations as learned from tools/list replies; nullopt when absent.
struct ToolAnnotations {
  std::optional<bool> read_only_hint;
  std::optional<bool> idempotent_hint;
};

enum class MessageKind : std::uint8_t {
  kRequest,        // a JSON-RPC request (has an id, expects a response)
  kNotification,   // no id, no response
  kClientResponse, // the client's answer to a server-to-client request (sampling, elicitation)
};

struct RetrySafetyFacts {
  bool may_have_reached_upstream = true; // mayHaveReachedUpstream(outcome)
  std::string_view method;
  MessageKind kind = MessageKind::kRequest;
  std::optional<bool> idempotent_override; // EffectivePolicy::idempotent (tool or method policy)
  ToolAnnotations annotations;             // only meaningful for tools/call
  bool trust_annotations = true;           // EffectivePolicy::trust_tool_annotations
};

enum class RetrySafety : std::uint8_t {
  kNeverSent,           // safe: nothing reached the upstream, so nothing can repeat
  kIdempotentPolicy,    // safe: the policy says idempotent: true
  kAnnotated,           // safe: readOnlyHint or idempotentHint, and annotations are trusted
  kSafeMethod,          // safe: a read or otherwise idempotent protocol method
  kOneWay,              // unsafe: a notification or client response that may have arrived
  kNotIdempotentPolicy, // unsafe: the policy says idempotent: false
  kUnknownSideEffects,  // unsafe: a tools/call (or unknown method) without any safety evidence
};

// The rules, in order:
//  1. a message that never reached the upstream may always be sent again (this includes
//     notifications and client responses: they were not delivered, so sending them is not a
//     repeat);
//  2. a notification or client response that may have arrived is never repeated;
//  3. an explicit `idempotent` in the tool's or method's policy decides (it overrides annotations);
//  4. tools/call: safe if readOnlyHint or idempotentHint is true and annotations are trusted;
//  5. other methods: safe if isSafeMethod(), else unsafe.
RetrySafety assessRetrySafety(const RetrySafetyFacts& facts);
bool isSafe(RetrySafety verdict);
bool mayRetry(const RetrySafetyFacts& facts);

// Protocol methods that read or are idempotent by definition: initialize, ping, server/discover,
// tools/list, resources/list, resources/templates/list, resources/read, resources/subscribe,
// resources/unsubscribe, prompts/list, prompts/get, completion/complete, logging/setLevel,
// tasks/get, tasks/list, tasks/result. Anything else (tools/call, tasks/cancel, extensions) is
// not assumed safe.
bool isSafeMethod(std::string_view method);

// "never_sent", "idempotent_policy", "annotated", "safe_method", "one_way",
// "not_idempotent_policy", "unknown_side_effects".
std::string_view retrySafetyName(RetrySafety verdict);

} // namespace bulwark::policies
