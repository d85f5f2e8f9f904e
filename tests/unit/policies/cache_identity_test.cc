#include "policies/cache_identity.h"
#include "policies/response_cache.h"

#include <doctest/doctest.h>
#include <set>
#include <string>
#include <vector>

using namespace bulwark::policies;

namespace {

// What one request shows the cache: the parts of policies/cache_identity.h.
struct Request {
  std::string session = {};
  std::vector<std::string> authorization = {};
  std::vector<std::string> cookie = {};
  std::vector<std::string> api_key = {};
  std::vector<std::vector<std::string>> headers = {}; // per configured identity header
  std::string query = {};
};

CallerIdentity identityOf(const Request& r) {
  CallerIdentity id;
  id.add(IdentityPart::kSession, r.session);
  for (const std::string& v : r.authorization) {
    id.add(IdentityPart::kAuthorization, v);
  }
  for (const std::string& v : r.cookie) {
    id.add(IdentityPart::kCookie, v);
  }
  for (const std::string& v : r.api_key) {
    id.add(IdentityPart::kApiKey, v);
  }
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    for (const std::string& v : r.headers[i]) {
      id.add(IdentityPart::kHeader, v, i);
    }
  }
  id.add(IdentityPart::kQuery, r.query);
  return id;
}

std::string callerKey(const Request& r) {
  const CallerIdentity id = identityOf(r);
  return cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::callerOf(id.text()));
}

std::string sharedKey() {
  return cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::shared());
}

} // namespace

TEST_CASE("caller scope: sessions never share a key, even without credentials") {
  const Request a{.session = "session-a"};
  const Request b{.session = "session-b"};
  CHECK(callerKey(a) != callerKey(b));
  CHECK(callerKey(a) == callerKey(Request{.session = "session-a"}));
  // Same credential, two sessions: still two callers (a session holds server-side state).
  CHECK(callerKey({.session = "s1", .authorization = {"Bearer x"}}) !=
        callerKey({.session = "s2", .authorization = {"Bearer x"}}));
}

TEST_CASE("caller scope: every credential-bearing part tells callers apart") {
  const Request alice_cookie{.cookie = {"sid=alice"}};
  const Request bob_cookie{.cookie = {"sid=bob"}};
  CHECK(callerKey(alice_cookie) != callerKey(bob_cookie));

  CHECK(callerKey({.api_key = {"key-alice"}}) != callerKey({.api_key = {"key-bob"}}));
  CHECK(callerKey({.authorization = {"Bearer alice"}}) !=
        callerKey({.authorization = {"Bearer bob"}}));
  CHECK(callerKey({.headers = {{"tenant-1"}}}) != callerKey({.headers = {{"tenant-2"}}}));
  CHECK(callerKey({.query = "api_key=alice"}) != callerKey({.query = "api_key=bob"}));

  // A credential is never the anonymous caller.
  const std::string anonymous = callerKey({});
  for (const Request& r : {alice_cookie, Request{.api_key = {"k"}}, Request{.headers = {{"t"}}},
                           Request{.query = "api_key=alice"}, Request{.session = "s"}}) {
    CHECK(callerKey(r) != anonymous);
  }
}

TEST_CASE("caller scope: the same value in different parts is a different caller") {
  const std::string v = "secret";
  const std::set<std::string> keys = {
      callerKey({.session = v}),     callerKey({.authorization = {v}}),
      callerKey({.cookie = {v}}),    callerKey({.api_key = {v}}),
      callerKey({.headers = {{v}}}), callerKey({.headers = {{}, {v}}}),
      callerKey({.query = v}),       callerKey({}),
  };
  CHECK(keys.size() == 8);
}

TEST_CASE("caller scope: every field of a repeated header counts") {
  // Only the second Cookie field differs: reading the first alone would let these two share.
  CHECK(callerKey({.cookie = {"theme=dark", "sid=alice"}}) !=
        callerKey({.cookie = {"theme=dark", "sid=bob"}}));
  // Two fields are not the one field their texts would make together.
  CHECK(callerKey({.cookie = {"a", "b"}}) != callerKey({.cookie = {"ab"}}));
}

TEST_CASE("caller scope: empty values identify no one") {
  CHECK(identityOf({.session = "", .authorization = {""}, .query = ""}).anonymous());
  CHECK(identityOf({}).text().empty());
  CHECK_FALSE(identityOf({.query = "x=1"}).anonymous());
  CHECK(callerKey({.authorization = {""}}) == callerKey({}));
}

TEST_CASE("caller scope: the documented encoding") {
  CHECK(identityOf({.session = "S",
                    .authorization = {"Bearer a"},
                    .headers = {{}, {}, {"t"}},
                    .query = "k=1"})
            .text() == "s1:Sa8:Bearer ah2.1:tq3:k=1");
}

TEST_CASE("caller scope: the encoding is injective over tricky values") {
  // Values that look like tags, lengths and separators: no two requests may share a text.
  const std::vector<std::string> values = {"", "1", ":", "1:a", "a1:", "h0.", "s", "q1:x", "."};
  std::set<std::string> texts;
  std::size_t requests = 0;
  for (const std::string& session : values) {
    for (const std::string& cookie : values) {
      for (const std::string& header : values) {
        for (const std::string& query : values) {
          Request r{.session = session, .query = query};
          if (!cookie.empty()) {
            r.cookie = {cookie};
          }
          r.headers = {{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
          if (!header.empty()) {
            r.headers[11] = {header}; // a two-digit index next to a digit-leading value
          }
          texts.insert(std::string(identityOf(r).text()));
          ++requests;
        }
      }
    }
  }
  CHECK(texts.size() == requests);
}

TEST_CASE("shared scope ignores the caller") {
  // Whatever the session or credentials, the shared key is one key, and no caller's key is it.
  CHECK(sharedKey() ==
        cacheKey("tools/call", "whoami", "{}", "2025-06-18", CacheKeyScope::shared()));
  CHECK(callerKey({.session = "a"}) != sharedKey());
  CHECK(callerKey({}) != sharedKey());
}
