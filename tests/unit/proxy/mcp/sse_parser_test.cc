#include "proxy/mcp/sse_parser.h"

#include <doctest/doctest.h>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace doctest {
// So that a failed comparison shows the events.
template <> struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& events) {
    std::string out = "{";
    for (const std::string& e : events)
      out += "\n  " + e;
    out += "\n}";
    return out.c_str();
  }
};
} // namespace doctest

namespace bulwark {
namespace {

// One line per event, so that a mismatch shows which field differs.
std::string describe(const SseEvent& e) {
  std::string out = "type=[" + e.type + "] data=[" + e.data + "]";
  out += e.id ? " id=[" + *e.id + "]" : " id=none";
  out += e.retry_ms ? " retry=" + std::to_string(*e.retry_ms) : " retry=none";
  return out;
}

class Collector {
public:
  explicit Collector(std::size_t max_event_bytes = 4 * 1024 * 1024) : parser_(max_event_bytes) {}

  Collector& feed(std::string_view bytes) {
    parser_.feed(bytes, [this](const SseEvent& e) { events_.push_back(describe(e)); });
    return *this;
  }

  const std::vector<std::string>& events() const { return events_; }
  const SseParser& parser() const { return parser_; }

private:
  SseParser parser_;
  std::vector<std::string> events_;
};

std::vector<std::string> parseWhole(std::string_view stream,
                                    std::size_t max_event_bytes = 1 << 20) {
  Collector c(max_event_bytes);
  c.feed(stream);
  return c.events();
}

std::vector<SseEvent> parseEvents(std::string_view stream) {
  SseParser parser;
  std::vector<SseEvent> out;
  parser.feed(stream, [&](const SseEvent& e) { out.push_back(e); });
  return out;
}

// Exercises every feature at once: BOM, comments, all three line ends, multi-line data, fields
// without a space or without a colon, retry, id, an event with no data, and an overflowing event
// (under the limit used below).
const std::string kStream = "\xEF\xBB\xBF"
                            ": keep-alive\r\n"
                            "event: message\n"
                            "id: 1\r"
                            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n"
                            "\r\n"
                            "data:first\n"
                            "data\n"
                            "data:  two spaces\r"
                            "retry: 2500\n"
                            "\n"
                            "id: only-an-id\r\n"
                            "event: ignored\r\n"
                            "\r"
                            "data: " +
                            std::string(100, 'x') +
                            "\n"
                            "data: still the big one\n"
                            "\n"
                            ":\n"
                            "id\n"
                            "data: after overflow\r"
                            "\r"
                            "data: last\r\n"
                            "\r\n";

const std::vector<std::string> kStreamEvents = {
    R"(type=[message] data=[{"jsonrpc":"2.0","method":"notifications/progress"}])"
    R"( id=[1] retry=none)",
    "type=[] data=[first\n\n two spaces] id=none retry=2500",
    "type=[] data=[after overflow] id=[] retry=none",
    "type=[] data=[last] id=none retry=none",
};
constexpr std::size_t kStreamLimit = 80;

TEST_CASE("a simple event") {
  const auto events = parseEvents("data: hello\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type.empty());
  CHECK(events[0].data == "hello");
  CHECK_FALSE(events[0].id.has_value());
  CHECK_FALSE(events[0].retry_ms.has_value());
}

TEST_CASE("fields are read per the event stream rules") {
  const auto events = parseEvents("event: update\nid: 42\nretry: 1500\ndata: a\ndata: b\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "update");
  CHECK(events[0].data == "a\nb");
  CHECK(events[0].id == "42");
  CHECK(events[0].retry_ms == 1500);
}

TEST_CASE("every line ending gives the same events") {
  const std::string lf = "event: e\ndata: 1\ndata: 2\n\n: c\ndata: 3\n\n";
  std::string crlf, cr, mixed;
  int n = 0;
  for (char c : lf) {
    if (c != '\n') {
      crlf += c;
      cr += c;
      mixed += c;
      continue;
    }
    crlf += "\r\n";
    cr += "\r";
    // A \r never directly precedes a \n ending, which would make the two one \r\n.
    mixed += (n % 3 == 0) ? "\n" : (n % 3 == 1) ? "\r" : "\r\n";
    ++n;
  }
  const std::vector<std::string> expected = {
      "type=[e] data=[1\n2] id=none retry=none",
      "type=[] data=[3] id=none retry=none",
  };
  CHECK(parseWhole(lf) == expected);
  CHECK(parseWhole(crlf) == expected);
  CHECK(parseWhole(cr) == expected);
  CHECK(parseWhole(mixed) == expected);
}

TEST_CASE("a \\r\\n split across feeds is one line end") {
  // Were the \n taken as a second line end, "a" would go out as an event of its own.
  Collector c;
  c.feed("data: a\r").feed("\ndata: b\r").feed("\n\r").feed("\n");
  CHECK(c.events() == std::vector<std::string>{"type=[] data=[a\nb] id=none retry=none"});

  // A \r\r pair is two line ends: the second is the blank line.
  Collector d;
  d.feed("data: a\r").feed("\r").feed("\n");
  CHECK(d.events() == std::vector<std::string>{"type=[] data=[a] id=none retry=none"});
}

TEST_CASE("an event ending in \\r is delivered without waiting for the next byte") {
  Collector c;
  c.feed("data: now\r\r");
  CHECK(c.events().size() == 1);
  c.feed("\n"); // the \n that may follow changes nothing
  CHECK(c.events().size() == 1);
  c.feed("data: next\n\n");
  CHECK(c.events().size() == 2);
}

TEST_CASE("the stream gives the same events however it is split") {
  const std::vector<std::string> whole = parseWhole(kStream, kStreamLimit);
  REQUIRE(whole == kStreamEvents);

  SUBCASE("byte by byte") {
    Collector c(kStreamLimit);
    for (char ch : kStream)
      c.feed(std::string_view(&ch, 1));
    CHECK(c.events() == kStreamEvents);
    CHECK(c.parser().overflowed() == 1);
    CHECK(c.parser().dispatched() == kStreamEvents.size());
  }
  SUBCASE("in two pieces, at every position") {
    for (std::size_t i = 0; i <= kStream.size(); ++i) {
      Collector c(kStreamLimit);
      c.feed(std::string_view(kStream).substr(0, i)).feed(std::string_view(kStream).substr(i));
      INFO("split at ", i);
      CHECK(c.events() == kStreamEvents);
      CHECK(c.parser().overflowed() == 1);
    }
  }
  SUBCASE("in three pieces, at every pair of positions") {
    const std::string_view s = kStream;
    for (std::size_t i = 0; i <= s.size(); ++i) {
      for (std::size_t j = i; j <= s.size(); ++j) {
        Collector c(kStreamLimit);
        c.feed(s.substr(0, i)).feed(s.substr(i, j - i)).feed(s.substr(j));
        if (c.events() != kStreamEvents || c.parser().overflowed() != 1) {
          FAIL("split at ", i, " and ", j);
        }
      }
    }
  }
  SUBCASE("in random chunks, with empty feeds") {
    std::mt19937 random(12345);
    for (int round = 0; round < 500; ++round) {
      Collector c(kStreamLimit);
      std::size_t pos = 0;
      while (pos < kStream.size()) {
        const std::size_t len = std::uniform_int_distribution<std::size_t>(0, 24)(random);
        c.feed(std::string_view(kStream).substr(pos, len));
        pos += len;
      }
      INFO("round ", round);
      CHECK(c.events() == kStreamEvents);
    }
  }
}

TEST_CASE("comments are ignored, whatever their size") {
  CHECK(parseWhole(": ping\n\n").empty());
  CHECK(parseWhole(":\n:another\ndata: x\n: between\ndata: y\n\n") ==
        std::vector<std::string>{"type=[] data=[x\ny] id=none retry=none"});
  // A comment longer than the limit is neither stored nor counted as an overflow.
  Collector c(16);
  c.feed(":").feed(std::string(1000, 'c')).feed("\n").feed(": " + std::string(1000, 'd') + "\n");
  c.feed("data: ok\n\n");
  CHECK(c.events() == std::vector<std::string>{"type=[] data=[ok] id=none retry=none"});
  CHECK(c.parser().overflowed() == 0);
}

TEST_CASE("a leading BOM is skipped, once") {
  CHECK(parseWhole("\xEF\xBB\xBF"
                   "data: a\n\n") ==
        std::vector<std::string>{"type=[] data=[a] id=none retry=none"});
  // A second BOM is part of the next line, whose field name is then unknown.
  CHECK(parseWhole("\xEF\xBB\xBF"
                   "data: a\n\n\xEF\xBB\xBF"
                   "data: b\n\n") ==
        std::vector<std::string>{"type=[] data=[a] id=none retry=none"});
  // A BOM prefix that is not completed is not skipped either.
  CHECK(parseWhole("\xEF\xBB"
                   "data: a\n\n")
            .empty());
  // The BOM may come split.
  Collector c;
  c.feed("\xEF").feed("\xBB").feed("\xBF").feed("data: b\n\n");
  CHECK(c.events() == std::vector<std::string>{"type=[] data=[b] id=none retry=none"});
}

TEST_CASE("data lines join with newlines and keep all but one leading space") {
  CHECK(parseWhole("data: a\ndata:b\ndata:  c\ndata\ndata:\n\n") ==
        std::vector<std::string>{"type=[] data=[a\nb\n c\n\n] id=none retry=none"});
  // A data line with no value still makes an event (MCP servers use this to send a bare id).
  CHECK(parseWhole("id: 7\ndata:\n\n") ==
        std::vector<std::string>{"type=[] data=[] id=[7] retry=none"});
  // The value is everything after the first colon.
  CHECK(parseWhole("data: a: b:c\n\n") ==
        std::vector<std::string>{"type=[] data=[a: b:c] id=none retry=none"});
  // Field names are case-sensitive and unknown ones are ignored.
  CHECK(parseWhole("Data: x\nfoo: y\n\n").empty());
}

TEST_CASE("retry is taken only when it is all digits") {
  struct Case {
    const char* line;
    std::optional<long long> expected;
  };
  const Case cases[] = {
      {"retry: 1500", 1500}, {"retry:0", 0},
      {"retry: 007", 7},     {"retry: 15x", {}},
      {"retry:", {}},        {"retry: -5", {}},
      {"retry: +5", {}},     {"retry:  5", {}},
      {"retry: 1.5", {}},    {"retry: 99999999999999999999999", {}},
  };
  for (const Case& c : cases) {
    const auto events = parseEvents(std::string(c.line) + "\ndata: x\n\n");
    INFO(c.line);
    REQUIRE(events.size() == 1);
    CHECK(events[0].retry_ms == c.expected);
  }
}

TEST_CASE("id is taken unless it contains NUL") {
  auto idOf = [](std::string_view stream) { return parseEvents(stream).at(0).id; };
  CHECK(idOf("id: abc-1\ndata: x\n\n") == "abc-1");
  CHECK(idOf("id:\ndata: x\n\n") == ""); // an empty id is still an id (it resets the last one)
  CHECK(idOf("id\ndata: x\n\n") == "");
  CHECK(idOf("id: 1\nid: 2\ndata: x\n\n") == "2");
  using namespace std::string_literals;
  CHECK_FALSE(idOf("id: a\0b\ndata: x\n\n"s).has_value());
  CHECK(idOf("id: 1\nid: a\0b\ndata: x\n\n"s) == "1");
}

TEST_CASE("an event without data is not dispatched and its fields do not leak") {
  Collector c;
  c.feed("event: ping\nid: 9\nretry: 10\n\n");
  CHECK(c.events().empty());
  CHECK(c.parser().dispatched() == 0);
  c.feed("data: next\n\n");
  CHECK(c.events() == std::vector<std::string>{"type=[] data=[next] id=none retry=none"});
  // Nor do the fields of a dispatched one.
  c.feed("event: a\nid: 1\nretry: 5\ndata: one\n\ndata: two\n\n");
  REQUIRE(c.events().size() == 3);
  CHECK(c.events()[2] == "type=[] data=[two] id=none retry=none");
  CHECK(c.parser().dispatched() == 3);
  // Blank lines on their own do nothing.
  c.feed("\n\n\r\n\r");
  CHECK(c.events().size() == 3);
  c.feed("");
  CHECK(c.events().size() == 3);
}

TEST_CASE("an event over the limit is dropped and the next one is delivered") {
  SUBCASE("one long line in a single feed") {
    Collector c(32);
    c.feed("data: " + std::string(100, 'a') + "\ndata: more\n\ndata: fine\n\n");
    CHECK(c.events() == std::vector<std::string>{"type=[] data=[fine] id=none retry=none"});
    CHECK(c.parser().overflowed() == 1);
    CHECK(c.parser().dispatched() == 1);
  }
  SUBCASE("one long line arriving in pieces") {
    Collector c(32);
    c.feed("event: big\ndata: ");
    for (int i = 0; i < 100; ++i)
      c.feed("0123456789");
    c.feed("\n\r");
    c.feed("\nevent: small\ndata: fine\n\n");
    CHECK(c.events() == std::vector<std::string>{"type=[small] data=[fine] id=none retry=none"});
    CHECK(c.parser().overflowed() == 1);
  }
  SUBCASE("many short lines adding up") {
    Collector c(32);
    std::string stream;
    for (int i = 0; i < 20; ++i)
      stream += "data: abcd\n";
    stream += "\ndata: fine\n\n";
    c.feed(stream);
    CHECK(c.events() == std::vector<std::string>{"type=[] data=[fine] id=none retry=none"});
    CHECK(c.parser().overflowed() == 1);
  }
  SUBCASE("two overflowing events are counted apart") {
    Collector c(16);
    c.feed("data: " + std::string(20, 'x') + "\n\ndata: " + std::string(20, 'y') + "\n\n");
    c.feed("data: ok\n\n");
    CHECK(c.parser().overflowed() == 2);
    CHECK(c.events() == std::vector<std::string>{"type=[] data=[ok] id=none retry=none"});
  }
  SUBCASE("the limit itself is allowed") {
    Collector c(16);
    c.feed("data: 0123456789\n\n");  // a 16-byte line
    c.feed("data: 01234567890\n\n"); // 17 bytes
    CHECK(c.events() == std::vector<std::string>{"type=[] data=[0123456789] id=none retry=none"});
    CHECK(c.parser().overflowed() == 1);
  }
}

TEST_CASE("a large event within the limit is delivered whole") {
  const std::string payload(3 * 1024 * 1024, 'p');
  Collector c;
  const std::string stream = "event: message\ndata: " + payload + "\n\n";
  for (std::size_t pos = 0; pos < stream.size(); pos += 65536) {
    c.feed(std::string_view(stream).substr(pos, 65536));
  }
  REQUIRE(c.events().size() == 1);
  CHECK(c.events()[0] == "type=[message] data=[" + payload + "] id=none retry=none");
}

} // namespace
} // namespace bulwark

TEST_CASE("dispatchOffset marks where each event's bytes end in the current feed") {
  bulwark::SseParser parser;
  const std::string stream = "data: a\n\n: comment\ndata: b\r\n\r\nid: 7\ndata: c\r\r";
  std::vector<std::size_t> offsets;
  parser.feed(stream,
              [&](const bulwark::SseEvent&) { offsets.push_back(parser.dispatchOffset()); });
  REQUIRE(offsets.size() == 3);
  CHECK(offsets[0] == 9);                     // "data: a\n\n"
  CHECK(offsets[1] == 9 + 11 + 10);           // ": comment\n" "data: b\r\n\r\n"
  CHECK(offsets[2] == stream.size());         // ends with the lone \r
  // The raw bytes up to each offset hold exactly the events so far.
  CHECK(stream.substr(0, offsets[1]).ends_with("data: b\r\n\r\n"));
}

TEST_CASE("dispatchOffset counts a skipped BOM and a split CRLF as part of the feed") {
  bulwark::SseParser parser;
  std::vector<std::size_t> offsets;
  const auto record = [&](const bulwark::SseEvent&) { offsets.push_back(parser.dispatchOffset()); };
  parser.feed("\xEF\xBB\xBF" "data: x\r", record);
  parser.feed("\n\r\n", record);
  REQUIRE(offsets.size() == 1);
  CHECK(offsets[0] == 3);  // "\n" (the rest of the first CRLF) + "\r\n" of the blank line
}

TEST_CASE("settledOffset marks comments and events without data between events") {
  bulwark::SseParser parser;
  int dispatched = 0;
  const auto count = [&](const bulwark::SseEvent&) { ++dispatched; };
  SUBCASE("a keep-alive comment is settled at its line end") {
    parser.feed(": ping\n", count);
    CHECK(parser.settledOffset() == 7);
  }
  SUBCASE("an event without data is settled at its blank line") {
    parser.feed("event: heartbeat\n\nevent: message\n", count);
    CHECK(parser.settledOffset() == 18);  // not the `event:` line of the next event
  }
  SUBCASE("a comment inside an event waits for the event") {
    parser.feed("event: message\n: ping\n", count);
    CHECK(parser.settledOffset() == 0);
    parser.feed("data: x\n\n", count);
    CHECK(dispatched == 1);
    CHECK(parser.settledOffset() == 0);  // the end is the event's own (dispatchOffset)
  }
  SUBCASE("a comment split across feeds is settled in the feed where it ends") {
    parser.feed(": pi", count);
    CHECK(parser.settledOffset() == 0);
    parser.feed("ng\r\n: pong\r", count);
    CHECK(parser.settledOffset() == 11);  // "ng\r\n" and ": pong\r" (its \n may never come)
    parser.feed("\n", count);
    CHECK(parser.settledOffset() == 0);   // only the rest of that CRLF: nothing new ends
  }
  SUBCASE("each feed reports only its own settled bytes") {
    parser.feed(": a\n", count);
    CHECK(parser.settledOffset() == 4);
    parser.feed("data: x\n", count);
    CHECK(parser.settledOffset() == 0);
  }
  SUBCASE("the blank line of an event dropped for its size is not settled") {
    bulwark::SseParser small(16);
    small.feed("data: " + std::string(64, 'x') + "\n\n", count);
    CHECK(small.overflowed() == 1);
    CHECK(small.settledOffset() == 0);
  }
  CHECK(dispatched <= 1);
}

TEST_CASE("forwarding whole events and settled bytes sends every keep-alive in its own feed") {
  // What the proxy does with a GET stream (forwardWholeEvents): bytes go out up to the end of
  // each dispatched event and up to settledOffset(); the rest waits. However the stream is
  // split, the output is the input, cut only between events, and each comment leaves in the
  // feed that completes it.
  const std::string stream =
      ": connected\n\nevent: message\nid: 1\ndata: {\"a\":1}\n\n: ping\n: ping\r\n"
      "event: message\r\ndata: b\r\n\r\nid: 2\n\n: ping\r";
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    CAPTURE(cut);
    bulwark::SseParser parser;
    std::string out;
    std::string carry;
    std::vector<std::size_t> out_sizes;  // size of the output after each feed
    for (const std::string_view piece :
         {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
      std::size_t forwarded = 0;
      parser.feed(piece, [&](const bulwark::SseEvent&) {
        out += carry;
        carry.clear();
        out += piece.substr(forwarded, parser.dispatchOffset() - forwarded);
        forwarded = parser.dispatchOffset();
      });
      if (parser.settledOffset() > forwarded) {
        out += carry;
        carry.clear();
        out += piece.substr(forwarded, parser.settledOffset() - forwarded);
        forwarded = parser.settledOffset();
      }
      carry.append(piece.substr(forwarded));
      out_sizes.push_back(out.size());
    }
    CHECK(out == stream);  // the stream ends between events: nothing is left held
    CHECK(carry.empty());
    // Everything complete by the cut left with the first feed: the output then ends where the
    // last complete line of the first piece ends, unless that line is inside an event.
    const std::string first = stream.substr(0, cut);
    const std::size_t last_line_end = first.find_last_of("\r\n");
    if (last_line_end != std::string::npos) {
      const std::string_view done = std::string_view(first).substr(0, last_line_end + 1);
      const bool inside_event = !(done.ends_with("\n\n") || done.ends_with("\r\n\r\n") ||
                                  done.ends_with(": ping\n") || done.ends_with(": ping\r\n") ||
                                  done.ends_with(": ping\r") || done.ends_with("\n\r"));
      if (!inside_event) {
        CHECK(out_sizes[0] == done.size());
      }
    }
  }
}
