// The response cache: successful results kept for their ttl (fresh: answered without contacting
// the upstream) and then for stale_if_error (stale: served only when recovery asks for it),
// least-recently-used entries evicted to stay within a byte budget. And the key builder, whose
// encoding keeps every caller's entries apart.
//
// Time windows for an entry stored at t with ttl T and stale_if_error S (half-open intervals):
//   [t, t+T)        fresh
//   [t+T, t+T+S)    stale
//   [t+T+S, ...)    gone: a lookup misses and removes it
//
// Not thread-safe (one event loop). Pure: time comes from the caller; no I/O. Never throws except
// std::bad_alloc.
#pragma once

#include "policies/cache_policy.h"
#include "policies/duration.h"

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bulwark::policies {

// Who may read an entry. Built by the proxy: shared(), or callerOf(CallerIdentity::text(), see
// policies/cache_identity.h: session, credentials, query). A caller identity is never equal to
// the shared scope, whatever its text.
struct CacheKeyScope {
  CacheScope kind = CacheScope::kCaller;
  std::string_view caller; // only for kCaller; empty for an anonymous caller

  static CacheKeyScope shared() { return {CacheScope::kShared, {}}; }
  static CacheKeyScope callerOf(std::string_view identity) {
    return {CacheScope::kCaller, identity};
  }
};

// The cache key: "bk1" followed by each field as <decimal length>:<bytes>, in this order:
// method, tool, canonical params, protocol version, scope ("s" for shared, "c" + identity for a
// caller). Every field is length-prefixed, so the encoding is injective: two different inputs
// never give the same key, whatever bytes the fields contain. `canonical_params` is the
// canonical JSON text of the request's params (key order and whitespace normalised by the proxy)
// minus anything that does not affect the answer (the proxy's choice, e.g. `_meta`).
std::string cacheKey(std::string_view method, std::string_view tool,
                     std::string_view canonical_params, std::string_view protocol_version,
                     const CacheKeyScope& scope);

// What the proxy stores: the JSON text of the JSON-RPC `result`, the content type of the
// response it came in, and flags the cache does not interpret.
struct CachedResponse {
  std::string result_json;
  std::string content_type;
  std::uint32_t flags = 0;
  bool operator==(const CachedResponse&) const = default;
};

struct CacheEntry {
  CachedResponse response;
  TimePoint stored_at{};
  TimePoint fresh_until{}; // stored_at + ttl
  TimePoint stale_until{}; // fresh_until + stale_if_error
  std::size_t bytes = 0;   // what it counts against the budget (ResponseCache::entryBytes)
};

enum class CacheLookupResult : std::uint8_t { kMiss, kFresh, kStale };

// "miss", "hit", "stale" (label values of bulwark_cache_requests_total{result}).
std::string_view cacheLookupResultName(CacheLookupResult result);

struct CacheLookup {
  CacheLookupResult result = CacheLookupResult::kMiss;
  // Set for kFresh and kStale. Valid until the next non-const call on the cache: copy what you
  // need before inserting, erasing or looking up again.
  const CacheEntry* entry = nullptr;
  Duration age{0}; // now - stored_at

  bool fresh() const { return result == CacheLookupResult::kFresh; }
  bool stale() const { return result == CacheLookupResult::kStale; }
  bool miss() const { return result == CacheLookupResult::kMiss; }
};

enum class CacheInsertResult : std::uint8_t {
  kStored,        // a new entry
  kReplaced,      // replaced the entry under the same key
  kTooLarge,      // larger than the whole budget: not stored (an older entry under the key is
                  // removed: it no longer matches what the upstream answers)
  kNothingToKeep, // ttl and stale_if_error both <= 0: not stored (older entry removed too)
};

struct CacheStats {
  std::uint64_t hits = 0;        // fresh answers (lookup or lookupStale)
  std::uint64_t misses = 0;      // lookup() found nothing fresh (stale or absent)
  std::uint64_t stale = 0;       // lookupStale() returned a stale entry
  std::uint64_t insertions = 0;  // kStored + kReplaced
  std::uint64_t evictions = 0;   // least recently used entries removed to make room
  std::uint64_t expirations = 0; // entries removed because they were past stale_until
  std::uint64_t rejected_too_large = 0;
  std::uint64_t bytes = 0;   // current
  std::uint64_t entries = 0; // current
};

class ResponseCache {
public:
  static constexpr std::size_t kDefaultMaxBytes = std::size_t{64} * 1024 * 1024;
  // Bookkeeping charged per entry on top of its strings (nodes, index, expiry map).
  static constexpr std::size_t kEntryOverhead = 160;

  explicit ResponseCache(std::size_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  // The fresh path, before contacting the upstream. kFresh: answer from entry (counts a hit,
  // marks it recently used). kStale: an entry exists but is only good for recovery (counts a
  // miss; not marked used). kMiss: nothing (counts a miss; an entry past stale_until is removed).
  CacheLookup lookup(std::string_view key, TimePoint now);
  // The recovery path, after the upstream failed: kFresh (someone refreshed it meanwhile; counts
  // a hit) or kStale (counts stale), both marked used; kMiss counts nothing (lookup() already
  // counted this request's miss).
  CacheLookup lookupStale(std::string_view key, TimePoint now);
  // Observes without counting, touching or removing.
  CacheLookup peek(std::string_view key, TimePoint now) const;

  // Stores `value` under `key` for ttl + stale_if_error (negative durations count as 0). Makes
  // room by removing entries past stale_until first, then the least recently used ones.
  CacheInsertResult insert(std::string key, CachedResponse value, Duration ttl,
                           Duration stale_if_error, TimePoint now);
  bool erase(std::string_view key);
  void clear();
  // Removes every entry past stale_until; returns how many.
  std::size_t purgeExpired(TimePoint now);
  // A new budget (config reload): evicts least recently used entries until it fits.
  void setMaxBytes(std::size_t max_bytes);

  std::size_t maxBytes() const { return max_bytes_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t size() const { return index_.size(); }
  CacheStats stats() const;

  // key + result_json + content_type + kEntryOverhead.
  static std::size_t entryBytes(std::string_view key, const CachedResponse& value);

private:
  struct Node;
  using List = std::list<Node>;
  using ExpiryMap = std::multimap<TimePoint, List::iterator>;
  struct Node {
    std::string key;
    CacheEntry entry;
    ExpiryMap::iterator expiry;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Keys are views of Node::key (list nodes never move).
  using Index = std::unordered_map<std::string_view, List::iterator, StringHash, std::equal_to<>>;

  void remove(List::iterator it);
  void evictUntilFits(std::size_t incoming);
  CacheLookup describe(const Node& node, TimePoint now) const;

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  List lru_; // front: most recently used
  Index index_;
  ExpiryMap by_stale_until_;
  CacheStats stats_;
};

} // namespace bulwark::policies
