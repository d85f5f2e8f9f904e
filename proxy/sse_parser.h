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
  std::string type;  // the `event:` field; empty means "message"
  std::string data;  // `data:` lines joined with '\n'
  std::optional<std::string> id;      // the `id:` field, if this event set one
  std::optional<long long> retry_ms;  // the `retry:` field, if valid
};

class SseParser {
public:
  using EventCallback = std::function<void(const SseEvent&)>;

  // `max_event_bytes` bounds the memory one event may hold; a longer event is dropped
  // (reported through overflowed()) and parsing resumes at the next blank line.
  explicit SseParser(std::size_t max_event_bytes = 4 * 1024 * 1024);

  // Calls `on_event` inline, once per completed event (a blank line ends an event; an event
  // with no data lines is not dispatched, per the spec). Handles \n, \r\n and \r line ends, a
  // leading UTF-8 BOM, and a \r\n split across two feeds.
  void feed(std::string_view bytes, const EventCallback& on_event);

  std::size_t overflowed() const { return overflowed_; }
  std::size_t dispatched() const { return dispatched_; }

private:
  void processLine(std::string_view line, const EventCallback& on_event);

  std::size_t max_event_bytes_;
  std::string line_;  // a partial line carried between feeds
  SseEvent event_;
  bool has_data_ = false;
  bool skipping_ = false;
  bool pending_cr_ = false;
  bool bom_checked_ = false;
  std::size_t overflowed_ = 0;
  std::size_t dispatched_ = 0;
};

}  // namespace bulwark
