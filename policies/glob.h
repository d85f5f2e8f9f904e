// Tool-name patterns: an exact name, or a glob where `*` matches any run of characters (also
// empty) and `?` exactly one character. There is no escaping: MCP tool names are letters, digits,
// '_', '-', '.' and '/'.
#pragma once

#include <string_view>

namespace bulwark::policies {

bool isGlob(std::string_view pattern); // contains '*' or '?'
bool globMatch(std::string_view pattern, std::string_view text);
// Characters that are neither '*' nor '?': the tie-breaker among globs (more literal = more
// specific).
int literalCount(std::string_view pattern);

} // namespace bulwark::policies
