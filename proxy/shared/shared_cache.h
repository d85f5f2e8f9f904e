// The response cache shared by the replicas through Redis (issue 15 item 5), behind the local
// LRU (policies::ResponseCache), which stays in front:
// - publish(): an entry stored locally is written to Redis too (fresh and stale windows, as
//   wall-clock times), pipelined and never waited on;
// - lookup(): on a local miss of a cacheable request, one Redis read (MGET of the caller's and
//   the shared entry) bounded by shared_state.timeout; what it finds is put in the local cache
//   (with the windows left of it), then the waiter goes on: a fresh entry answers, a stale one
//   is there for stale_if_error when the upstream fails.
// Entries are named by SharedKeys (HMAC of the local key): no credential reaches Redis in
// clear. Redis down, slow or answering errors: lookup() refuses or the waiter resumes with
// nothing after the timeout, as if there were no Redis.
//
// Single-threaded (the loop thread). The RedisClient and the local cache must outlive this.
#pragma once

#include "policies/response_cache.h"
#include "proxy/shared/shared_key.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bulwark {

class RedisClient;

// An entry as kept in Redis: the response and its windows in Unix milliseconds.
struct SharedCacheEntry {
  policies::CachedResponse response;
  std::int64_t stored_at_ms = 0;
  std::int64_t fresh_until_ms = 0;
  std::int64_t stale_until_ms = 0;
  bool operator==(const SharedCacheEntry&) const = default;
};

// "bk1 <stored_at> <fresh_until> <stale_until> <flags> <content-type length>\n" + content type
// + result JSON. decode returns nullopt for anything else (another version, a truncated value).
std::string encodeSharedCacheEntry(const SharedCacheEntry& entry);
std::optional<SharedCacheEntry> decodeSharedCacheEntry(std::string_view text);

// Puts `entry` (read from Redis) in `local` under `local_key` at local time `now` (wall time
// `now_wall`) with the windows it has left, unless `local` already has something there (it is at
// least as recent) or the entry is past its stale window. Returns whether it did.
bool adoptSharedCacheEntry(policies::ResponseCache& local, std::string_view local_key,
                           const SharedCacheEntry& entry, policies::TimePoint now,
                           std::chrono::system_clock::time_point now_wall);

// A request waiting for lookup(). Not owned; forget() it before it dies.
class SharedCacheWaiter {
public:
  // Runs once, never inline in lookup(): the entries Redis had (none after an error or the
  // timeout) are in the local cache now; look again.
  virtual void onSharedCacheRead() = 0;

protected:
  ~SharedCacheWaiter() = default;
};

class SharedCache {
public:
  using WallClock = std::chrono::system_clock;

  // `now` is the local cache's clock (the exchanges' clock).
  SharedCache(RedisClient& redis, SharedKeys keys, policies::ResponseCache& local,
              std::function<policies::TimePoint()> now);
  SharedCache(const SharedCache&) = delete;
  SharedCache& operator=(const SharedCache&) = delete;

  // Whether a lookup can be sent now (Redis up).
  bool available() const;

  // Writes what was just stored locally under `local_key` (ttl and stale_if_error as given to
  // ResponseCache::insert), with an expiry at the end of its stale window. Fire and forget.
  void publish(std::string_view local_key, const policies::CachedResponse& response,
               policies::Duration ttl, policies::Duration stale_if_error,
               WallClock::time_point now_wall = WallClock::now());

  // One read of the entries under the two local keys (a caller's and the shared one). Returns
  // false when Redis is not up (the waiter is never called).
  bool lookup(std::string_view caller_key, std::string_view shared_key, SharedCacheWaiter& waiter);
  // The waiter gives up (client gone, deadline): it is never called. What Redis answers is
  // still put in the local cache.
  void forget(SharedCacheWaiter& waiter);

private:
  struct Pending {
    SharedCacheWaiter* waiter;
    std::string caller_key;
    std::string shared_key;
  };
  void answered(std::uint64_t id, const std::optional<std::string>& caller_value,
                const std::optional<std::string>& shared_value);

  RedisClient& redis_;
  SharedKeys keys_;
  policies::ResponseCache& local_;
  std::function<policies::TimePoint()> now_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Pending> pending_;
};

} // namespace bulwark
