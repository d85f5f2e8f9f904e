#include "proxy/upstream/tool_discovery.h"

#include "policies/tool_knowledge.h"
#include "proxy/admin/log.h"
#include "proxy/mcp/tool_catalog.h"
#include "proxy/net/uv_util.h"

#include <algorithm>

namespace bulwark {

ToolDiscovery::ToolDiscovery(uv_loop_t* loop, UpstreamPool& pool, Metrics& metrics,
                             ToolCatalog& catalog, EnvelopeParser& parser, std::string host,
                             std::string path)
    : context_{loop, pool, metrics, parser}, catalog_(catalog), host_(std::move(host)),
      path_(std::move(path)) {}

ToolDiscovery::~ToolDiscovery() { close(); }

std::string ToolDiscovery::start(DiscoverySettings settings) {
  settings_ = std::move(settings);
  status_.enabled = settings_.enabled;
  const int rc = uv_timer_init(context_.loop, &timer_);
  if (rc != 0) {
    return uvError("uv_timer_init", rc);
  }
  timer_.data = this;
  timer_open_ = true;
  // The refresh timer alone does not keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  if (settings_.enabled && settings_.at_start) {
    active_ = true;
    status_.active = true;
    schedule(std::chrono::milliseconds(0));
  }
  return {};
}

void ToolDiscovery::configure(DiscoverySettings settings) {
  const bool was_enabled = settings_.enabled;
  const bool headers_changed = settings.headers != settings_.headers;
  settings_ = std::move(settings);
  status_.enabled = settings_.enabled;
  if (headers_changed && status_.last_result == ToolDiscoveryResult::kRefused) {
    status_.last_result.reset(); // new credentials: a refusal no longer stands
    if (active_) {
      listSoon("discovery headers changed");
    }
  }
  if (!settings_.enabled && timer_open_) {
    uv_timer_stop(&timer_);
  } else if (!was_enabled && settings_.at_start) {
    active_ = true;
    status_.active = true;
    listSoon("discovery enabled");
  }
}

bool ToolDiscovery::canDiscover() const {
  // A refusal stands until the configuration changes: the interval timer tries again.
  return settings_.enabled && !closed_ && timer_open_ &&
         status_.last_result != ToolDiscoveryResult::kRefused;
}

void ToolDiscovery::needed(std::string_view why) {
  if (!canDiscover() || (active_ && (fresh_ || listing_.active()))) {
    return;
  }
  active_ = true;
  status_.active = true;
  listSoon(why);
}

void ToolDiscovery::listSoon(std::string_view why) {
  fresh_ = false;
  if (closed_ || !settings_.enabled || !timer_open_ || !active_) {
    return;
  }
  logLine(LogLevel::kInfo, "listing the upstream's tools", {{"reason", why}});
  if (listing_.active()) {
    again_ = true;
    return;
  }
  failures_ = 0;
  schedule(soonest());
}

std::chrono::milliseconds ToolDiscovery::soonest() const {
  // Triggers come in bursts (every session start of some servers says list_changed): listings
  // start at most once per kMinRefresh.
  const auto since = std::chrono::steady_clock::now() - last_begin_;
  if (last_begin_ == std::chrono::steady_clock::time_point{} || since >= policies::kMinRefresh) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(policies::kMinRefresh - since);
}

bool ToolDiscovery::awaitHints(const CallerCredentials& caller, HintsWaiter& waiter) {
  if (closed_) {
    return false;
  }
  if (canDiscover()) {
    needed("a retry decision about an unknown tool");
    if (!listing_.active() && fresh_) {
      return false; // listed since the last change, and the tool is still unknown
    }
    waiting_.push_back({&waiter, caller});
    return true;
  }
  listForCaller(caller, waiter);
  return true;
}

void ToolDiscovery::forget(HintsWaiter& waiter) {
  std::erase_if(waiting_, [&](const Waiting& w) { return w.waiter == &waiter; });
  for (auto& [key, listing] : caller_listings_) {
    std::erase(listing.waiters, &waiter);
  }
}

void ToolDiscovery::listForCaller(const CallerCredentials& caller, HintsWaiter& waiter) {
  std::string key = caller.authorization;
  key += '\n';
  key += caller.session_id;
  const auto found = caller_listings_.find(key);
  if (found != caller_listings_.end()) {
    found->second.waiters.push_back(&waiter); // one listing per caller at a time
    return;
  }
  ListingTarget target;
  target.host = host_;
  target.path = path_;
  if (!caller.authorization.empty()) {
    target.headers.emplace_back("Authorization", caller.authorization);
  }
  target.timeout = settings_.request_timeout;
  target.in_callers_context = true;
  target.session_id = caller.session_id;
  target.protocol_version = caller.protocol_version;
  caller_listings_[key].waiters.push_back(&waiter);
  ++status_.caller_listings;
  ToolListing started =
      ToolListing::start(context_, std::move(target), [this, key](ListingOutcome&& outcome) {
        callerFinished(key, std::move(outcome));
      });
  if (const auto entry = caller_listings_.find(key); entry != caller_listings_.end()) {
    entry->second.listing = started; // not when it already ended inline
  }
}

