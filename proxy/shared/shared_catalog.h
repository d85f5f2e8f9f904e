// The tool catalog shared by the replicas through Redis (issue 15 item 5): what one sidecar
// learned about the upstream's tools (annotations, where they came from, when) is written to
// one Redis hash, <prefix>catalog (field: tool name), and read by the others when they connect
// to Redis and when a retry decision needs a tool they do not know. The replicas front copies
// of one server, so a tool another replica listed is the same tool here. Local knowledge wins:
// only tools this sidecar does not know are taken from Redis. No credential is involved (tool
// names and hints only).
//
// Single-threaded (the loop thread). The RedisClient and the ToolCatalog must outlive this.
#pragma once

#include "proxy/mcp/tool_catalog.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <uv.h>

namespace bulwark {

class RedisClient;

// One tool as kept in the hash: "<readOnly> <idempotent> <source> <learned_at unix ms>", each
// hint "t", "f" or "-" (unknown), source as policies::hintSourceName.
std::string encodeSharedTool(const KnownTool& tool);
std::optional<KnownTool> decodeSharedTool(std::string_view text);

class SharedCatalog {
public:
  SharedCatalog(uv_loop_t* loop, RedisClient& redis, ToolCatalog& catalog, std::string key_prefix);
  SharedCatalog(const SharedCatalog&) = delete;
  SharedCatalog& operator=(const SharedCatalog&) = delete;

  // Writes every tool the catalog knows (one pipelined HSET, never waited on). Call after the
  // catalog learned something; tools taken from Redis are not written back.
  void publish();
  // Reads the hash and teaches the catalog the tools it does not know (asynchronously: the
  // catalog changes when Redis answers). Coalesced: one read in flight at a time.
  void load();

  // Once Redis is first up (checked every kFirstSyncPoll): publish, then load. Every later
  // load is asked for (a retry decision about an unknown tool). stop() closes the timer: the
  // loop must run once more, and this object must outlive that run.
  void start();
  void stop();
  static constexpr std::chrono::milliseconds kFirstSyncPoll{200};

  const std::string& key() const { return key_; }

private:
  static void onSyncTimer(uv_timer_t* timer);

  uv_loop_t* loop_;
  uv_timer_t sync_timer_{};
  bool timer_open_ = false;
  bool synced_ = false; // the first load succeeded
  RedisClient& redis_;
  ToolCatalog& catalog_;
  std::string key_;
  bool loading_ = false;
  bool adopting_ = false; // the catalog's on-learned hook runs for our own adoption: no publish
};

} // namespace bulwark
