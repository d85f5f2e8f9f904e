// How far apart two names are, for "did you mean" hints (config keys, tool rules).
#pragma once

#include <cstddef>
#include <string_view>

namespace bulwark::policies {

// Levenshtein distance: single-byte insertions, deletions and substitutions.
std::size_t editDistance(std::string_view a, std::string_view b);

} // namespace bulwark::policies
