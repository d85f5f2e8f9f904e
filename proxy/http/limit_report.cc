#include "proxy/http/limit_report.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"

namespace bulwark {

void reportLimitHit(Metrics* metrics, const LimitHit& hit) {
  if (metrics != nullptr) {
    metrics->recordLimitRejection(hit.limit);
  }
  // A connection closed for idleness or after its last allowed request is routine; a refused
  // request is worth a warning.
  logLine(hit.status == 0 ? LogLevel::kInfo : LogLevel::kWarn,
          hit.status == 0 ? "connection limit reached" : "request refused by a limit",
          {{"listener", hit.listener},
           {"limit", hit.limit},
           // A connection closed without an answer has no status to tell.
           LogField::ifSet("status", hit.status == 0 ? std::nullopt
                                                     : std::optional<std::int64_t>(hit.status)),
           {"detail", hit.detail},
           {"peer", hit.peer}});
}

}  // namespace bulwark
