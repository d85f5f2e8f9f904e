// HTTP header fields in arrival order, and the hop-by-hop rules of RFC 9110 section 7.6.1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

struct HeaderField {
  std::string name;
  std::string value;
};

using HeaderList = std::vector<HeaderField>;

bool equalsIgnoreCase(std::string_view a, std::string_view b);

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
