// HTTP header fields in arrival order, and the hop-by-hop rules of RFC 9110 section 7.6.1.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

// A name or value held by a HeaderList: a string_view into the list's storage, valid until the
// list is changed or destroyed. It converts to std::string where a caller wants a copy (and has
// no constructor from std::string, so `cond ? std::string() : field.value` stays a string).
struct HeaderText : std::string_view {
  using std::string_view::string_view;
  constexpr HeaderText(std::string_view text) : std::string_view(text) {}
  operator std::string() const { return std::string(data(), size()); }

  // Concatenation gives a std::string, as it did when fields were strings.
  friend std::string operator+(std::string_view left, const HeaderText& right) {
    std::string joined;
    joined.reserve(left.size() + right.size());
    return joined.append(left).append(right);
  }
  friend std::string operator+(const HeaderText& left, std::string_view right) {
    std::string joined;
    joined.reserve(left.size() + right.size());
    return joined.append(left).append(right);
  }
  friend std::string operator+(const HeaderText& left, const HeaderText& right) {
    return std::string_view(left) + right;
  }
  friend std::string operator+(const char* left, const HeaderText& right) {
    return std::string_view(left) + right;
  }
  friend std::string operator+(const HeaderText& left, const char* right) {
    return left + std::string_view(right);
  }
  friend std::string operator+(const std::string& left, const HeaderText& right) {
    return std::string_view(left) + right;
  }
  friend std::string operator+(const HeaderText& left, const std::string& right) {
    return left + std::string_view(right);
  }
};

struct HeaderField {
  HeaderText name;
  HeaderText value;
};

// Header fields in arrival order, stored as their wire lines ("Name: value\r\n") one after
// another in one string, so that a message's fields cost no allocation once the list has grown
// to its working size (clear() keeps the capacity), and forwarding a run of fields is one copy.
// Fields are added whole (add) or, by the parser, from fragments (appendToName, appendToValue,
// then seal); the views of operator[] and iteration are valid after add() or seal().
class HeaderList {
public:
  HeaderList() = default;
  HeaderList(std::initializer_list<HeaderField> fields);
  HeaderList(const HeaderList& other);
  HeaderList& operator=(const HeaderList& other);
  HeaderList(HeaderList&& other) noexcept;
  HeaderList& operator=(HeaderList&& other) noexcept;
  ~HeaderList() = default;

  bool empty() const { return slots_.empty(); }
  std::size_t size() const { return slots_.size(); }
  const HeaderField& operator[](std::size_t index) const { return fields_[index]; }
  std::vector<HeaderField>::const_iterator begin() const { return fields_.begin(); }
  std::vector<HeaderField>::const_iterator end() const { return fields_.end(); }

  // Removes every field and keeps the storage for the next message.
  void clear();
  // Appends a whole field; its value is taken as it is (no trimming).
  void add(std::string_view name, std::string_view value);

  // For a parser that gets a field's name and value in fragments. appendToName starts a new
  // field unless the last one is still receiving its name; seal() ends the last field (strips
  // the whitespace after its value, RFC 9112 section 5) and makes the views valid.
  void appendToName(std::string_view fragment);
  void appendToValue(std::string_view fragment);
  void seal();

  // The field's wire line, "Name: value\r\n" (after seal()).
  std::string_view line(std::size_t index) const;

  // Bytes of storage held, used or not (what keeping this list for reuse costs).
  std::size_t storageBytes() const {
    return wire_.capacity() + slots_.capacity() * sizeof(Slot) +
           fields_.capacity() * sizeof(HeaderField);
  }

private:
  struct Slot {
    std::uint32_t name_at = 0;
    std::uint32_t name_size = 0;
    std::uint32_t value_at = 0;
    std::uint32_t value_size = 0;
  };
  void endField();
  void refreshViews();

  std::string wire_;
  std::vector<Slot> slots_;
  std::vector<HeaderField> fields_;  // views into wire_, rebuilt by refreshViews()
  bool field_open_ = false;          // the last slot has no line end yet
  bool in_value_ = false;            // ...and is receiving its value
};

// ASCII case-insensitive equality. Inline so that the usual answer, different lengths, costs a
// comparison at the call site.
bool equalsIgnoreCaseSameSize(const char* a, const char* b, std::size_t size);
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && equalsIgnoreCaseSameSize(a.data(), b.data(), a.size());
}

// The first field named `name` (case-insensitive), or nullptr.
const HeaderField* findHeader(const HeaderList& headers, std::string_view name);

// True when a comma-separated header value holds `token` (case-insensitive), as in
// `Connection: keep-alive, Upgrade`.
bool headerHasToken(std::string_view value, std::string_view token);

// Appends every end-to-end field of `headers` to `out` as "Name: value\r\n". Dropped: the fixed
// hop-by-hop set (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade), every field the Connection header names, Content-Length (the proxy frames bodies
// itself), and any name in `also_drop`.
void appendEndToEndHeaders(std::string& out, const HeaderList& headers,
                           std::initializer_list<std::string_view> also_drop = {});

}  // namespace bulwark
