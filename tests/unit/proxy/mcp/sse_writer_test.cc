#include "proxy/mcp/sse_writer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/mcp/sse_parser.h"

namespace bulwark {
namespace {

// What a client's SSE reader makes of the bytes: each event's data.
std::vector<std::string> dataOf(std::string_view stream) {
  std::vector<std::string> data;
  SseParser parser;
  parser.feed(stream, [&](const SseEvent& event) { data.push_back(event.data); });
  return data;
}

TEST_CASE("a one-line message is one data line of one message event") {
  CHECK(sseMessageEvent(R"({"jsonrpc":"2.0","id":1,"result":{}})") ==
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
}

TEST_CASE("a pretty-printed message reaches the reader whole, every line its own data line") {
  const std::string json = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"result\": {}\n}";
  CHECK(sseMessageEvent(json) ==
        "event: message\ndata: {\ndata:   \"jsonrpc\": \"2.0\",\ndata:   \"id\": 7,\n"
        "data:   \"result\": {}\ndata: }\n\n");
  CHECK(dataOf(sseMessageEvent(json)) == std::vector<std::string>{json});
}

TEST_CASE("CRLF and lone CR end a line as an SSE reader sees it") {
  CHECK(sseMessageEvent("{\r\n\"a\":1\r}") == "event: message\ndata: {\ndata: \"a\":1\ndata: }\n\n");
  CHECK(dataOf(sseMessageEvent("{\r\n\"a\":1\r}")) == std::vector<std::string>{"{\n\"a\":1\n}"});
}

TEST_CASE("a trailing line break becomes an empty data line, which the reader keeps") {
  const std::string json = "{\"id\":1}\n";
  CHECK(sseMessageEvent(json) == "event: message\ndata: {\"id\":1}\ndata: \n\n");
  CHECK(dataOf(sseMessageEvent(json)) == std::vector<std::string>{json});
}

TEST_CASE("appendSseMessageEvent adds to what is already there") {
  std::string out = "id: 3\n";
  appendSseMessageEvent(out, "{}");
  CHECK(out == "id: 3\nevent: message\ndata: {}\n\n");
}

}  // namespace
}  // namespace bulwark
