// Recycled per-exchange storage: what is given back comes back empty with its storage, and the
// pool keeps neither oversized storage nor more than its bound.
#include "proxy/net/spare_pool.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace bulwark;

namespace {

void drain() {
  for (std::size_t i = 0; i <= SparePool<std::string>::kMaxSpares; ++i) {
    (void)SparePool<std::string>::take();
  }
}

}  // namespace

TEST_CASE("a string given back is taken again empty, with the storage it had grown") {
  drain();
  std::string grown(2000, 'x');
  const char* storage = grown.data();
  SparePool<std::string>::giveBack(std::move(grown));
  const std::string again = SparePool<std::string>::take();
  CHECK(again.empty());
  CHECK(again.capacity() >= 2000);
  CHECK(again.data() == storage);
  CHECK(SparePool<std::string>::take().capacity() < 2000);  // the pool had only that one
}

TEST_CASE("oversized storage and storage beyond the pool's bound are freed, not kept") {
  drain();
  SparePool<std::string>::giveBack(std::string(SparePool<std::string>::kMaxKeptBytes + 1, 'x'));
  CHECK(SparePool<std::string>::take().capacity() <= SparePool<std::string>::kMaxKeptBytes);
  for (std::size_t i = 0; i < SparePool<std::string>::kMaxSpares + 10; ++i) {
    SparePool<std::string>::giveBack(std::string(100, 'x'));
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < SparePool<std::string>::kMaxSpares + 10; ++i) {
    kept += SparePool<std::string>::take().capacity() >= 100 ? 1 : 0;
  }
  CHECK(kept == SparePool<std::string>::kMaxSpares);
}

TEST_CASE("a header list comes back empty and usable, its storage kept") {
  HeaderList list{{"Content-Type", "application/json"}, {"Mcp-Session-Id", "abc"}};
  const std::size_t bytes = list.storageBytes();
  CHECK(bytes > 0);
  SparePool<HeaderList>::giveBack(std::move(list));
  HeaderList again = SparePool<HeaderList>::take();
  CHECK(again.empty());
  CHECK(again.storageBytes() >= bytes);
  again.add("Host", "a");
  REQUIRE(again.size() == 1);
  CHECK(again[0].value == "a");
  CHECK(findHeader(again, "content-type") == nullptr);
}

TEST_CASE("a pool keeps at most kMaxPooledBytes of storage in all, whatever passed through it") {
  drain();
  const std::size_t each = SparePool<std::string>::kMaxKeptBytes;
  for (std::size_t i = 0; i < SparePool<std::string>::kMaxSpares; ++i) {
    SparePool<std::string>::giveBack(std::string(each, 'x'));
  }
  CHECK(SparePool<std::string>::pooledBytes() <= SparePool<std::string>::kMaxPooledBytes);
  CHECK(SparePool<std::string>::pooledBytes() >= SparePool<std::string>::kMaxPooledBytes - each);
  drain();
  CHECK(SparePool<std::string>::pooledBytes() == 0);
}
