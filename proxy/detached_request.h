// A request Bulwark sends on its own behalf (notifications/cancelled after giving up), whose
// answer nobody waits for. It owns itself and is gone once the upstream has answered or failed.
#pragma once

#include <string>

namespace bulwark {

class Metrics;
class UpstreamPool;

void sendDetachedRequest(UpstreamPool& pool, Metrics& metrics, std::string request_bytes);

}  // namespace bulwark
