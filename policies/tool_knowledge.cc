#include "policies/tool_knowledge.h"

#include "policies/edit_distance.h"
#include "policies/glob.h"

#include <algorithm>
#include <limits>

namespace bulwark::policies {

std::string_view hintSourceName(HintSource source) {
  switch (source) {
  case HintSource::kListed:
    return "listed";
  case HintSource::kDiscovered:
    return "discovered";
  case HintSource::kCallerListing:
    return "caller_listing";
  }
  return "listed";
}

namespace {

std::optional<bool> saferHint(std::optional<bool> a, std::optional<bool> b) {
  if (a == false || b == false) {
    return false;
  }
  if (a == true && b == true) {
    return true;
  }
  return std::nullopt;
}


} // namespace

ToolAnnotations saferReading(const ToolAnnotations& a, const ToolAnnotations& b) {
  return {saferHint(a.read_only_hint, b.read_only_hint),
          saferHint(a.idempotent_hint, b.idempotent_hint)};
}

bool sameHints(const ToolAnnotations& a, const ToolAnnotations& b) {
  return a.read_only_hint == b.read_only_hint && a.idempotent_hint == b.idempotent_hint;
}

HintMerge mergeHints(const std::optional<ToolAnnotations>& known, std::uint64_t known_generation,
                     const ToolAnnotations& listed, std::uint64_t current_generation) {
  if (!known || known_generation != current_generation || sameHints(*known, listed)) {
    return {listed, false};
  }
  const ToolAnnotations safer = saferReading(*known, listed);
  // Already the safer reading of an earlier conflict: agreeing with it again is no news.
  return {safer, !sameHints(safer, *known)};
}

PageStep nextPageStep(int pages_read, std::string_view next_cursor,
                      const std::vector<std::string>& cursors_seen) {
  if (next_cursor.empty()) {
    return PageStep::kDone;
  }
  if (pages_read >= kMaxListingPages ||
      std::find(cursors_seen.begin(), cursors_seen.end(), next_cursor) != cursors_seen.end()) {
    return PageStep::kEndless;
  }
  return PageStep::kNext;
}

std::chrono::milliseconds nextRefreshIn(std::chrono::milliseconds interval,
                                        std::optional<std::int64_t> ttl_ms) {
  std::chrono::milliseconds next = interval;
  if (ttl_ms && *ttl_ms >= 0 && std::chrono::milliseconds(*ttl_ms) < next) {
    next = std::chrono::milliseconds(*ttl_ms);
  }
  return std::max(next, kMinRefresh);
}

std::chrono::milliseconds retryListingIn(int consecutive_failures,
                                         std::chrono::milliseconds interval) {
  std::chrono::milliseconds next = kMinRefresh;
  for (int i = 1; i < consecutive_failures && next < interval; ++i) {
    next *= 2;
  }
  return std::max(std::min(next, interval), kMinRefresh);
}

bool NeverRanStatuses::contains(int status) const {
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

bool neverRan(const Outcome& outcome, const NeverRanStatuses& statuses) {
  return !mayHaveReachedUpstream(outcome) ||
         (outcome.kind == OutcomeKind::kHttpStatus && statuses.contains(outcome.http_status));
}

std::string closestToolName(std::string_view pattern, const std::vector<std::string>& tools) {
  std::string literal;
  for (const char c : pattern) {
    if (c != '*' && c != '?') {
      literal += c;
    }
  }
  // A trailing '*' matches any tail: compare with the tool's head of the same length.
  const bool prefix_only = !pattern.empty() && pattern.back() == '*';
  const std::size_t allowed = std::max<std::size_t>(2, literal.size() / 3);
  std::size_t best = std::numeric_limits<std::size_t>::max();
  std::string closest;
  for (const std::string& tool : tools) {
    const std::string_view compared =
        prefix_only ? std::string_view(tool).substr(0, literal.size()) : std::string_view(tool);
    const std::size_t distance = editDistance(literal, compared);
    if (distance <= allowed && distance < best) {
      best = distance;
      closest = tool;
    }
  }
  return closest;
}

std::vector<UnmatchedRule> unmatchedRules(const std::vector<std::string>& patterns,
                                          const std::vector<std::string>& tools) {
  std::vector<UnmatchedRule> unmatched;
  for (const std::string& pattern : patterns) {
    const bool matches = std::any_of(tools.begin(), tools.end(), [&](const std::string& tool) {
      return isGlob(pattern) ? globMatch(pattern, tool) : pattern == tool;
    });
    if (!matches) {
      unmatched.push_back({pattern, closestToolName(pattern, tools)});
    }
  }
  return unmatched;
}

} // namespace bulwark::policies
