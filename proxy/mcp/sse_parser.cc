#include "proxy/mcp/sse_parser.h"

#include <charconv>
#include <cstring>

namespace bulwark {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Buffers that grew past this for one large event are released afterwards, so that a long-lived
// stream which once carried a big event does not keep that much memory for the rest of its life.
constexpr std::size_t kRetainedCapacity = 64 * 1024;

void release(std::string& buffer) {
  if (buffer.capacity() > kRetainedCapacity) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

bool allDigits(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

} // namespace

SseParser::SseParser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void SseParser::feed(std::string_view bytes, const EventCallback& on_event) {
  const std::size_t input_size = bytes.size();
  settled_offset_ = 0;
  // The BOM may arrive split across feeds; its bytes are held in line_ until it is complete or
  // disproved, and in the latter case they stay there as the start of the first line.
  while (!bom_checked_ && !bytes.empty()) {
    if (bytes.front() != kBom[line_.size()]) {
      bom_checked_ = true;
      break;
    }
    line_.push_back(bytes.front());
    bytes.remove_prefix(1);
    if (line_.size() == kBom.size()) {
      line_.clear();
      bom_checked_ = true;
    }
  }
  if (pending_cr_ && !bytes.empty()) {
    pending_cr_ = false;
    if (bytes.front() == '\n')
      bytes.remove_prefix(1); // the \n of a \r\n split across feeds
  }

  const char* const begin = bytes.data();
  const std::size_t size = bytes.size();
  const std::size_t skipped = input_size - size;  // BOM or the \n of a split \r\n
  std::size_t pos = 0;
  // Lines usually end in \n, found with memchr; a lone \r can only end a line before that \n.
  // The \n position is kept between lines so that a stream of \r endings stays linear.
  std::size_t next_lf = 0;
  bool lf_known = false;
  while (pos < size) {
    if (!lf_known || next_lf < pos) {
      const void* lf = std::memchr(begin + pos, '\n', size - pos);
      next_lf = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - begin) : size;
      lf_known = true;
    }
    const void* cr = std::memchr(begin + pos, '\r', next_lf - pos);
    const std::size_t end =
        cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - begin) : next_lf;
    if (end == size) {
      carryPartial(bytes.substr(pos));
      return;
    }
    std::size_t line_end = end + 1;
    if (begin[end] == '\r' && line_end < size && begin[line_end] == '\n') {
      ++line_end;
    }
    dispatch_offset_ = skipped + line_end;
    endLine(bytes.substr(pos, end - pos), on_event);
    pos = end + 1;
    if (begin[end] == '\r') {
      if (pos == size) {
        pending_cr_ = true;
      } else if (begin[pos] == '\n') {
        ++pos;
      }
    }
  }
}

std::size_t SseParser::heldBytes() const {
  return event_.data.size() + event_.type.size() + (event_.id ? event_.id->size() : 0);
}

void SseParser::carryPartial(std::string_view piece) {
  if (discarding_line_)
    return;
  // Comments and the lines of a dropped event are never looked at, so they are not stored.
  if (skipping_ || (line_.empty() && piece.front() == ':')) {
    discarding_line_ = true;
    release(line_);
    return;
  }
  if (heldBytes() + line_.size() + piece.size() > max_event_bytes_) {
    dropEvent();
    discarding_line_ = true;
    return;
  }
  line_.append(piece);
}

void SseParser::endLine(std::string_view piece, const EventCallback& on_event) {
  if (discarding_line_) {
    // The line had content, so it was not the blank line that ends an event. A comment that
    // began in an earlier feed ends here; between events, the bytes up to here are settled.
    discarding_line_ = false;
    if (betweenEvents()) {
      settled_offset_ = dispatch_offset_;
    }
    return;
  }
  if (line_.empty()) {
    processLine(piece, on_event); // the common case: the whole line is in this feed, no copy
    return;
  }
  if (heldBytes() + line_.size() + piece.size() > max_event_bytes_) {
    dropEvent();
    return;
  }
  line_.append(piece);
  processLine(line_, on_event);
  release(line_);
}

void SseParser::dropEvent() {
  ++overflowed_;
  skipping_ = true;
  has_data_ = false;
  release(event_.data);
  event_.type.clear();
  event_.id.reset();
  event_.retry_ms.reset();
  release(line_);
}

void SseParser::processLine(std::string_view line, const EventCallback& on_event) {
  if (line.empty()) {
    if (has_data_ && !skipping_) {
      event_.data.pop_back(); // every data line appended a '\n'; the last one is not part of it
      ++dispatched_;
      on_event(event_);
    } else if (!skipping_) {
      // An event without data (or a stray blank line): nothing to dispatch, but its bytes are
      // complete and may go on at once. The blank line of a dropped event is not settled: its
      // bytes are the caller's to deal with (overflowed()).
      settled_offset_ = dispatch_offset_;
    }
    skipping_ = false;
    has_data_ = false;
    release(event_.data);
    event_.type.clear();
    event_.id.reset();
    event_.retry_ms.reset();
    return;
  }
  if (skipping_)
    return;
  if (line.front() == ':') {
    if (betweenEvents()) {
      settled_offset_ = dispatch_offset_; // a keep-alive between events
    }
    return;
  }
  if (heldBytes() + line.size() > max_event_bytes_) {
    dropEvent();
    return;
  }

  std::string_view field = line;
  std::string_view value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
  }

  if (field == "data") {
    event_.data.append(value);
    event_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    event_.type.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos)
      event_.id.emplace(value);
  } else if (field == "retry") {
    long long retry = 0;
    const char* end = value.data() + value.size();
    if (allDigits(value)) {
      auto [ptr, ec] = std::from_chars(value.data(), end, retry);
      if (ec == std::errc() && ptr == end)
        event_.retry_ms = retry; // else too large: ignored
    }
  }
  // Other field names are ignored, as the specification requires.
}

} // namespace bulwark
