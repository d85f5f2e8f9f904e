#include "proxy/net/address.h"

#include <arpa/inet.h>
#include <cstring>
#include <doctest/doctest.h>
#include <string>

namespace bulwark {
namespace {

TEST_CASE("formatAddress: IPv4 and IPv6 with their ports") {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(8080);
  REQUIRE(inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr) == 1);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&v4)) == "127.0.0.1:8080");

  sockaddr_in any{};
  any.sin_family = AF_INET;
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&any)) == "0.0.0.0:0");

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(65535);
  REQUIRE(inet_pton(AF_INET6, "::1", &v6.sin6_addr) == 1);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&v6)) == "[::1]:65535");

  sockaddr_in6 long_v6{};
  long_v6.sin6_family = AF_INET6;
  long_v6.sin6_port = htons(1);
  REQUIRE(inet_pton(AF_INET6, "2001:db8:0:0:1:0:0:1", &long_v6.sin6_addr) == 1);
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&long_v6)) == "[2001:db8::1:0:0:1]:1");

  sockaddr_storage other{};
  other.ss_family = AF_UNIX;
  CHECK(formatAddress(reinterpret_cast<const sockaddr*>(&other)) == "unknown");
}

TEST_CASE("formatAddress reads back what resolveHostPort resolved") {
  std::string error;
  const auto v4 = resolveHostPort({"127.0.0.1", 4242}, error);
  REQUIRE_MESSAGE(v4.has_value(), error);
  CHECK(formatAddress(v4->get()) == "127.0.0.1:4242");
  const auto v6 = resolveHostPort({"::1", 4243}, error);
  REQUIRE_MESSAGE(v6.has_value(), error);
  CHECK(formatAddress(v6->get()) == "[::1]:4243");
}

} // namespace
} // namespace bulwark
