#include "policies/session_loss.h"

#include <array>
#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

namespace bulwark::policies {
namespace {

constexpr std::string_view kFirstStatelessVersion = "2026-07-28";
constexpr std::int64_t kMethodNotFound = -32601;
constexpr std::int64_t kResourceNotFound = -32002;
// Error codes that say what was wrong with the request itself, never with its session.
constexpr std::array<std::int64_t, 3> kRequestErrors = {-32700, -32601, -32602};
// An error message longer than this is not read for the session (a server's session error is
// one short sentence; a long body is something else).
constexpr std::size_t kMaxMessageBytes = 512;
constexpr std::size_t kMaxWords = 64;

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Lower-cased words: letters, digits, '-' and '_' (so "session_name" stays one word and is no
// "session", and an id such as "3f2a-9c" is one word).
std::vector<std::string> wordsOf(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_') {
      word.push_back(static_cast<char>(std::tolower(u)));
      continue;
    }
    if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
      if (words.size() == kMaxWords) {
        return words;
      }
    }
  }
  if (!word.empty()) {
    words.push_back(std::move(word));
  }
  return words;
}

bool isSessionWord(std::string_view word) {
  return word == "session" || word == "session-id" || word == "session_id" || word == "sessionid" ||
         word == "mcp-session-id";
}

bool isUnknownWord(std::string_view word) {
  return word == "invalid" || word == "unknown" || word == "expired";
}

// The word at `at`, or "" past the end.
std::string_view wordAt(const std::vector<std::string>& words, std::size_t at) {
  return at < words.size() ? std::string_view(words[at]) : std::string_view();
}

// "no valid session", "invalid session", "unknown (mcp) session", "expired session"
bool unknownBefore(const std::vector<std::string>& words, std::size_t session_at) {
  std::size_t at = session_at;
  if (at > 0 && words[at - 1] == "mcp") {
    --at;
  }
  if (at == 0) {
    return false;
  }
  const std::string_view before = words[at - 1];
  return isUnknownWord(before) || (before == "valid" && at >= 2 && words[at - 2] == "no");
}

// "session (id) (<id>) not found | is invalid | is unknown | does not exist | expired"
bool unknownAfter(const std::vector<std::string>& words, std::size_t session_at) {
  std::size_t at = session_at + 1;
  if (wordAt(words, at) == "id" || wordAt(words, at) == "ids") {
    ++at;
  }
  const auto saysUnknownAt = [&words](std::size_t from) {
    std::string_view word = wordAt(words, from);
    if (word == "is" || word == "was" || word == "has") {
      word = wordAt(words, ++from);
    }
    if (isUnknownWord(word)) {
      return true;
    }
    if (word == "does" && wordAt(words, from + 1) == "not") {
      return wordAt(words, from + 2) == "exist";
    }
    if (word == "not") {
      const std::string_view next = wordAt(words, from + 1);
      return next == "found" || next == "valid" || next == "known";
    }
    return false;
  };
  // The id itself may stand between the session and the verdict: "Session abc123 not found".
  return saysUnknownAt(at) || saysUnknownAt(at + 1);
}

} // namespace

bool isStatelessProtocolVersion(std::string_view version) {
  if (version.size() != kFirstStatelessVersion.size()) {
    return false;
  }
  for (std::size_t i = 0; i < version.size(); ++i) {
    const bool dash = i == 4 || i == 7;
    if (dash ? version[i] != '-' : std::isdigit(static_cast<unsigned char>(version[i])) == 0) {
      return false;
    }
  }
  return version >= kFirstStatelessVersion; // dates of one format compare as text
}

bool saysSessionUnknown(std::string_view message) {
  if (message.size() > kMaxMessageBytes) {
    return false;
  }
  const std::vector<std::string> words = wordsOf(message);
  for (std::size_t at = 0; at < words.size(); ++at) {
    if (isSessionWord(words[at]) && (unknownBefore(words, at) || unknownAfter(words, at))) {
      return true;
    }
  }
  return false;
}

namespace {

// Everything but the body: kLost means "the body decides".
SessionLossVerdict judgeHead(const SessionLossFacts& facts) {
  if (facts.http_status != 404 && facts.http_status != 400) {
    return SessionLossVerdict::kNotASessionSignal;
  }
  if (!facts.session_id_sent) {
    return SessionLossVerdict::kNoSessionSent;
  }
  if (isStatelessProtocolVersion(facts.protocol_version)) {
    return SessionLossVerdict::kStatelessEra;
  }
  if (!facts.mcp_endpoint) {
    return SessionLossVerdict::kNotMcpEndpoint;
  }
  if (!equalsIgnoreCase(facts.http_method, "POST") && !equalsIgnoreCase(facts.http_method, "GET")) {
    return SessionLossVerdict::kMethodNotHandled;
  }
  return SessionLossVerdict::kLost;
}

} // namespace

bool couldMeanLostSession(const SessionLossFacts& facts) {
  return judgeHead(facts) == SessionLossVerdict::kLost;
}

SessionLossVerdict judgeSessionLoss(const SessionLossFacts& facts) {
  if (const SessionLossVerdict head = judgeHead(facts); head != SessionLossVerdict::kLost) {
    return head;
  }
  if (facts.http_status == 404) {
    const bool refused =
        facts.jsonrpc_code == kMethodNotFound || facts.jsonrpc_code == kResourceNotFound;
    return refused ? SessionLossVerdict::kMethodNotFound : SessionLossVerdict::kLost;
  }
  for (const std::int64_t code : kRequestErrors) {
    if (facts.jsonrpc_code == code) {
      return SessionLossVerdict::kNotAboutTheSession;
    }
  }
  return saysSessionUnknown(facts.error_message) ? SessionLossVerdict::kLost
                                                 : SessionLossVerdict::kNotAboutTheSession;
}

std::string_view sessionLossVerdictName(SessionLossVerdict verdict) {
  switch (verdict) {
  case SessionLossVerdict::kLost:
    return "lost";
  case SessionLossVerdict::kNotASessionSignal:
    return "not_a_session_signal";
  case SessionLossVerdict::kNoSessionSent:
    return "no_session_sent";
  case SessionLossVerdict::kStatelessEra:
    return "stateless_era";
  case SessionLossVerdict::kNotMcpEndpoint:
    return "not_mcp_endpoint";
  case SessionLossVerdict::kMethodNotHandled:
    return "method_not_handled";
  case SessionLossVerdict::kMethodNotFound:
    return "method_not_found";
  case SessionLossVerdict::kNotAboutTheSession:
    return "not_about_the_session";
  }
  return "unknown";
}

} // namespace bulwark::policies
