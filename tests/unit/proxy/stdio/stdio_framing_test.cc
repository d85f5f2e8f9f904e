// Newline-delimited framing of a stdio child's output, and how the bridge reads and rewrites
// the ids of JSON-RPC messages.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "proxy/stdio/line_splitter.h"
#include "proxy/stdio/message_scan.h"

namespace bulwark::stdio {
namespace {

struct Line {
  std::string text;
  bool truncated;
  bool operator==(const Line&) const = default;
};

std::vector<Line> feedAll(LineSplitter& splitter, const std::vector<std::string>& chunks) {
  std::vector<Line> lines;
  for (const std::string& chunk : chunks) {
    splitter.feed(chunk, [&](std::string_view line, bool truncated) {
      lines.push_back({std::string(line), truncated});
    });
  }
  return lines;
}

TEST_CASE("lines: whole, split across reads, several per read, CRLF, blank lines skipped") {
  LineSplitter splitter(1024);
  const auto lines = feedAll(splitter, {"{\"a\":1}\n{\"b\"", ":2}\r\n\n\n{\"c\":3}\n{\"d\""});
  CHECK(lines == std::vector<Line>{{"{\"a\":1}", false}, {"{\"b\":2}", false}, {"{\"c\":3}", false}});
  CHECK(splitter.pending() == "{\"d\"");
  const auto rest = feedAll(splitter, {":4}\n"});
  CHECK(rest == std::vector<Line>{{"{\"d\":4}", false}});
  CHECK(splitter.pending().empty());
}

TEST_CASE("lines: one byte at a time gives the same lines") {
  LineSplitter splitter(1024);
  const std::string input = "{\"x\":\"y\"}\n{\"z\":[1,2]}\n";
  std::vector<std::string> bytes;
  for (const char c : input) {
    bytes.emplace_back(1, c);
  }
  const auto lines = feedAll(splitter, bytes);
  CHECK(lines == std::vector<Line>{{"{\"x\":\"y\"}", false}, {"{\"z\":[1,2]}", false}});
}

TEST_CASE("lines: a line over the cap is reported once, truncated, and the next line is whole") {
  LineSplitter splitter(8);
  const auto lines = feedAll(splitter, {"0123456789", "abcdef", "\nshort\n"});
  CHECK(lines == std::vector<Line>{{"01234567", true}, {"short", false}});
  // Exactly at the cap is not over it.
  LineSplitter exact(5);
  CHECK(feedAll(exact, {"12345\n"}) == std::vector<Line>{{"12345", false}});
  // Over the cap inside one read that also holds the newline.
  LineSplitter one_read(4);
  CHECK(feedAll(one_read, {"123456\nok\n"}) == std::vector<Line>{{"1234", true}, {"ok", false}});
}

TEST_CASE("scan: requests, notifications and responses with their id spans") {
  EnvelopeParser parser;
  const std::string request =
      R"({"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"x","_meta":{"progressToken":7}}})";
  const auto r = scanMessage(parser, request);
  REQUIRE(r);
  CHECK(r->kind == ScannedKind::kRequest);
  CHECK(r->method == "tools/call");
  CHECK(r->id.in(request) == "\"abc\"");
  CHECK(r->progress_token.in(request) == "7");

  const std::string progress =
      R"({"method":"notifications/progress","params":{"progress":1,"progressToken":"tok"},"jsonrpc":"2.0"})";
  const auto p = scanMessage(parser, progress);
  REQUIRE(p);
  CHECK(p->kind == ScannedKind::kNotification);
  CHECK(p->progress_token.in(progress) == "\"tok\"");
  CHECK_FALSE(p->id.present());

  const std::string response = R"({"result":{"id":99,"nested":{"id":5}},"jsonrpc":"2.0", "id" : 12 })";
  const auto a = scanMessage(parser, response);
  REQUIRE(a);
  CHECK(a->kind == ScannedKind::kResponse);
  CHECK(a->id.in(response) == "12");  // the top-level id, not one inside the result
  CHECK(parseBridgeId(a->id.in(response)) == 12);

  const std::string cancel =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r-1","reason":"x"}})";
  const auto c = scanMessage(parser, cancel);
  REQUIRE(c);
  CHECK(c->cancelled_request_id.in(cancel) == "\"r-1\"");
  // requestId is only read for notifications/cancelled.
  const auto other = scanMessage(parser, R"({"jsonrpc":"2.0","method":"x","params":{"requestId":1}})");
  REQUIRE(other);
  CHECK_FALSE(other->cancelled_request_id.present());
}

