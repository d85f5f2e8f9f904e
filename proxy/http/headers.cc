#include "proxy/http/headers.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

namespace bulwark {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// The fixed hop-by-hop set (RFC 9110 7.6.1) plus Content-Length, which the proxy frames itself.
// Checked by length first: most end-to-end names fail that test with no character compared.
bool isFixedHopByHop(std::string_view name) {
  switch (name.size()) {
  case 2: return equalsIgnoreCase(name, "te");
  case 7: return equalsIgnoreCase(name, "trailer") || equalsIgnoreCase(name, "upgrade");
  case 10: return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
  case 14: return equalsIgnoreCase(name, "content-length");
  case 16: return equalsIgnoreCase(name, "proxy-connection");
  case 17: return equalsIgnoreCase(name, "transfer-encoding");
  default: return false;
  }
}

}  // namespace

HeaderList::HeaderList(std::initializer_list<HeaderField> fields) {
  for (const HeaderField& field : fields) {
    add(field.name, field.value);
  }
}

HeaderList::HeaderList(const HeaderList& other)
    : wire_(other.wire_), slots_(other.slots_), field_open_(other.field_open_),
      in_value_(other.in_value_) {
  refreshViews();
}

HeaderList& HeaderList::operator=(const HeaderList& other) {
  if (this != &other) {
    wire_ = other.wire_;
    slots_ = other.slots_;
    field_open_ = other.field_open_;
    in_value_ = other.in_value_;
    refreshViews();
  }
  return *this;
}

// A moved std::string may keep its characters in place or not (the short-string buffer moves
// with the object), so the views are rebuilt either way.
HeaderList::HeaderList(HeaderList&& other) noexcept
    : wire_(std::move(other.wire_)), slots_(std::move(other.slots_)),
      fields_(std::move(other.fields_)), field_open_(other.field_open_),
      in_value_(other.in_value_) {
  refreshViews();
  other.clear();
}

// A swap, not a steal: the parser moves each message's head into a long-lived request, and
// gets that request's previous storage back to fill next, so neither side allocates again once
// both have grown to a working size.
HeaderList& HeaderList::operator=(HeaderList&& other) noexcept {
  if (this != &other) {
    wire_.swap(other.wire_);
    slots_.swap(other.slots_);
    fields_.swap(other.fields_);
    std::swap(field_open_, other.field_open_);
    std::swap(in_value_, other.in_value_);
    refreshViews();
    other.clear();
  }
  return *this;
}

void HeaderList::clear() {
  wire_.clear();
  slots_.clear();
  fields_.clear();
  field_open_ = false;
  in_value_ = false;
}

void HeaderList::add(std::string_view name, std::string_view value) {
  endField();
  Slot slot;
  slot.name_at = static_cast<std::uint32_t>(wire_.size());
  slot.name_size = static_cast<std::uint32_t>(name.size());
  slot.value_at = static_cast<std::uint32_t>(wire_.size() + name.size() + 2);
  slot.value_size = static_cast<std::uint32_t>(value.size());
  wire_.append(name).append(": ").append(value).append("\r\n");
  slots_.push_back(slot);
  refreshViews();
}

void HeaderList::appendToName(std::string_view fragment) {
  if (!field_open_ || in_value_) {
    endField();
    Slot slot;
    slot.name_at = static_cast<std::uint32_t>(wire_.size());
    slots_.push_back(slot);
    field_open_ = true;
  }
  wire_.append(fragment);
  slots_.back().name_size += static_cast<std::uint32_t>(fragment.size());
}

void HeaderList::appendToValue(std::string_view fragment) {
  if (!field_open_) {
    return;  // a value with no name: the parser never calls it so
  }
  if (!in_value_) {
    wire_.append(": ");
    slots_.back().value_at = static_cast<std::uint32_t>(wire_.size());
    in_value_ = true;
  }
  wire_.append(fragment);
  slots_.back().value_size += static_cast<std::uint32_t>(fragment.size());
}

void HeaderList::endField() {
  if (!field_open_) {
    return;
  }
  Slot& slot = slots_.back();
  if (!in_value_) {
    wire_.append(": ");  // a field with an empty value
    slot.value_at = static_cast<std::uint32_t>(wire_.size());
  }
  while (slot.value_size > 0 && (wire_.back() == ' ' || wire_.back() == '\t')) {
    wire_.pop_back();
    --slot.value_size;
  }
  wire_.append("\r\n");
  field_open_ = false;
  in_value_ = false;
}

void HeaderList::seal() {
  if (!field_open_ && fields_.size() == slots_.size()) {
    return;  // nothing added since the views were made
  }
  endField();
  refreshViews();
}

void HeaderList::refreshViews() {
  fields_.resize(slots_.size());
  const char* base = wire_.data();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    fields_[i].name = std::string_view(base + slot.name_at, slot.name_size);
    fields_[i].value = std::string_view(base + slot.value_at, slot.value_size);
  }
}

