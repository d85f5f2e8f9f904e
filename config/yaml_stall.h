// yaml-cpp 0.7's LoadAll never returns on some invalid input (a stray `,` at the top level or
// in a block sequence): its parser hands out empty documents forever without consuming the
// token. Found by fuzzing the config loader. This walks the documents with yaml-cpp's event
// API first and reports where the parser stopped making progress, so the loader can refuse
// the file instead of hanging Bulwark's start or its event loop on a reload.
#pragma once

#include <optional>
#include <string_view>

namespace bulwark::config {

struct YamlStall {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

// Where the parser stalls, or nullopt when every document is read with progress. Syntax errors
// are left for the real load to report (it names them better); the walk stops at the first.
std::optional<YamlStall> findYamlStall(std::string_view text);

}  // namespace bulwark::config
