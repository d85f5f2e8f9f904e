#include "proxy/shared/shared_cache.h"

#include "proxy/shared/redis_client.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace bulwark {
namespace {

constexpr std::string_view kEntryVersion = "bk1";

std::int64_t unixMs(SharedCache::WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Reads one decimal number followed by `end` from `text` at `pos`; advances `pos` past `end`.
template <typename Int>
bool readNumber(std::string_view text, std::size_t& pos, char end, Int& out) {
  const char* first = text.data() + pos;
  const char* last = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || stop == first || stop == last || *stop != end) {
    return false;
  }
  pos = static_cast<std::size_t>(stop - text.data()) + 1;
  return true;
}

} // namespace

std::string encodeSharedCacheEntry(const SharedCacheEntry& entry) {
  std::string out;
  out.reserve(64 + entry.response.content_type.size() + entry.response.result_json.size());
  out += kEntryVersion;
  for (const std::int64_t n : {entry.stored_at_ms, entry.fresh_until_ms, entry.stale_until_ms}) {
    out.push_back(' ');
    out += std::to_string(n);
  }
  out.push_back(' ');
  out += std::to_string(entry.response.flags);
  out.push_back(' ');
  out += std::to_string(entry.response.content_type.size());
  out.push_back('\n');
  out += entry.response.content_type;
  out += entry.response.result_json;
  return out;
}

std::optional<SharedCacheEntry> decodeSharedCacheEntry(std::string_view text) {
  if (!text.starts_with(kEntryVersion) || text.size() <= kEntryVersion.size() ||
      text[kEntryVersion.size()] != ' ') {
    return std::nullopt;
  }
  std::size_t pos = kEntryVersion.size() + 1;
  SharedCacheEntry entry;
  std::size_t type_length = 0;
  if (!readNumber(text, pos, ' ', entry.stored_at_ms) ||
      !readNumber(text, pos, ' ', entry.fresh_until_ms) ||
      !readNumber(text, pos, ' ', entry.stale_until_ms) ||
      !readNumber(text, pos, ' ', entry.response.flags) ||
      !readNumber(text, pos, '\n', type_length) || type_length > text.size() - pos) {
    return std::nullopt;
  }
  if (entry.fresh_until_ms < entry.stored_at_ms || entry.stale_until_ms < entry.fresh_until_ms) {
    return std::nullopt;
  }
  entry.response.content_type = std::string(text.substr(pos, type_length));
  entry.response.result_json = std::string(text.substr(pos + type_length));
  if (entry.response.result_json.empty()) {
    return std::nullopt;
  }
  return entry;
}

SharedCache::SharedCache(RedisClient& redis, SharedKeys keys, policies::ResponseCache& local,
                         std::function<policies::TimePoint()> now)
    : redis_(redis), keys_(std::move(keys)), local_(local), now_(std::move(now)) {}

bool SharedCache::available() const { return redis_.up(); }

void SharedCache::publish(std::string_view local_key, const policies::CachedResponse& response,
                          policies::Duration ttl, policies::Duration stale_if_error,
                          WallClock::time_point now_wall) {
  ttl = std::max(ttl, policies::Duration::zero());
  stale_if_error = std::max(stale_if_error, policies::Duration::zero());
  const policies::Duration keep = ttl + stale_if_error;
  if (keep <= policies::Duration::zero() || !redis_.up()) {
    return;
  }
  SharedCacheEntry entry{response, unixMs(now_wall), unixMs(now_wall + ttl),
                         unixMs(now_wall + keep)};
  const std::string name = keys_.cacheKey(local_key);
  const std::string value = encodeSharedCacheEntry(entry);
  const std::string expiry = std::to_string(keep.count());
  redis_.command(SharedStateOp::kCacheWrite, {"SET", name, value, "PX", expiry});
}

bool SharedCache::lookup(std::string_view caller_key, std::string_view shared_key,
                         SharedCacheWaiter& waiter) {
  if (!redis_.up()) {
    return false;
  }
  const std::string caller_name = keys_.cacheKey(caller_key);
  const std::string shared_name = keys_.cacheKey(shared_key);
  const std::uint64_t id = next_id_++;
  const bool sent =
      redis_.command(SharedStateOp::kCacheRead, {"MGET", caller_name, shared_name},
                     [this, id](RedisStatus status, RedisReply reply) {
                       std::optional<std::string> values[2];
                       if (status == RedisStatus::kOk && reply.isArray() && reply.size() == 2) {
                         for (std::size_t i = 0; i < 2; ++i) {
                           const RedisReply element = reply.element(i);
                           if (element.isString()) {
                             values[i] = std::string(element.text());
                           }
                         }
                       }
                       answered(id, values[0], values[1]);
                     });
  if (!sent) {
    return false;
  }
  pending_.emplace(id, Pending{&waiter, std::string(caller_key), std::string(shared_key)});
  return true;
}

void SharedCache::forget(SharedCacheWaiter& waiter) {
  for (auto& [id, pending] : pending_) {
    if (pending.waiter == &waiter) {
      pending.waiter = nullptr;
    }
  }
}

bool adoptSharedCacheEntry(policies::ResponseCache& local, std::string_view local_key,
                           const SharedCacheEntry& entry, policies::TimePoint now,
                           std::chrono::system_clock::time_point now_wall) {
  const std::int64_t wall_ms = unixMs(now_wall);
  if (entry.stale_until_ms <= wall_ms) {
    return false; // past its stale window (clocks of replicas differ a little; no matter)
  }
  if (!local.peek(local_key, now).miss()) {
    return false; // stored here meanwhile: the local entry is at least as recent
  }
  const policies::Duration fresh_left(std::max<std::int64_t>(entry.fresh_until_ms - wall_ms, 0));
  const policies::Duration stale_left(entry.stale_until_ms -
                                      std::max(entry.fresh_until_ms, wall_ms));
  const policies::CacheInsertResult result =
      local.insert(std::string(local_key), entry.response, fresh_left, stale_left, now);
  return result == policies::CacheInsertResult::kStored ||
         result == policies::CacheInsertResult::kReplaced;
}

void SharedCache::answered(std::uint64_t id, const std::optional<std::string>& caller_value,
                           const std::optional<std::string>& shared_value) {
  const auto found = pending_.find(id);
  if (found == pending_.end()) {
    return;
  }
  Pending pending = std::move(found->second);
  pending_.erase(found);
  const policies::TimePoint now = now_();
  const WallClock::time_point now_wall = WallClock::now();
  const std::array<std::pair<const std::optional<std::string>*, const std::string*>, 2>
      found_values{{{&caller_value, &pending.caller_key}, {&shared_value, &pending.shared_key}}};
  for (const auto& [value, local_key] : found_values) {
    if (!value->has_value()) {
      continue;
    }
    if (const std::optional<SharedCacheEntry> entry = decodeSharedCacheEntry(**value)) {
      adoptSharedCacheEntry(local_, *local_key, *entry, now, now_wall);
    }
  }
  if (pending.waiter != nullptr) {
    pending.waiter->onSharedCacheRead();
  }
}

} // namespace bulwark
