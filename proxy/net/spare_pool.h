// Storage that an object living for one exchange hands back when it ends, for the next exchange to
// take: a string or header list that has grown to a working size costs no allocation the second
// time. One pool per thread (a loop runs on one thread), bounded in how many spares it keeps, in
// the size of each and in their total, so one huge message (or a burst) does not stay resident.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "proxy/http/headers.h"

namespace bulwark {

inline std::size_t storageBytes(const std::string& text) { return text.capacity(); }
inline std::size_t storageBytes(const HeaderList& list) { return list.storageBytes(); }

template <typename T>
class SparePool {
public:
  static constexpr std::size_t kMaxSpares = 256;
  static constexpr std::size_t kMaxKeptBytes = 16 * 1024;
  // All spares of one pool together: after a burst of large messages the pool keeps at most
  // this, so what it holds does not keep the process above its idle size.
  static constexpr std::size_t kMaxPooledBytes = 1024 * 1024;

  // An empty T, with the storage of one given back earlier when there is one.
  static T take() {
    Spares& pool = spares();
    if (pool.list.empty()) {
      return T{};
    }
    T out = std::move(pool.list.back());
    pool.list.pop_back();
    const std::size_t bytes = storageBytes(out);
    pool.bytes -= bytes <= pool.bytes ? bytes : pool.bytes;
    return out;
  }

  // Keeps `value`'s storage (emptied) for a later take(), unless the pool is full or the
  // storage is larger than worth keeping.
  static void giveBack(T&& value) {
    Spares& pool = spares();
    const std::size_t bytes = storageBytes(value);
    if (pool.list.size() >= kMaxSpares || bytes > kMaxKeptBytes || bytes == 0 ||
        pool.bytes + bytes > kMaxPooledBytes) {
      return;
    }
    value.clear();
    pool.bytes += bytes;
    pool.list.push_back(std::move(value));
  }

  // Bytes of storage the pool keeps now.
  static std::size_t pooledBytes() { return spares().bytes; }

private:
  struct Spares {
    std::vector<T> list;
    std::size_t bytes = 0;
  };
  static Spares& spares() {
    thread_local Spares pool;
    return pool;
  }
};

}  // namespace bulwark
