#include "proxy/shared/shared_catalog.h"

#include "proxy/shared/redis_client.h"

#include <charconv>
#include <utility>
#include <vector>

namespace bulwark {
namespace {

// The hash lives as long as replicas keep learning; a server gone for a day leaves nothing.
constexpr std::string_view kCatalogTtlMs = "86400000";

char hintChar(const std::optional<bool>& hint) { return !hint ? '-' : *hint ? 't' : 'f'; }

bool readHint(char c, std::optional<bool>& out) {
  switch (c) {
  case '-':
    out.reset();
    return true;
  case 't':
    out = true;
    return true;
  case 'f':
    out = false;
    return true;
  default:
    return false;
  }
}

std::optional<policies::HintSource> sourceNamed(std::string_view name) {
  for (const policies::HintSource source :
       {policies::HintSource::kListed, policies::HintSource::kDiscovered,
        policies::HintSource::kCallerListing}) {
    if (policies::hintSourceName(source) == name) {
      return source;
    }
  }
  return std::nullopt;
}

} // namespace

std::string encodeSharedTool(const KnownTool& tool) {
  std::string out;
  out.push_back(hintChar(tool.hints.read_only_hint));
  out.push_back(' ');
  out.push_back(hintChar(tool.hints.idempotent_hint));
  out.push_back(' ');
  out += policies::hintSourceName(tool.source);
  out.push_back(' ');
  out += std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(tool.learned_at.time_since_epoch())
          .count());
  return out;
}

std::optional<KnownTool> decodeSharedTool(std::string_view text) {
  KnownTool tool;
  if (text.size() < 6 || text[1] != ' ' || text[3] != ' ' ||
      !readHint(text[0], tool.hints.read_only_hint) ||
      !readHint(text[2], tool.hints.idempotent_hint)) {
    return std::nullopt;
  }
  const std::string_view rest = text.substr(4);
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  const std::optional<policies::HintSource> source = sourceNamed(rest.substr(0, space));
  std::int64_t learned_ms = 0;
  const std::string_view number = rest.substr(space + 1);
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), learned_ms);
  if (!source || ec != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;
  }
  tool.source = *source;
  tool.learned_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(learned_ms));
  return tool;
}

SharedCatalog::SharedCatalog(RedisClient& redis, ToolCatalog& catalog, std::string key_prefix)
    : redis_(redis), catalog_(catalog), key_(std::move(key_prefix) + "catalog") {}

void SharedCatalog::start() {
  if (started_) {
    return;
  }
  started_ = true;
  on_up_id_ = redis_.addOnUp([this] { sync(); });
  if (redis_.up()) {
    sync();
  }
}

void SharedCatalog::stop() {
  if (started_) {
    started_ = false;
    redis_.removeOnUp(on_up_id_);
  }
}

void SharedCatalog::sync() {
  publish();
  load();
}

void SharedCatalog::publish() {
  if (adopting_ || catalog_.size() == 0 || !redis_.up()) {
    return;
  }
  const std::vector<std::pair<std::string, KnownTool>> tools = catalog_.snapshot();
  std::vector<std::string> values;
  values.reserve(tools.size());
  std::vector<std::string_view> args;
  args.reserve(2 + 2 * tools.size());
  args.push_back("HSET");
  args.push_back(key_);
  for (const auto& [name, tool] : tools) {
    values.push_back(encodeSharedTool(tool));
  }
  for (std::size_t i = 0; i < tools.size(); ++i) {
    args.push_back(tools[i].first);
    args.push_back(values[i]);
  }
  redis_.command(SharedStateOp::kCatalogWrite, args);
  redis_.command(SharedStateOp::kCatalogWrite, {"PEXPIRE", key_, kCatalogTtlMs});
}

void SharedCatalog::load() {
  if (loading_ || !redis_.up()) {
    return;
  }
  const bool sent = redis_.command(
      SharedStateOp::kCatalogRead, {"HGETALL", key_}, [this](RedisStatus status, RedisReply reply) {
        loading_ = false;
        if (status != RedisStatus::kOk || !reply.isArray()) {
          return;
        }
        adopting_ = true;
        for (std::size_t i = 0; i + 1 < reply.size(); i += 2) {
          const std::string_view name = reply.element(i).text();
          if (name.empty() || catalog_.knows(name)) {
            continue; // what this sidecar learned itself wins
          }
          const std::optional<KnownTool> tool = decodeSharedTool(reply.element(i + 1).text());
          if (!tool) {
            continue;
          }
          catalog_.learn({ToolHints{std::string(name), tool->hints.read_only_hint,
                                    tool->hints.idempotent_hint}},
                         tool->source, tool->learned_at);
        }
        adopting_ = false;
      });
  loading_ = sent;
}

} // namespace bulwark
