#include "policies/response_cache.h"
#include "proxy/shared/shared_key.h"

#include <cstdlib>
#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

TEST_CASE("hmacSha256Hex matches RFC 4231") {
  // Test case 1: a 20-byte key of 0x0b.
  CHECK(hmacSha256Hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  CHECK(hmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size (hashed first).
  CHECK(hmacSha256Hex(std::string(131, '\xaa'),
                      "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("sha256Hex matches FIPS 180-2; a session id is named by its digest") {
  CHECK(sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Keyed when there is a secret, unkeyed SHA-256 otherwise; never the id itself.
  CHECK(sessionDigestHex("s3cret", "session-1") == hmacSha256Hex("s3cret", "session-1"));
  CHECK(sessionDigestHex("", "session-1") == sha256Hex("session-1"));
  CHECK(sessionDigestHex("s3cret", "session-1") != sessionDigestHex("", "session-1"));
  CHECK(sessionDigestHex("", "session-1").find("session") == std::string::npos);
}

TEST_CASE("a shared cache key names the entry without the caller's credential") {
  const SharedKeys keys("s3cret", "bulwark:");
  const std::string local =
      policies::cacheKey("tools/call", "weather", R"({"city":"Oslo"})", "2025-06-18",
                         policies::CacheKeyScope::callerOf("Bearer token-of-alice"));
  const std::string name = keys.cacheKey(local);
  CHECK(name == "bulwark:cache:" + hmacSha256Hex("s3cret", local));
  CHECK(name.size() == std::string("bulwark:cache:").size() + 64);
  CHECK(name.find("alice") == std::string::npos);
  CHECK(name.find("Oslo") == std::string::npos);
  // Same local key, same name (on every replica with the same secret); another caller, another.
  CHECK(keys.cacheKey(local) == name);
  CHECK(
      keys.cacheKey(policies::cacheKey("tools/call", "weather", R"({"city":"Oslo"})", "2025-06-18",
                                       policies::CacheKeyScope::callerOf("Bearer bob"))) != name);
  // Another secret gives another name: without the secret the name cannot be computed.
  CHECK(SharedKeys("other", "bulwark:").cacheKey(local) != name);
}

TEST_CASE("without a secret in the environment, cache sharing is off and says why") {
  std::string why;
  CHECK_FALSE(SharedKeys::fromEnvironment("", "bulwark:", &why).has_value());
  CHECK(why.find("key_secret_env is not set") != std::string::npos);

  ::unsetenv("BULWARK_TEST_SHARED_SECRET");
  why.clear();
  CHECK_FALSE(SharedKeys::fromEnvironment("BULWARK_TEST_SHARED_SECRET", "bulwark:", &why));
  CHECK(why.find("BULWARK_TEST_SHARED_SECRET") != std::string::npos);
  CHECK(why.find("unset") != std::string::npos);

  ::setenv("BULWARK_TEST_SHARED_SECRET", "", 1);
  why.clear();
  CHECK_FALSE(SharedKeys::fromEnvironment("BULWARK_TEST_SHARED_SECRET", "bulwark:", &why));
  CHECK(why.find("empty") != std::string::npos);

  ::setenv("BULWARK_TEST_SHARED_SECRET", "value-never-shown", 1);
  why.clear();
  const auto keys = SharedKeys::fromEnvironment("BULWARK_TEST_SHARED_SECRET", "p:", &why);
  REQUIRE(keys.has_value());
  CHECK(why.empty());
  CHECK(keys->cacheKey("k") == "p:cache:" + hmacSha256Hex("value-never-shown", "k"));
  ::unsetenv("BULWARK_TEST_SHARED_SECRET");
}

} // namespace
} // namespace bulwark
