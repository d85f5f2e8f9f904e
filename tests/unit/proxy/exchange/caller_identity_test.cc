#include "proxy/exchange/caller_identity.h"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace bulwark;

namespace {

HttpHead post(std::string target, HeaderList headers) {
  HttpHead head;
  head.method = "POST";
  head.target = std::move(target);
  head.headers = std::move(headers);
  return head;
}

std::string identity(const HttpHead& head, std::string_view session = {},
                     const std::vector<std::string>& configured = {}) {
  return std::string(callerIdentityOf(head, session, configured).text());
}

} // namespace

TEST_CASE("queryOf: the part after the first '?'") {
  CHECK(queryOf("/mcp") == "");
  CHECK(queryOf("/mcp?") == "");
  CHECK(queryOf("/mcp?api_key=alice") == "api_key=alice");
  CHECK(queryOf("http://h:1/mcp?a=1?b") == "a=1?b");
}

TEST_CASE("callerIdentityOf: every part, in the documented order, whatever the arrival order") {
  const HttpHead head = post("/mcp?api_key=k", {{"X-Tenant", "t1"},
                                                {"Cookie", "sid=1"},
                                                {"Host", "example"},
                                                {"authorization", "Bearer a"},
                                                {"X-API-Key", "key"},
                                                {"cookie", "theme=dark"}});
  CHECK(identity(head, "S", {"x-tenant"}) ==
        "s1:Sa8:Bearer ac5:sid=1c10:theme=darkk3:keyh0.2:t1q9:api_key=k");
  // A header not configured does not count; neither do Host and the other fields.
  CHECK(identity(head, "S") == "s1:Sa8:Bearer ac5:sid=1c10:theme=darkk3:keyq9:api_key=k");
}

TEST_CASE("callerIdentityOf: nothing visible is the anonymous caller") {
  const HttpHead head = post("/mcp", {{"Host", "example"}, {"Authorization", ""}});
  CHECK(callerIdentityOf(head, "", {}).anonymous());
  CHECK_FALSE(callerIdentityOf(post("/mcp?x", {}), "", {}).anonymous());
  CHECK_FALSE(callerIdentityOf(post("/mcp", {}), "session", {}).anonymous());
}

TEST_CASE("callerIdentityOf: two callers differing in one credential differ") {
  const std::vector<std::string> configured = {"x-tenant"};
  const auto differ = [&](const HttpHead& a, const HttpHead& b) {
    return identity(a, "", configured) != identity(b, "", configured);
  };
  CHECK(differ(post("/mcp?api_key=alice", {}), post("/mcp?api_key=bob", {})));
  CHECK(differ(post("/mcp", {{"Cookie", "sid=alice"}}), post("/mcp", {{"Cookie", "sid=bob"}})));
  CHECK(differ(post("/mcp", {{"X-API-Key", "alice"}}), post("/mcp", {{"X-API-Key", "bob"}})));
  CHECK(differ(post("/mcp", {{"X-Tenant", "alice"}}), post("/mcp", {{"X-Tenant", "bob"}})));
  CHECK(differ(post("/mcp", {{"Cookie", "a=1"}, {"Cookie", "sid=alice"}}),
               post("/mcp", {{"Cookie", "a=1"}, {"Cookie", "sid=bob"}})));
  CHECK(identity(post("/mcp", {}), "session-a") != identity(post("/mcp", {}), "session-b"));
}