std::string_view HeaderList::line(std::size_t index) const {
  const Slot& slot = slots_[index];
  const std::size_t end = slot.value_at + slot.value_size + 2;
  return std::string_view(wire_).substr(slot.name_at, end - slot.name_at);
}

namespace {

constexpr std::uint64_t kEveryByte = 0x0101010101010101ULL;

// Eight bytes at once: 'A'..'Z' become 'a'..'z', every other byte (digits, '-', bytes above
// 0x7f) stays as it is. Per byte, on its low seven bits h: h + (0x80 - 'A') has its top bit set
// when h >= 'A', h + (0x80 - 'Z' - 1) when h > 'Z'; neither sum carries into the next byte.
std::uint64_t lowerEight(std::uint64_t bytes) {
  const std::uint64_t low7 = bytes & (0x7f * kEveryByte);
  const std::uint64_t at_least_a = low7 + (0x80 - 'A') * kEveryByte;
  const std::uint64_t above_z = low7 + (0x80 - 'Z' - 1) * kEveryByte;
  const std::uint64_t upper = at_least_a & ~above_z & ~bytes & (0x80 * kEveryByte);
  return bytes | (upper >> 2);
}

std::uint64_t loadEight(const char* at) {
  std::uint64_t bytes = 0;
  std::memcpy(&bytes, at, sizeof bytes);
  return bytes;
}

std::uint64_t loadFour(const char* at) {
  std::uint32_t bytes = 0;
  std::memcpy(&bytes, at, sizeof bytes);
  return bytes;
}

bool sameEight(const char* a, const char* b) {
  return lowerEight(loadEight(a)) == lowerEight(loadEight(b));
}

bool sameFour(const char* a, const char* b) {
  return lowerEight(loadFour(a)) == lowerEight(loadFour(b));
}

}  // namespace

// Whole words, and the tail as one more word that overlaps the last one: no byte loop for any
// size of 4 or more.
bool equalsIgnoreCaseSameSize(const char* a, const char* b, std::size_t size) {
  if (size >= 8) {
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      if (!sameEight(a + i, b + i)) {
        return false;
      }
    }
    return size % 8 == 0 || sameEight(a + size - 8, b + size - 8);
  }
  if (size >= 4) {
    return sameFour(a, b) && sameFour(a + size - 4, b + size - 4);
  }
  for (std::size_t i = 0; i < size; ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

const HeaderField* findHeader(const HeaderList& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equalsIgnoreCase(field.name, name)) {
      return &field;
    }
  }
  return nullptr;
}

bool headerHasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (equalsIgnoreCase(trim(value.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

namespace {

bool namedByConnection(const HeaderList& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (equalsIgnoreCase(field.name, "connection") && headerHasToken(field.value, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void appendEndToEndHeaders(std::string& out, const HeaderList& headers,
                           std::initializer_list<std::string_view> also_drop) {
  // The names the Connection fields list are collected once, not looked up per field.
  std::array<std::string_view, 8> named{};
  std::size_t named_count = 0;
  bool named_overflow = false;
  for (const HeaderField& field : headers) {
    if (field.name.size() != 10 || !equalsIgnoreCase(field.name, "connection")) {
      continue;
    }
    std::string_view value = field.value;
    while (!value.empty()) {
      const auto comma = value.find(',');
      const std::string_view token = trim(value.substr(0, comma));
      if (!token.empty()) {
        if (named_count < named.size()) {
          named[named_count++] = token;
        } else {
          named_overflow = true;
        }
      }
      if (comma == std::string_view::npos) {
        break;
      }
      value.remove_prefix(comma + 1);
    }
  }
  // Kept fields are copied as runs of whole wire lines: usually one or two copies per message.
  const char* run_begin = nullptr;
  const char* run_end = nullptr;
  for (std::size_t index = 0; index < headers.size(); ++index) {
    const HeaderField& field = headers[index];
    bool drop = isFixedHopByHop(field.name);
    for (const std::string_view extra : also_drop) {
      drop = drop || equalsIgnoreCase(field.name, extra);
    }
    for (std::size_t i = 0; i < named_count && !drop; ++i) {
      drop = equalsIgnoreCase(field.name, named[i]);
    }
    if (!drop && named_overflow) {
      drop = namedByConnection(headers, field.name);  // rare: more names than the array holds
    }
    const std::string_view line = headers.line(index);
    if (drop) {
      if (run_begin != nullptr) {
        out.append(run_begin, run_end);
        run_begin = nullptr;
      }
    } else if (run_begin != nullptr && line.data() == run_end) {
      run_end += line.size();
    } else {
      if (run_begin != nullptr) {
        out.append(run_begin, run_end);
      }
      run_begin = line.data();
      run_end = line.data() + line.size();
    }
  }
  if (run_begin != nullptr) {
    out.append(run_begin, run_end);
  }
}

}  // namespace bulwark
