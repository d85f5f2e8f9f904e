// Which request-targets are the MCP endpoint: every spelling a server could route to its MCP
// handler is either judged as the MCP path (and sent upstream as the configured path) or refused;
// other paths go through as they came.
#include "proxy/http/request_target.h"

#include <doctest/doctest.h>
#include <string>
#include <string_view>

using namespace bulwark;

namespace {

constexpr std::string_view kHost = "127.0.0.1:8080";

std::string kindOf(const TargetVerdict& verdict) {
  switch (verdict.kind) {
  case TargetClass::kMcpEndpoint:
    return "mcp";
  case TargetClass::kOtherPath:
    return "other";
  case TargetClass::kRefused:
    return "refused";
  }
  return "?";
}

TargetVerdict classify(std::string_view target, std::string_view mcp_path = "/mcp",
                       std::string_view host = kHost) {
  return classifyRequestTarget(target, mcp_path, host);
}

// The upstream target of a judged request, or "" when it goes unchanged.
std::string judgedAs(std::string_view target, std::string_view mcp_path = "/mcp") {
  const TargetVerdict verdict = classify(target, mcp_path);
  CHECK_MESSAGE(verdict.kind == TargetClass::kMcpEndpoint, target, " is ", kindOf(verdict), " ",
                verdict.reason);
  return verdict.upstream_target;
}

std::string refusalOf(std::string_view target, std::string_view mcp_path = "/mcp",
                      std::string_view host = kHost) {
  const TargetVerdict verdict = classify(target, mcp_path, host);
  CHECK_MESSAGE(verdict.kind == TargetClass::kRefused, target, " is ", kindOf(verdict));
  CHECK(verdict.upstream_target.empty());
  return std::string(verdict.reason);
}

bool isOther(std::string_view target, std::string_view mcp_path = "/mcp",
             std::string_view host = kHost) {
  const TargetVerdict verdict = classify(target, mcp_path, host);
  return verdict.kind == TargetClass::kOtherPath && verdict.upstream_target.empty() &&
         verdict.reason.empty();
}

}  // namespace

TEST_CASE("normalizedPath: RFC 3986 6.2.2 percent-encoding and dot segments") {
  CHECK(normalizedPath("/mcp") == "/mcp");
  CHECK(normalizedPath("/%6dcp") == "/mcp");
  CHECK(normalizedPath("/%6Dcp") == "/mcp");
  CHECK(normalizedPath("/%7E%2d%2E%5F") == "/~-._");
  CHECK(normalizedPath("/a%2fb") == "/a%2Fb");  // reserved: stays encoded, hex upper-cased
  CHECK(normalizedPath("/a%3bb") == "/a%3Bb");
  CHECK(normalizedPath("/a%zzb") == "/a%zzb");  // not an encoding: left as it is
  CHECK(normalizedPath("/a%2") == "/a%2");
  CHECK(normalizedPath("/a%") == "/a%");
  CHECK(normalizedPath("/") == "/");
  CHECK(normalizedPath("/./mcp") == "/mcp");
  CHECK(normalizedPath("/x/../mcp") == "/mcp");
  CHECK(normalizedPath("/../../mcp") == "/mcp");
  CHECK(normalizedPath("/mcp/.") == "/mcp/");
  CHECK(normalizedPath("/mcp/x/..") == "/mcp/");
  CHECK(normalizedPath("/a/..") == "/");
  CHECK(normalizedPath("/..") == "/");
  CHECK(normalizedPath("/a//../b") == "/a/b");  // RFC 3986 5.2.4's own steps give the same
  CHECK(normalizedPath("//mcp") == "//mcp");    // empty segments are not dot segments
  CHECK(normalizedPath("/%2e%2e/mcp") == "/mcp");
  CHECK(normalizedPath("/.%2e/mcp") == "/mcp");
  CHECK(normalizedPath("/...") == "/...");
  CHECK(normalizedPath("/.mcp") == "/.mcp");
}

