// The SSE parser on an upstream's event stream. The first three bytes choose the event size
// limit and two split points; the rest is the stream. Besides surviving any input, the parser
// must see the same events whichever way the stream is cut into reads: fed whole, in two or
// three pieces, or byte by byte. Each event's dispatchOffset() must point just past a line end
// inside the current piece, and map back to the same place in the stream as when fed whole
// (one byte earlier when a \r\n is cut between its two bytes: the event ends at the \r); a
// non-zero settledOffset() after each feed must point just past a line end too.
#include "proxy/mcp/sse_parser.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"

namespace {

using bulwark::SseEvent;
using bulwark::SseParser;

struct Seen {
  SseEvent event;
  std::size_t end = 0; // offset in the whole stream just past the event's blank line
};

struct Run {
  std::vector<Seen> events;
  std::size_t overflowed = 0;
  std::size_t dispatched = 0;
};

bool sameEvent(const SseEvent& a, const SseEvent& b) {
  return a.type == b.type && a.data == b.data && a.id == b.id && a.retry_ms == b.retry_ms;
}

bool endsLine(std::string_view piece, std::size_t offset) {
  return offset > 0 && offset <= piece.size() &&
         (piece[offset - 1] == '\n' || piece[offset - 1] == '\r');
}

Run feedInPieces(std::string_view stream, const std::vector<std::size_t>& cuts,
                 std::size_t max_event_bytes) {
  SseParser parser(max_event_bytes);
  Run run;
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    const std::string_view piece = stream.substr(start, end - start);
    parser.feed(piece, [&](const SseEvent& event) {
      const std::size_t offset = parser.dispatchOffset();
      FUZZ_CHECK(endsLine(piece, offset), "dispatchOffset is not just past a line end");
      FUZZ_CHECK(run.events.empty() || start + offset > run.events.back().end,
                 "dispatchOffset did not move forward");
      run.events.push_back({event, start + offset});
    });
    const std::size_t settled = parser.settledOffset();
    FUZZ_CHECK(settled == 0 || endsLine(piece, settled),
               "settledOffset is not just past a line end");
    start = end;
  };
  for (std::size_t cut : cuts) {
    feed(cut);
  }
  feed(stream.size());
  run.overflowed = parser.overflowed();
  run.dispatched = parser.dispatched();
  FUZZ_CHECK(run.dispatched == run.events.size(), "dispatched() differs from the callbacks");
  return run;
}

void expectSame(std::string_view stream, const Run& whole, const Run& pieces) {
  FUZZ_CHECK(whole.events.size() == pieces.events.size(), "split input gave another event count");
  FUZZ_CHECK(whole.overflowed == pieces.overflowed, "split input gave another overflow count");
  for (std::size_t i = 0; i < whole.events.size(); ++i) {
    FUZZ_CHECK(sameEvent(whole.events[i].event, pieces.events[i].event),
               "split input gave another event");
    const std::size_t a = whole.events[i].end;
    const std::size_t b = pieces.events[i].end;
    FUZZ_CHECK(a == b || (a == b + 1 && stream[b - 1] == '\r' && stream[b] == '\n'),
               "split input gave another event end");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return 0;
  }
  // Limits from tiny (every event overflows) to the proxy's default.
  const std::size_t max_event_bytes = data[0] < 128 ? std::size_t{data[0]} : 4 * 1024 * 1024;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t first = stream.empty() ? 0 : data[1] % (stream.size() + 1);
  const std::size_t second =
      first + (stream.size() - first == 0 ? 0 : data[2] % (stream.size() - first + 1));

  const Run whole = feedInPieces(stream, {}, max_event_bytes);
  expectSame(stream, whole, feedInPieces(stream, {first}, max_event_bytes));
  expectSame(stream, whole, feedInPieces(stream, {first, second}, max_event_bytes));
  if (stream.size() <= 512) {
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i < stream.size(); ++i) {
      every_byte.push_back(i);
    }
    expectSame(stream, whole, feedInPieces(stream, every_byte, max_event_bytes));
  }
  return 0;
}
