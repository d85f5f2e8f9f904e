#include "policies/response_cache.h"

#include <algorithm>

namespace bulwark::policies {

namespace {

void appendField(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

} // namespace

std::string cacheKey(std::string_view method, std::string_view tool,
                     std::string_view canonical_params, std::string_view protocol_version,
                     const CacheKeyScope& scope) {
  std::string out;
  out.reserve(3 + method.size() + tool.size() + canonical_params.size() + protocol_version.size() +
              scope.caller.size() + 6 * 6);
  out += "bk1";
  appendField(out, method);
  appendField(out, tool);
  appendField(out, canonical_params);
  appendField(out, protocol_version);
  if (scope.kind == CacheScope::kShared) {
    appendField(out, "s");
  } else {
    // appendField of "c" + identity, without building that string first.
    out += std::to_string(1 + scope.caller.size());
    out += ':';
    out += 'c';
    out += scope.caller;
  }
  return out;
}

std::string_view cacheLookupResultName(CacheLookupResult result) {
  switch (result) {
  case CacheLookupResult::kMiss:
    return "miss";
  case CacheLookupResult::kFresh:
    return "hit";
  case CacheLookupResult::kStale:
    return "stale";
  }
  return "miss";
}

std::size_t ResponseCache::entryBytes(std::string_view key, const CachedResponse& value) {
  return key.size() + value.result_json.size() + value.content_type.size() + kEntryOverhead;
}

CacheLookup ResponseCache::describe(const Node& node, TimePoint now) const {
  CacheLookup out;
  const CacheEntry& e = node.entry;
  if (now < e.fresh_until) {
    out.result = CacheLookupResult::kFresh;
  } else if (now < e.stale_until) {
    out.result = CacheLookupResult::kStale;
  } else {
    return out; // past stale_until: as good as gone
  }
  out.entry = &e;
  out.age = std::max(Duration{0}, std::chrono::floor<Duration>(now - e.stored_at));
  return out;
}

CacheLookup ResponseCache::peek(std::string_view key, TimePoint now) const {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return {};
  }
  return describe(*it->second, now);
}

CacheLookup ResponseCache::lookup(std::string_view key, TimePoint now) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return {};
  }
  const List::iterator node = it->second;
  CacheLookup out = describe(*node, now);
  switch (out.result) {
  case CacheLookupResult::kFresh:
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, node);
    break;
  case CacheLookupResult::kStale:
    ++stats_.misses;
    break;
  case CacheLookupResult::kMiss:
    ++stats_.misses;
    ++stats_.expirations;
    remove(node);
    break;
  }
  return out;
}

CacheLookup ResponseCache::lookupStale(std::string_view key, TimePoint now) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return {};
  }
  const List::iterator node = it->second;
  CacheLookup out = describe(*node, now);
  switch (out.result) {
  case CacheLookupResult::kFresh:
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, node);
    break;
  case CacheLookupResult::kStale:
    ++stats_.stale;
    lru_.splice(lru_.begin(), lru_, node);
    break;
  case CacheLookupResult::kMiss:
    ++stats_.expirations;
    remove(node);
    break;
  }
  return out;
}

void ResponseCache::remove(List::iterator it) {
  bytes_ -= it->entry.bytes;
  by_stale_until_.erase(it->expiry);
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

std::size_t ResponseCache::purgeExpired(TimePoint now) {
  std::size_t removed = 0;
  while (!by_stale_until_.empty() && by_stale_until_.begin()->first <= now) {
    remove(by_stale_until_.begin()->second);
    ++stats_.expirations;
    ++removed;
  }
  return removed;
}

void ResponseCache::evictUntilFits(std::size_t incoming) {
  while (!lru_.empty() && bytes_ + incoming > max_bytes_) {
    remove(std::prev(lru_.end()));
    ++stats_.evictions;
  }
}

CacheInsertResult ResponseCache::insert(std::string key, CachedResponse value, Duration ttl,
                                        Duration stale_if_error, TimePoint now) {
  ttl = std::max(ttl, Duration{0});
  stale_if_error = std::max(stale_if_error, Duration{0});
  bool replaced = false;
  if (auto it = index_.find(std::string_view(key)); it != index_.end()) {
    remove(it->second);
    replaced = true;
  }
  if (ttl.count() == 0 && stale_if_error.count() == 0) {
    return CacheInsertResult::kNothingToKeep;
  }
  const std::size_t bytes = entryBytes(key, value);
  if (bytes > max_bytes_) {
    ++stats_.rejected_too_large;
    return CacheInsertResult::kTooLarge;
  }
  purgeExpired(now);
  evictUntilFits(bytes);

  lru_.push_front(Node{std::move(key), CacheEntry{}, {}});
  const List::iterator node = lru_.begin();
  CacheEntry& e = node->entry;
  e.response = std::move(value);
  e.stored_at = now;
  e.fresh_until = now + ttl;
  e.stale_until = e.fresh_until + stale_if_error;
  e.bytes = bytes;
  node->expiry = by_stale_until_.emplace(e.stale_until, node);
  index_.emplace(std::string_view(node->key), node);
  bytes_ += bytes;
  ++stats_.insertions;
  return replaced ? CacheInsertResult::kReplaced : CacheInsertResult::kStored;
}

bool ResponseCache::erase(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return false;
  }
  remove(it->second);
  return true;
}

void ResponseCache::clear() {
  index_.clear();
  by_stale_until_.clear();
  lru_.clear();
  bytes_ = 0;
}

void ResponseCache::setMaxBytes(std::size_t max_bytes) {
  max_bytes_ = max_bytes;
  evictUntilFits(0);
}

CacheStats ResponseCache::stats() const {
  CacheStats s = stats_;
  s.bytes = bytes_;
  s.entries = index_.size();
  return s;
}

} // namespace bulwark::policies