TEST_CASE("scan: not a JSON-RPC message") {
  EnvelopeParser parser;
  CHECK_FALSE(scanMessage(parser, "not json"));
  CHECK_FALSE(scanMessage(parser, "[1,2]"));
  CHECK_FALSE(scanMessage(parser, R"({"jsonrpc":"2.0","id":1})"));  // neither method nor answer
  CHECK_FALSE(scanMessage(parser, R"({"jsonrpc":"2.0","method":5})"));
  CHECK_FALSE(scanMessage(parser, ""));
}

TEST_CASE("id mapping: the child sees the bridge's id, the client gets its own back") {
  EnvelopeParser parser;
  const std::string from_client =
      R"({"jsonrpc":"2.0","id":"client-7","method":"tools/call","params":{"name":"echo","arguments":{"id":"client-7"}}})";
  const auto scanned = scanMessage(parser, from_client);
  REQUIRE(scanned);
  const std::string to_child = replaceSpan(from_client, scanned->id, "41");
  CHECK(to_child ==
        R"({"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","arguments":{"id":"client-7"}}})");

  const std::string from_child = R"({"result":{"content":[]},"jsonrpc":"2.0","id":41})";
  const auto answer = scanMessage(parser, from_child);
  REQUIRE(answer);
  REQUIRE(parseBridgeId(answer->id.in(from_child)) == 41);
  CHECK(replaceSpan(from_child, answer->id, scanned->id.in(from_client)) ==
        R"({"result":{"content":[]},"jsonrpc":"2.0","id":"client-7"})");
}

TEST_CASE("id mapping: ids the bridge never issues are not mistaken for its own") {
  CHECK_FALSE(parseBridgeId("\"41\""));
  CHECK_FALSE(parseBridgeId("41.0"));
  CHECK_FALSE(parseBridgeId("1e3"));
  CHECK_FALSE(parseBridgeId(""));
  CHECK(parseBridgeId("-3") == -3);
}

TEST_CASE("batches split into their elements, whitespace and nesting kept") {
  EnvelopeParser parser;
  const std::string batch = R"([ {"jsonrpc":"2.0","id":1,"method":"ping"} ,
    {"jsonrpc":"2.0","method":"x","params":{"a":[1,{"b":"],"}]}},{"jsonrpc":"2.0","id":"two","method":"ping"}])";
  const auto parts = scanMessages(parser, batch);
  REQUIRE(parts);
  CHECK(parts->batch);
  REQUIRE(parts->messages.size() == 3);
  const auto text = [&](std::size_t i) { return parts->messages[i].text.in(batch); };
  CHECK(text(0) == R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(text(1) == R"({"jsonrpc":"2.0","method":"x","params":{"a":[1,{"b":"],"}]}})");
  CHECK(text(2) == R"({"jsonrpc":"2.0","id":"two","method":"ping"})");
  // Spans inside an element are relative to the element.
  CHECK(parts->messages[2].id.in(text(2)) == R"("two")");
  CHECK(parts->messages[0].kind == ScannedKind::kRequest);
  CHECK(parts->messages[1].kind == ScannedKind::kNotification);

  const auto single = scanMessages(parser, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  REQUIRE(single);
  CHECK_FALSE(single->batch);
  CHECK(single->messages.size() == 1);
  CHECK_FALSE(scanMessages(parser, "[1,"));
  CHECK_FALSE(scanMessages(parser, R"([{"jsonrpc":"2.0","id":1,"method":"ping"},1])"));
  const auto empty = scanMessages(parser, "[]");
  REQUIRE(empty);
  CHECK(empty->messages.empty());
}

TEST_CASE("scan: lenient where the proxy is strict, so the child or client judges") {
  EnvelopeParser parser;
  const auto no_version = scanMessage(parser, R"({"id":3,"method":"tools/list"})");
  REQUIRE(no_version);
  CHECK(no_version->kind == ScannedKind::kRequest);
  const auto null_id = scanMessage(parser, R"({"jsonrpc":"2.0","id":null,"method":"x"})");
  REQUIRE(null_id);
  CHECK(null_id->kind == ScannedKind::kNotification); // a null id answers nothing
  const auto answer = scanMessage(parser, R"({"id":4,"error":{"code":"x"}})");
  REQUIRE(answer);
  CHECK(answer->kind == ScannedKind::kResponse);
}

TEST_CASE("progress tokens and cancelled ids match the client's by value") {
  // A JavaScript child writes the token the client sent as `1.0` back as `1`.
  CHECK(sameIdText("1.0", "1"));
  CHECK(sameIdText(R"("\u00e9")", "\"\xC3\xA9\""));
  CHECK(sameIdText("\"t\"", "\"t\""));
  CHECK_FALSE(sameIdText("\"1\"", "1"));
  CHECK_FALSE(sameIdText("", "1"));
}

}  // namespace
}  // namespace bulwark::stdio
