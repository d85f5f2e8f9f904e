// What Bulwark knows about the upstream's tools, and the pure rules around learning it (issue
// #14): which listing's hints win, how far a paginated listing may go, when to list again, and
// which upstream statuses mean "the request never ran". No I/O: the proxy supplies the facts.
#pragma once

#include "policies/outcome.h"
#include "policies/retry_safety.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::policies {

// Where a tool's hints came from. Explicit configuration (`idempotent:` in a tool rule) is not a
// hint source: it overrides the hints in the retry decision (retry_safety.h, rule 3), and the
// admin view reports it as `config`.
enum class HintSource : std::uint8_t {
  kListed,        // a client's tools/list reply that passed through Bulwark
  kDiscovered,    // Bulwark's own listing (discovery)
  kCallerListing, // Bulwark's listing with a caller's credentials, before a retry decision
};
std::string_view hintSourceName(HintSource source); // "listed", "discovered", "caller_listing"

// The safer reading of two disagreeing hint sets, hint by hint: `true` only when both say true;
// `false` when either says false; otherwise no evidence. A tool is repeatable when either hint is
// true (retry_safety.h), so the merge is never more repeatable than either input.
ToolAnnotations saferReading(const ToolAnnotations& a, const ToolAnnotations& b);
bool sameHints(const ToolAnnotations& a, const ToolAnnotations& b);

// How a listing's hints combine with what is known. Listings of the same generation (no
// list_changed, no upstream restart in between) that disagree are a conflict: the safer reading
// wins and the caller logs one warning. A listing of a newer generation replaces older hints.
struct HintMerge {
  ToolAnnotations hints;
  bool conflict = false; // disagreed with a same-generation listing
};
HintMerge mergeHints(const std::optional<ToolAnnotations>& known, std::uint64_t known_generation,
                     const ToolAnnotations& listed, std::uint64_t current_generation);

// Pagination of Bulwark's own listings: follow nextCursor for at most kMaxListingPages pages; a
// cursor seen before, or a 101st page, means pagination that never ends.
inline constexpr int kMaxListingPages = 100;
enum class PageStep : std::uint8_t {
  kDone,    // no nextCursor: the listing is complete
  kNext,    // ask for the page at next_cursor
  kEndless, // too many pages, or a cursor that repeats: give up, keep the catalog as it was
};
PageStep nextPageStep(int pages_read, std::string_view next_cursor,
                      const std::vector<std::string>& cursors_seen);

// When to list again after a successful listing: the configured interval, shortened by a 2026
// server's ttlMs (never below kMinRefresh, so a server saying ttlMs: 0 is not listed in a loop).
inline constexpr std::chrono::milliseconds kMinRefresh{1000};
std::chrono::milliseconds nextRefreshIn(std::chrono::milliseconds interval,
                                        std::optional<std::int64_t> ttl_ms);
// After a failed listing: a capped doubling from kMinRefresh, never later than the interval.
std::chrono::milliseconds retryListingIn(int consecutive_failures,
                                         std::chrono::milliseconds interval);

// HTTP statuses that mean the server did not handle the request (RFC 6585 4 for 429, RFC 9110
// 15.6.4 for 503): such an attempt never ran, like a refused connection, and may be repeated even
// for a tool with side effects. Configurable; an empty list turns the rule off.
struct NeverRanStatuses {
  std::vector<int> statuses{429, 503};
  bool contains(int status) const;
};
// Whether `outcome` proves the request never ran upstream: a connect that failed, or an HTTP
// answer whose status is in `statuses`.
bool neverRan(const Outcome& outcome, const NeverRanStatuses& statuses);

// Tool rules whose pattern matches none of the known tools (issue #18 item 5): the pattern and
// the closest known tool name (empty when none is close), for one warning per rule.
struct UnmatchedRule {
  std::string match;
  std::string closest;
};
std::vector<UnmatchedRule> unmatchedRules(const std::vector<std::string>& patterns,
                                          const std::vector<std::string>& tools);
// The tool name nearest to `pattern` (edit distance on the pattern's literal characters, at
// most a third of its length, and at least 2 for short names); empty when none is near.
std::string closestToolName(std::string_view pattern, const std::vector<std::string>& tools);

} // namespace bulwark::policies
