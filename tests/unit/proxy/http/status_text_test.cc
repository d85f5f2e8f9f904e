#include "proxy/http/status_text.h"

#include <doctest/doctest.h>

#include <string_view>

namespace bulwark {
namespace {

TEST_CASE("every status Bulwark sends has its RFC 9110 reason phrase") {
  struct Case {
    int status;
    std::string_view text;
  };
  // The codes the client connection, the admin port, the stdio bridge and the exchange send.
  const Case cases[] = {
      {200, "OK"},
      {202, "Accepted"},
      {400, "Bad Request"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},  // a timed-out request was answered "504 Error"
  };
  for (const Case& c : cases) {
    CAPTURE(c.status);
    CHECK(statusText(c.status) == c.text);
  }
}

TEST_CASE("a code outside the table still gets a phrase") {
  CHECK(statusText(599) == "Error");
}

}  // namespace
}  // namespace bulwark
