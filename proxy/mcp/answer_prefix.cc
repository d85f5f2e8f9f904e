#include "proxy/mcp/answer_prefix.h"

#include <array>
#include <charconv>

namespace bulwark {
namespace {

// Index of the quote closing the string that opens at `open`, or npos when the prefix ends first.
std::size_t stringEnd(std::string_view text, std::size_t open) {
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

bool isDelimiter(char c) {
  return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

AnswerPrefix readAnswerPrefix(std::string_view prefix) {
  AnswerPrefix out;
  constexpr std::size_t kTracked = 3;  // keys are only needed at depths 1 and 2
  std::array<std::string_view, kTracked> key{};
  std::array<bool, kTracked> in_object{};
  std::size_t depth = 0;
  bool expect_key = false;
  // A value at depth 1 or 2, under the keys in force; `token` is its JSON text.
  auto value = [&](std::string_view token) {
    if (depth == 1 && key[1] == "id") {
      out.id = token;
    } else if (depth == 2 && key[1] == "error" && key[2] == "code") {
      std::int64_t code = 0;
      const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), code);
      if (error == std::errc() && end == token.data() + token.size()) {
        out.error_code = code;
      }
    } else if (depth == 2 && key[1] == "result" && key[2] == "isError") {
      out.is_error = token == "true";
    }
  };
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    if (c == '"') {
      const std::size_t end = stringEnd(prefix, i);
      if (end == std::string_view::npos) {
        break;
      }
      if (expect_key) {
        if (depth < kTracked) {
          key[depth] = prefix.substr(i + 1, end - i - 1);
        }
        expect_key = false;
      } else {
        value(prefix.substr(i, end - i + 1));
      }
      i = end;
      continue;
    }
    switch (c) {
    case '{':
    case '[':
      if (depth == 1 && key[1] == "result") {
        out.kind = AnswerPrefix::Kind::kResult;
      } else if (depth == 1 && key[1] == "error") {
        out.kind = AnswerPrefix::Kind::kError;
      }
      ++depth;
      if (depth < kTracked) {
        in_object[depth] = c == '{';
        key[depth] = {};
      }
      expect_key = c == '{';
      break;
    case '}':
    case ']':
      if (depth > 0) {
        --depth;
      }
      expect_key = false;
      break;
    case ',':
      expect_key = depth < kTracked && in_object[depth];
      break;
    case ':':
      if (depth == 1 && key[1] == "result") {
        out.kind = AnswerPrefix::Kind::kResult;
      } else if (depth == 1 && key[1] == "error" && out.kind != AnswerPrefix::Kind::kResult) {
        out.kind = AnswerPrefix::Kind::kError;
      }
      break;
    case ' ':
    case '\t':
    case '\n':
    case '\r':
      break;
    default: {
      // A number, true, false or null: whole only when a delimiter follows within the prefix.
      std::size_t end = i;
      while (end < prefix.size() && !isDelimiter(prefix[end])) {
        ++end;
      }
      if (end == prefix.size()) {
        return out;
      }
      value(prefix.substr(i, end - i));
      i = end - 1;
      break;
    }
    }
  }
  return out;
}

}  // namespace bulwark