void ToolDiscovery::callerFinished(const std::string& key, ListingOutcome&& outcome) {
  const auto found = caller_listings_.find(key);
  if (found == caller_listings_.end()) {
    return;
  }
  std::vector<HintsWaiter*> waiters = std::move(found->second.waiters);
  caller_listings_.erase(found);
  context_.metrics.recordToolDiscovery(outcome.result);
  if (outcome.result == ToolDiscoveryResult::kSuccess) {
    catalog_.learn(outcome.tools, policies::HintSource::kCallerListing);
  } else {
    logLine(LogLevel::kWarn, "listing tools with a caller's credentials failed",
            {{"result", toolDiscoveryResultLabel(outcome.result)}, {"reason", outcome.detail}});
  }
  for (HintsWaiter* waiter : waiters) {
    waiter->onHintsListed();
  }
}

void ToolDiscovery::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  listing_.cancel();
  for (auto& [key, listing] : caller_listings_) {
    listing.listing.cancel();
  }
  caller_listings_.clear();
  waiting_.clear();
  if (timer_open_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    timer_open_ = false;
  }
}

void ToolDiscovery::schedule(std::chrono::milliseconds delay) {
  status_.next_in = delay;
  const int rc = uv_timer_start(&timer_, &ToolDiscovery::onTimer,
                                static_cast<std::uint64_t>(delay.count()), 0);
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
  }
}

void ToolDiscovery::onTimer(uv_timer_t* timer) {
  static_cast<ToolDiscovery*>(timer->data)->begin();
}

ListingTarget ToolDiscovery::ownTarget() const {
  ListingTarget target;
  target.host = host_;
  target.path = path_;
  target.headers = settings_.headers;
  target.timeout = settings_.request_timeout;
  target.stateless = stateless_;
  return target;
}

void ToolDiscovery::begin() {
  if (closed_ || !settings_.enabled || listing_.active()) {
    return;
  }
  again_ = false;
  last_begin_ = std::chrono::steady_clock::now();
  listing_ = ToolListing::start(context_, ownTarget(), [this](ListingOutcome&& outcome) {
    listing_.finished();
    finished(std::move(outcome));
  });
}

void ToolDiscovery::finished(ListingOutcome&& outcome) {
  context_.metrics.recordToolDiscovery(outcome.result);
  status_.last_result = outcome.result;
  status_.last_at = std::chrono::system_clock::now();
  std::chrono::milliseconds next = settings_.interval;
  if (outcome.result == ToolDiscoveryResult::kSuccess) {
    stateless_ = outcome.stateless;
    failures_ = 0;
    fresh_ = !again_;
    status_.last_error.clear();
    status_.protocol_version = outcome.protocol_version;
    status_.pages = outcome.pages;
    status_.tools = outcome.tools.size();
    catalog_.learn(outcome.tools, policies::HintSource::kDiscovered);
    logLine(LogLevel::kInfo, "listed the upstream's tools",
            {{"tools", static_cast<std::int64_t>(outcome.tools.size())},
             {"pages", outcome.pages},
             {"protocol_version", outcome.protocol_version}});
    next = policies::nextRefreshIn(settings_.interval, outcome.ttl_ms);
    if (on_listed_) {
      on_listed_();
    }
  } else {
    status_.last_error = outcome.detail;
    logLine(LogLevel::kWarn, "tool discovery failed; the catalog is unchanged",
            {{"result", toolDiscoveryResultLabel(outcome.result)}, {"reason", outcome.detail}});
    // A refusal will not change until the configuration does: wait the whole interval.
    if (outcome.result != ToolDiscoveryResult::kRefused) {
      next = policies::retryListingIn(++failures_, settings_.interval);
    }
  }
  // The decisions that waited: done, or (refused) on to a listing with their own credentials.
  std::vector<Waiting> waiting = std::move(waiting_);
  waiting_.clear();
  for (const Waiting& w : waiting) {
    if (outcome.result == ToolDiscoveryResult::kRefused && !closed_) {
      listForCaller(w.caller, *w.waiter);
    } else {
      w.waiter->onHintsListed();
    }
  }
  if (closed_ || !timer_open_) {
    return;
  }
  schedule(again_ ? soonest() : next);
}

} // namespace bulwark
