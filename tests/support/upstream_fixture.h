// A ScriptedUpstream and an UpstreamPool pointed at it, on a TestLoop: the usual start of a
// component test of the upstream side. close() closes both and the loop.
#pragma once

#include <cstring>
#include <optional>

#include "proxy/admin/metrics.h"
#include "proxy/upstream/upstream_pool.h"
#include "tests/support/scripted_upstream.h"
#include "tests/support/test_loop.h"

namespace bulwark::testing {

inline ResolvedAddress addressOf(const ScriptedUpstream& upstream) {
  ResolvedAddress address;
  std::memcpy(&address.storage, &upstream.sockaddr(), sizeof upstream.sockaddr());
  address.length = sizeof upstream.sockaddr();
  return address;
}

struct UpstreamFixture {
  TestLoop loop;
  Metrics metrics;
  ScriptedUpstream upstream{loop};
  UpstreamPool pool{loop, addressOf(upstream), UpstreamPoolOptions{}};

  // Closes the pool and the upstream, lets the loop run out; returns uv_loop_close().
  int close() {
    pool.close();
    upstream.close();
    CHECK(loop.runToEnd());
    return loop.close();
  }
};

}  // namespace bulwark::testing
