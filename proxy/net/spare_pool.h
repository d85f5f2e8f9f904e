// Storage that an object living for one exchange hands back when it ends, for the next exchange to
// take: a string or header list that has grown to a working size costs no allocation the second
// time. One pool per thread (a loop runs on one thread), bounded in how many spares it keeps and
// in the size of each, so one huge message does not stay resident.
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

  // An empty T, with the storage of one given back earlier when there is one.
  static T take() {
    std::vector<T>& spares = list();
    if (spares.empty()) {
      return T{};
    }
    T out = std::move(spares.back());
    spares.pop_back();
    return out;
  }

  // Keeps `value`'s storage (emptied) for a later take(), unless the pool is full or the
  // storage is larger than worth keeping.
  static void giveBack(T&& value) {
    std::vector<T>& spares = list();
    if (spares.size() >= kMaxSpares || storageBytes(value) > kMaxKeptBytes ||
        storageBytes(value) == 0) {
      return;
    }
    value.clear();
    spares.push_back(std::move(value));
  }

private:
  static std::vector<T>& list() {
    thread_local std::vector<T> spares;
    return spares;
  }
};

}  // namespace bulwark
