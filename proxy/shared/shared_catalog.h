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

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

class RedisClient;

// One tool as kept in the hash: "<readOnly> <idempotent> <source> <learned_at unix ms>", each
// hint "t", "f" or "-" (unknown), source as policies::hintSourceName.
std::string encodeSharedTool(const KnownTool& tool);
std::optional<KnownTool> decodeSharedTool(std::string_view text);

class SharedCatalog {
public:
  SharedCatalog(RedisClient& redis, ToolCatalog& catalog, std::string key_prefix);
  SharedCatalog(const SharedCatalog&) = delete;
  SharedCatalog& operator=(const SharedCatalog&) = delete;

  // Writes every tool the catalog knows (one pipelined HSET, never waited on). Call after the
  // catalog learned something; tools taken from Redis are not written back.
  void publish();
  // Reads the hash and teaches the catalog the tools it does not know (asynchronously: the
  // catalog changes when Redis answers). Coalesced: one read in flight at a time.
  void load();

  // Publishes, then loads, each time Redis comes up (at once if it is up now): a Redis that
  // restarted empty gets the catalog again, and this sidecar learns what others wrote while it
  // was away. Every other load is asked for (a retry decision about an unknown tool). stop():
  // no more of that (before the RedisClient stops or dies).
  void start();
  void stop();

  const std::string& key() const { return key_; }

private:
  void sync();

  RedisClient& redis_;
  ToolCatalog& catalog_;
  std::string key_;
  bool loading_ = false;
  bool adopting_ = false; // the catalog's on-learned hook runs for our own adoption: no publish
  bool started_ = false;
  std::size_t on_up_id_ = 0;
};

} // namespace bulwark
