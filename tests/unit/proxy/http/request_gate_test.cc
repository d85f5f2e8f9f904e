// The Host and Origin allowlists of the request gate (DNS-rebinding protection): pure matching.
#include "proxy/http/request_gate.h"

#include <doctest/doctest.h>

using namespace bulwark;

TEST_CASE("an allowlist matches exact values and host:* patterns, case-insensitively") {
  const Allowlist origins({"https://app.example.com", "http://localhost:*", "http://[::1]:*"});
  CHECK(origins.allows("https://app.example.com"));
  CHECK(origins.allows("HTTPS://App.Example.COM"));
  CHECK(origins.allows("http://localhost"));
  CHECK(origins.allows("http://localhost:6274"));
  CHECK(origins.allows("http://[::1]:8080"));
  CHECK_FALSE(origins.allows("https://app.example.com:8443"));  // exact means exact
  CHECK_FALSE(origins.allows("http://app.example.com"));        // another scheme
  CHECK_FALSE(origins.allows("https://localhost:6274"));
  CHECK_FALSE(origins.allows("http://localhost.evil.example"));
  CHECK_FALSE(origins.allows("http://localhost:6274.evil.example"));
  CHECK_FALSE(origins.allows("null"));
  CHECK_FALSE(origins.allows(""));
  CHECK_FALSE(origins.allowsAll());
}

TEST_CASE("\"*\" allows anything; an empty list allows nothing") {
  CHECK(Allowlist({"*"}).allows("http://evil.example.com"));
  CHECK(Allowlist({"*"}).allowsAll());
  CHECK_FALSE(Allowlist(std::vector<std::string>{}).allows("http://localhost"));
}

TEST_CASE("the defaults: loopback names on a loopback listener, anything elsewhere") {
  const Allowlist hosts(defaultAllowedHosts(true));
  CHECK(hosts.allows("127.0.0.1:8080"));
  CHECK(hosts.allows("localhost"));
  CHECK(hosts.allows("[::1]:8080"));
  CHECK(hosts.allows("LocalHost:8080"));  // host:* patterns ignore case too
  CHECK_FALSE(hosts.allows("evil.example.com"));
  CHECK_FALSE(hosts.allows("evil.example.com:8080"));
  const Allowlist origins(defaultAllowedOrigins(true));
  CHECK(origins.allows("http://127.0.0.1:8080"));
  CHECK(origins.allows("https://localhost:3000"));
  CHECK_FALSE(origins.allows("http://evil.example.com"));
  CHECK(Allowlist(defaultAllowedHosts(false)).allowsAll());
  CHECK(Allowlist(defaultAllowedOrigins(false)).allowsAll());
}

TEST_CASE("loopback listen hosts") {
  CHECK(isLoopbackHost("127.0.0.1"));
  CHECK(isLoopbackHost("127.1.2.3"));
  CHECK(isLoopbackHost("::1"));
  CHECK(isLoopbackHost("localhost"));
  CHECK_FALSE(isLoopbackHost("0.0.0.0"));
  CHECK_FALSE(isLoopbackHost("::"));
  CHECK_FALSE(isLoopbackHost("10.0.0.1"));
}