TEST_CASE("the MCP path as configured is judged and goes upstream unchanged") {
  CHECK(judgedAs("/mcp").empty());
  CHECK(judgedAs("/mcp?").empty());
  CHECK(judgedAs("/mcp?session=1&x=%2F").empty());
  CHECK(judgedAs("/api/v1/mcp", "/api/v1/mcp").empty());
  CHECK(judgedAs("/", "/").empty());
  CHECK(judgedAs("/?x", "").empty());  // no configured path means "/"
}

TEST_CASE("equivalent spellings are judged and go upstream as the configured path") {
  CHECK(judgedAs("/%6dcp") == "/mcp");
  CHECK(judgedAs("/%6D%63%70") == "/mcp");
  CHECK(judgedAs("/%6dcp?a=b") == "/mcp?a=b");
  CHECK(judgedAs("/mcp/") == "/mcp");
  CHECK(judgedAs("/mcp/?a=b") == "/mcp?a=b");
  CHECK(judgedAs("/./mcp") == "/mcp");
  CHECK(judgedAs("/x/../mcp") == "/mcp");
  CHECK(judgedAs("/../mcp") == "/mcp");
  CHECK(judgedAs("/mcp/.") == "/mcp");
  CHECK(judgedAs("/mcp/x/..") == "/mcp");
  CHECK(judgedAs("/%2e%2e/mcp") == "/mcp");
  // A configured path with a trailing slash is what the upstream gets, whichever the client used.
  CHECK(judgedAs("/mcp", "/mcp/") == "/mcp/");
  CHECK(judgedAs("/mcp/", "/mcp/").empty());
  CHECK(judgedAs("/api/./v1/mcp", "/api/v1/mcp") == "/api/v1/mcp");
  CHECK(judgedAs("/.", "/") == "/");
  CHECK(judgedAs("/a/..?q", "/") == "/?q");
}

TEST_CASE("absolute-form whose authority is Host goes through the same judgement") {
  CHECK(judgedAs("http://127.0.0.1:8080/mcp") == "/mcp");
  CHECK(judgedAs("HTTP://127.0.0.1:8080/mcp?x=1") == "/mcp?x=1");
  CHECK(judgedAs("https://127.0.0.1:8080/%6dcp/") == "/mcp");
  CHECK(classify("http://LocalHost/mcp", "/mcp", "localhost:80").kind ==
        TargetClass::kMcpEndpoint);
  CHECK(classify("https://example.com:443/mcp", "/mcp", "example.com").kind ==
        TargetClass::kMcpEndpoint);
  CHECK(classify("http://example.com:/mcp", "/mcp", "example.com").kind ==
        TargetClass::kMcpEndpoint);
  CHECK(classify("http://[::1]:8080/mcp", "/mcp", "[::1]:8080").kind ==
        TargetClass::kMcpEndpoint);
  // No path is "/" (RFC 9112 3.2.2).
  CHECK(classify("http://127.0.0.1:8080", "/", kHost).upstream_target == "/");
  CHECK(classify("http://127.0.0.1:8080?q", "/", kHost).upstream_target == "/?q");
  CHECK(isOther("http://127.0.0.1:8080"));
  // Another path in absolute-form goes as it came.
  CHECK(isOther("http://127.0.0.1:8080/other"));
  CHECK(refusalOf("http://127.0.0.1:8080/MCP").find("letter case") != std::string::npos);
}

TEST_CASE("absolute-form that disagrees with Host, or is not http(s), is refused on any path") {
  const std::string authority = refusalOf("http://evil.example/mcp");
  CHECK(authority.find("Host") != std::string::npos);
  CHECK(refusalOf("http://evil.example/other") == authority);
  CHECK(refusalOf("http://127.0.0.1:8081/mcp") == authority);
  CHECK(refusalOf("http://127.0.0.1/mcp") == authority);  // :80 is not :8080
  CHECK(refusalOf("http:///mcp") == authority);           // no authority
  CHECK(refusalOf("http://127.0.0.1:8080/mcp", "/mcp", "") == authority);  // no Host field
  CHECK(refusalOf("http://example.com:80/mcp", "/mcp", "example.com:443") == authority);
  CHECK(refusalOf("http://user@127.0.0.1:8080/mcp").find("userinfo") != std::string::npos);
  CHECK(refusalOf("ftp://127.0.0.1:8080/mcp").find("scheme") != std::string::npos);
  const std::string form = refusalOf("mcp");
  CHECK(form.find("origin-form") != std::string::npos);
  CHECK(refusalOf("127.0.0.1:8080") == form);  // authority-form belongs to CONNECT
  CHECK(refusalOf("http:/mcp") == form);
  CHECK(refusalOf("1http://127.0.0.1:8080/mcp") == form);
  CHECK(refusalOf("") == form);
  CHECK(isOther("*"));  // OPTIONS *
}

