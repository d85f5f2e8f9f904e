#include "config/address.h"

#include <doctest/doctest.h>
#include <string>

namespace bulwark::config {
namespace {

HostPort parseOk(std::string_view text) {
  std::string error;
  const auto parsed = parseHostPort(text, error);
  INFO("input: ", text, "  error: ", error);
  REQUIRE(parsed.has_value());
  CHECK(error.empty());
  return *parsed;
}

// The error text for input that must be refused.
std::string parseFails(std::string_view text) {
  std::string error;
  const auto parsed = parseHostPort(text, error);
  INFO("input: ", text);
  CHECK_FALSE(parsed.has_value());
  CHECK_FALSE(error.empty());
  return error;
}

UpstreamUrl urlOk(std::string_view text) {
  std::string error;
  const auto parsed = parseUpstreamUrl(text, error);
  INFO("input: ", text, "  error: ", error);
  REQUIRE(parsed.has_value());
  return *parsed;
}

std::string urlFails(std::string_view text) {
  std::string error;
  const auto parsed = parseUpstreamUrl(text, error);
  INFO("input: ", text);
  CHECK_FALSE(parsed.has_value());
  CHECK_FALSE(error.empty());
  return error;
}

TEST_CASE("parseHostPort: IPv4, bracketed IPv6 and host names") {
  HostPort v4 = parseOk("127.0.0.1:8080");
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == 8080);

  HostPort v6 = parseOk("[::1]:9090");
  CHECK(v6.host == "::1"); // without brackets
  CHECK(v6.port == 9090);

  HostPort v6_full = parseOk("[fe80::1:2]:1");
  CHECK(v6_full.host == "fe80::1:2");
  CHECK(v6_full.port == 1);

  HostPort name = parseOk("localhost:0");
  CHECK(name.host == "localhost");
  CHECK(name.port == 0);

