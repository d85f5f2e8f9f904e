// Incremental Server-Sent Events framing (WHATWG HTML "event stream interpretation").
// Bytes are fed as they arrive, in fragments of any size; each complete event is reported once.
// The parser observes: it never changes or holds back the bytes the proxy forwards.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

struct SseEvent {
  std::string type;                  // the `event:` field; empty means "message"
  std::string data;                  // `data:` lines joined with '\n'
  std::optional<std::string> id;     // the `id:` field, if this event set one (the stream's
                                     // last event id is left to the caller to track)
  std::optional<long long> retry_ms; // the `retry:` field, if valid
};

class SseParser {
public:
  using EventCallback = std::function<void(const SseEvent&)>;

  // `max_event_bytes` bounds the memory one event may hold: the line being read plus the event's
  // data, type and id. An event that would exceed it is dropped whole (counted in overflowed())
  // and parsing resumes after the next blank line. Comments are never stored, whatever their size.
  explicit SseParser(std::size_t max_event_bytes = 4 * 1024 * 1024);

  // Calls `on_event` inline, once per completed event (a blank line ends an event; an event
  // with no data lines is not dispatched, per the spec). Handles \n, \r\n and \r line ends, a
  // leading UTF-8 BOM, and a \r\n split across two feeds. An event is reported as soon as its
  // blank line arrives, even if that line ends in a \r whose \n is still to come. The event is
  // valid only during the call; `on_event` must not feed this parser.
  void feed(std::string_view bytes, const EventCallback& on_event);

  // Valid inside on_event: how many bytes of the current feed() input precede the end of the
  // event just dispatched (its blank line included), so a caller can forward or hold back the
  // raw bytes of each event exactly as received.
  std::size_t dispatchOffset() const { return dispatch_offset_; }

  // Valid after feed() returns, about its input: how many bytes precede the last line end that
  // left no event in progress without dispatching one: a comment (`: ping`) between events, or
  // the blank line of an event without data. Up to there the bytes hold no part of an event, so
  // a caller that forwards whole events only can send them at once (framing intact); 0 when no
  // such line ended in this feed. Lines of an event in progress (even a comment among them) are
  // not settled until the event ends. A dispatched event's end is dispatchOffset(), not this.
  std::size_t settledOffset() const { return settled_offset_; }

  std::size_t overflowed() const { return overflowed_; }
  std::size_t dispatched() const { return dispatched_; }

private:
  void carryPartial(std::string_view piece);
  void endLine(std::string_view piece, const EventCallback& on_event);
  void processLine(std::string_view line, const EventCallback& on_event);
  void dropEvent();
  std::size_t heldBytes() const;
  // No field of an event has been read since the last blank line (nor is one being skipped).
  bool betweenEvents() const {
    return !has_data_ && !skipping_ && event_.type.empty() && !event_.id && !event_.retry_ms;
  }

  std::size_t max_event_bytes_;
  std::string line_; // a partial line carried between feeds (also a partial BOM at the start)
  SseEvent event_;
  bool has_data_ = false;
  bool skipping_ = false;        // the current event overflowed; wait for the blank line
  bool discarding_line_ = false; // the partial line is a comment or skipped: not carried
  bool pending_cr_ = false;      // the last feed ended in \r; a leading \n is part of it
  bool bom_checked_ = false;
  std::size_t overflowed_ = 0;
  std::size_t dispatched_ = 0;
  std::size_t dispatch_offset_ = 0;
  std::size_t settled_offset_ = 0;
};

} // namespace bulwark