TEST_CASE("spellings a lenient server would route to the MCP handler are refused, naming why") {
  struct Case {
    std::string_view target;
    std::string_view says;
  };
  const Case cases[] = {
      {"/MCP", "letter case"},
      {"/Mcp", "letter case"},
      {"/MCP/", "letter case"},
      {"/%4dCP", "letter case"},
      {"/mcp#x", "fragment"},
      {"/mcp/#x", "fragment"},
      {"/mcp;x", "parameters"},
      {"/mcp;", "parameters"},
      {"/mcp;a=b/", "parameters"},
      {"/x/..;/mcp", "parameters"},  // Tomcat reads "..;" as ".."
      {"/;x/mcp", "parameters"},
      {"//mcp", "repeated slashes"},
      {"/mcp//", "repeated slashes"},
      {"///mcp", "repeated slashes"},
      {"/x//../mcp", "repeated slashes"},
      {"\\mcp", "?"},  // not origin-form at all
      {"/\\mcp", "backslash"},
      {"/mcp\\", "backslash"},
      {"/%2fmcp", "not unreserved"},
      {"/%5cmcp", "not unreserved"},
      {"/mcp%2F", "not unreserved"},
      {"/mcp%3bx", "not unreserved"},
      {"/mcp%3Fx", "not unreserved"},
      {"/mcp%23x", "not unreserved"},
      {"/mcp%00", "control character"},
      {"/mcp%0a", "control character"},
      {"/mcp%00.json", "control character"},
      {"/%256dcp", "percent-encoded percent"},
      {"/%25256dcp", "percent-encoded percent"},
  };
  for (const Case& c : cases) {
    const std::string reason = refusalOf(c.target);
    if (c.says != "?") {
      CHECK_MESSAGE(reason.find(c.says) != std::string::npos, c.target, ": ", reason);
    }
  }
}

TEST_CASE("other paths go through untouched, including near misses of the MCP path") {
  for (const std::string_view target :
       {"/", "/healthz", "/mcpx", "/mc", "/mcp/x", "/mcp/x/", "/x/mcp", "/mcp.json", "/mcp-2",
        "/mcp%20", "/mcp%2Fx", "/%2e%2e", "/MCPX", "/mcp/..", "/mcp/../x", "/mcp;x/y",
        "/other#frag", "/other?x#y", "/.well-known/oauth-authorization-server", "/%zz",
        "/mcp%"}) {
    CHECK_MESSAGE(isOther(target), target);
  }
}

TEST_CASE("a configured path with several segments, or the root") {
  CHECK(judgedAs("/api/v1/mcp/", "/api/v1/mcp") == "/api/v1/mcp");
  CHECK(judgedAs("/api/%76%31/mcp", "/api/v1/mcp") == "/api/v1/mcp");
  CHECK(refusalOf("/api//v1/mcp", "/api/v1/mcp").find("repeated") != std::string::npos);
  CHECK(refusalOf("/API/v1/mcp", "/api/v1/mcp").find("case") != std::string::npos);
  CHECK(refusalOf("/api;x/v1/mcp", "/api/v1/mcp").find("parameters") != std::string::npos);
  CHECK(isOther("/api/v1", "/api/v1/mcp"));
  CHECK(isOther("/mcp", "/api/v1/mcp"));
  // The root: every other path is another path, but its spellings are still caught.
  CHECK(isOther("/mcp", "/"));
  CHECK(refusalOf("//", "/").find("repeated") != std::string::npos);
  CHECK(refusalOf("/;x", "/").find("parameters") != std::string::npos);
  CHECK(refusalOf("/%2f", "/").find("not unreserved") != std::string::npos);
}
