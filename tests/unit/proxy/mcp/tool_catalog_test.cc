#include "proxy/mcp/tool_catalog.h"
#include "tests/support/quiet_logs.h"

#include <doctest/doctest.h>

using namespace bulwark;
using policies::HintSource;

namespace {

ToolHints tool(std::string name, std::optional<bool> read_only, std::optional<bool> idempotent) {
  return ToolHints{std::move(name), read_only, idempotent};
}

Envelope notification(std::string method) {
  Envelope e;
  e.kind = MessageKind::kNotification;
  e.method = std::move(method);
  return e;
}

} // namespace

TEST_CASE("ToolCatalog records the source and time of each tool's hints") {
  ToolCatalog catalog;
  const auto t1 = std::chrono::system_clock::time_point{} + std::chrono::hours(1);
  catalog.learn({tool("read", true, std::nullopt), tool("write", std::nullopt, std::nullopt)},
                HintSource::kDiscovered, t1);
  CHECK(catalog.size() == 2);
  CHECK(catalog.knows("read"));
  CHECK_FALSE(catalog.knows("other"));
  CHECK(catalog.annotationsOf("read").read_only_hint == true);
  const auto snapshot = catalog.snapshot();
  REQUIRE(snapshot.size() == 2);
  CHECK(snapshot[0].first == "read");
  CHECK(snapshot[0].second.source == HintSource::kDiscovered);
  CHECK(snapshot[0].second.learned_at == t1);
  CHECK(catalog.names() == std::vector<std::string>{"read", "write"});
}

TEST_CASE("ToolCatalog: same-generation listings that disagree keep the safer reading") {
  const testing::QuietLogs quiet; // the warning is expected
  ToolCatalog catalog;
  int learned = 0;
  catalog.setOnLearned([&] { ++learned; });
  catalog.learn({tool("t", true, std::nullopt)}, HintSource::kDiscovered);
  CHECK(learned == 1);
  catalog.learn({tool("t", false, std::nullopt)}, HintSource::kCallerListing);
  CHECK(catalog.annotationsOf("t").read_only_hint == false);
  CHECK(learned == 2);
  // The repeatable reading again, same generation: the safer one stays.
  catalog.learn({tool("t", true, std::nullopt)}, HintSource::kListed);
  CHECK(catalog.annotationsOf("t").read_only_hint == false);
  CHECK(learned == 2);
  // A new generation (list_changed): the next listing replaces.
  int list_changed = 0;
  catalog.setOnListChanged([&] { ++list_changed; });
  catalog.notice(notification("notifications/tools/list_changed"));
  CHECK(list_changed == 1);
  catalog.learn({tool("t", true, std::nullopt)}, HintSource::kDiscovered);
  CHECK(catalog.annotationsOf("t").read_only_hint == true);
}

TEST_CASE("ToolCatalog notices list_changed only") {
  ToolCatalog catalog;
  int list_changed = 0;
  catalog.setOnListChanged([&] { ++list_changed; });
  catalog.notice(notification("notifications/resources/list_changed"));
  catalog.notice(notification("notifications/progress"));
  Envelope request = notification("notifications/tools/list_changed");
  request.kind = MessageKind::kRequest;
  catalog.notice(request);
  CHECK(list_changed == 0);
  EnvelopeParser parser;
  catalog.noticeStreamEvent(R"({"jsonrpc":"2.0","method":"notifications/progress"})", parser);
  CHECK(list_changed == 0);
  catalog.noticeStreamEvent(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})",
                            parser);
  CHECK(list_changed == 1);
  catalog.noticeStreamEvent(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed")",
                            parser); // not JSON: nothing
  CHECK(list_changed == 1);
}