  HostPort dotted = parseOk("mcp.internal.example:65535");
  CHECK(dotted.host == "mcp.internal.example");
  CHECK(dotted.port == 65535);
}

TEST_CASE("parseHostPort: a missing or malformed port is refused") {
  CHECK(parseFails("127.0.0.1").find("expected HOST:PORT") != std::string::npos);
  CHECK(parseFails("localhost").find("expected HOST:PORT") != std::string::npos);
  CHECK(parseFails("127.0.0.1:").find("invalid port ''") != std::string::npos);
  CHECK(parseFails("127.0.0.1:http").find("invalid port 'http'") != std::string::npos);
  CHECK(parseFails("127.0.0.1:80x").find("invalid port '80x'") != std::string::npos);
  CHECK(parseFails("127.0.0.1:-1").find("invalid port '-1'") != std::string::npos);
  CHECK(parseFails("127.0.0.1:+80").find("invalid port") != std::string::npos);
  CHECK(parseFails("127.0.0.1: 80").find("invalid port") != std::string::npos);
  CHECK(parseFails("[::1]").find("expected [IPV6]:PORT") != std::string::npos);
  CHECK(parseFails("[::1]:").find("invalid port ''") != std::string::npos);
  CHECK(parseFails("[::1]8080").find("expected [IPV6]:PORT") != std::string::npos);
  CHECK(parseFails("[::1:8080").find("expected [IPV6]:PORT") != std::string::npos);
  parseFails("");
}

TEST_CASE("parseHostPort: ports above 65535 are refused") {
  CHECK(parseOk("h:65535").port == 65535);
  CHECK(parseFails("h:65536").find("invalid port '65536'") != std::string::npos);
  CHECK(parseFails("h:99999999999999999999").find("invalid port") != std::string::npos);
  CHECK(parseFails("[::1]:70000").find("invalid port '70000'") != std::string::npos);
}

TEST_CASE("parseHostPort: a missing host is refused") {
  CHECK(parseFails(":8080").find("missing host") != std::string::npos);
  CHECK(parseFails("[]:8080").find("missing host") != std::string::npos);
}

TEST_CASE("parseHostPort: an unbracketed IPv6 address is refused") {
  CHECK(parseFails("::1:8080").find("expected HOST:PORT") != std::string::npos);
  CHECK(parseFails("a:b:80").find("expected HOST:PORT") != std::string::npos);
}

TEST_CASE("parseUpstreamUrl: host, port, path and Host header") {
  const UpstreamUrl url = urlOk("http://127.0.0.1:3000/mcp");
  CHECK(url.origin.host == "127.0.0.1");
  CHECK(url.origin.port == 3000);
  CHECK(url.path == "/mcp");
  CHECK(url.host_header == "127.0.0.1:3000");

  const UpstreamUrl deep = urlOk("http://mcp.local:8000/api/v1/mcp/");
  CHECK(deep.origin.host == "mcp.local");
  CHECK(deep.origin.port == 8000);
  CHECK(deep.path == "/api/v1/mcp/");
  CHECK(deep.host_header == "mcp.local:8000");
}

TEST_CASE("parseUpstreamUrl: the path defaults to / and the port to 80") {
  const UpstreamUrl bare = urlOk("http://localhost");
  CHECK(bare.origin.host == "localhost");
  CHECK(bare.origin.port == 80);
  CHECK(bare.path == "/");
  CHECK(bare.host_header == "localhost");

  const UpstreamUrl with_port = urlOk("http://localhost:3000");
  CHECK(with_port.origin.port == 3000);
  CHECK(with_port.path == "/");
  CHECK(with_port.host_header == "localhost:3000");

  const UpstreamUrl slash = urlOk("http://localhost/");
  CHECK(slash.path == "/");
  CHECK(slash.origin.port == 80);
}

TEST_CASE("parseUpstreamUrl: IPv6 origins, with and without a port") {
  const UpstreamUrl with_port = urlOk("http://[::1]:3000/mcp");
  CHECK(with_port.origin.host == "::1");
  CHECK(with_port.origin.port == 3000);
  CHECK(with_port.path == "/mcp");
  CHECK(with_port.host_header == "[::1]:3000"); // the Host header keeps the brackets

  const UpstreamUrl no_port = urlOk("http://[::1]/mcp");
  CHECK(no_port.origin.host == "::1");
  CHECK(no_port.origin.port == 80);
  CHECK(no_port.host_header == "[::1]");
}

TEST_CASE("parseUpstreamUrl: the query stays in the path, the fragment is dropped") {
  const UpstreamUrl query = urlOk("http://127.0.0.1:3000/mcp?token=abc&x=1");
  CHECK(query.path == "/mcp?token=abc&x=1");
  CHECK(query.host_header == "127.0.0.1:3000");

  const UpstreamUrl fragment = urlOk("http://127.0.0.1:3000/mcp#section");
  CHECK(fragment.path == "/mcp");

  const UpstreamUrl both = urlOk("http://h/mcp?a=1#f");
  CHECK(both.path == "/mcp?a=1");
}

TEST_CASE("parseUpstreamUrl: only plain http is accepted") {
  CHECK(urlFails("https://127.0.0.1:3000/mcp").find("http://") != std::string::npos);
  urlFails("ftp://127.0.0.1/mcp");
  urlFails("127.0.0.1:3000/mcp");
  urlFails("//127.0.0.1:3000/mcp");
  urlFails("http:/127.0.0.1/mcp");
  urlFails("");
}

TEST_CASE("parseUpstreamUrl: credentials are refused") {
  CHECK(urlFails("http://user:secret@127.0.0.1:3000/mcp").find("credentials") != std::string::npos);
  CHECK(urlFails("http://user@127.0.0.1/mcp").find("credentials") != std::string::npos);
  // An '@' in the path is not a credential.
  CHECK(urlOk("http://127.0.0.1:3000/users/@me").path == "/users/@me");
}

TEST_CASE("parseUpstreamUrl: a missing host or a bad port is refused") {
  CHECK(urlFails("http:///mcp").find("no host") != std::string::npos);
  CHECK(urlFails("http://").find("no host") != std::string::npos);
  CHECK(urlFails("http://:3000/mcp").find("missing host") != std::string::npos);
  CHECK(urlFails("http://127.0.0.1:/mcp").find("invalid port") != std::string::npos);
  CHECK(urlFails("http://127.0.0.1:70000/mcp").find("invalid port") != std::string::npos);
  CHECK(urlFails("http://127.0.0.1:abc/mcp").find("invalid port") != std::string::npos);
  urlFails("http://[::1/mcp");
  urlFails("http://[::1]x/mcp");
  // Errors name the URL part that failed.
  CHECK(urlFails("http://127.0.0.1:x/").starts_with("upstream URL: "));
}

// Found in review: HTTP hardening and address edge cases.
// "[]" is no host; a query right after the authority belongs to the path "/"; the scheme is
// case-insensitive.
TEST_CASE("parseUpstreamUrl edge cases") {
  std::string error;
  CHECK_FALSE(parseUpstreamUrl("http://[]/mcp", error).has_value());
  const auto query = parseUpstreamUrl("http://h?x=1", error);
  REQUIRE(query.has_value());
  CHECK(query->path == "/?x=1");
  CHECK(parseUpstreamUrl("HTTP://h/mcp", error).has_value());
}

TEST_CASE("parseHostPort: hosts with characters no host name has are refused") {
  CHECK(parseFails("my host:80").find("invalid host") != std::string::npos);
  CHECK(parseFails("a/b:80").find("invalid host") != std::string::npos);
  CHECK(parseFails("user@h:80").find("invalid host") != std::string::npos);
  CHECK(parseOk("[fe80::1%eth0]:80").host == "fe80::1%eth0");
  urlFails("http://a b/mcp");
}

TEST_CASE("HostPort::text reads back through parseHostPort") {
  for (const char* text : {"127.0.0.1:8080", "[::1]:0", "localhost:9090"}) {
    CHECK(parseOk(text).text() == text);
  }
}

TEST_CASE("an upstream URL without a path draws a warning that names /mcp") {
  for (const char* root : {"http://127.0.0.1:3000", "http://127.0.0.1:3000/", "http://h?x=1"}) {
    INFO("url: ", root);
    const UpstreamUrl url = urlOk(root);
    CHECK(url.hasRootPath());
    const auto warning = rootPathWarning(url);
    REQUIRE(warning.has_value());
    CHECK(warning->find(std::string(root)) != std::string::npos);
    CHECK(warning->find("/mcp") != std::string::npos);
  }
  CHECK(rootPathWarning(urlOk("http://127.0.0.1:3000")).value().find("http://127.0.0.1:3000/mcp") !=
        std::string::npos);
  for (const char* with_path : {"http://127.0.0.1:3000/mcp", "http://h/api/", "http://h/mcp?x=1"}) {
    INFO("url: ", with_path);
    const UpstreamUrl url = urlOk(with_path);
    CHECK_FALSE(url.hasRootPath());
    CHECK_FALSE(rootPathWarning(url).has_value());
  }
  CHECK(urlOk("http://127.0.0.1:3000/mcp").text == "http://127.0.0.1:3000/mcp");
}

} // namespace
} // namespace bulwark::config
