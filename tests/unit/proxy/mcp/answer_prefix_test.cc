#include "proxy/mcp/answer_prefix.h"

#include <doctest/doctest.h>

#include <string>

namespace bulwark {
namespace {

using Kind = AnswerPrefix::Kind;

TEST_CASE("a result's prefix: kind and id, before the content ends") {
  const std::string big =
      R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"xxxxxxxx)";
  const AnswerPrefix prefix = readAnswerPrefix(big);
  CHECK(prefix.kind == Kind::kResult);
  CHECK(prefix.id == "7");
  CHECK_FALSE(prefix.is_error);
}

TEST_CASE("isError is read once it has appeared, not inside the content") {
  CHECK(readAnswerPrefix(R"({"id":"a","result":{"isError":true,"content":[{"text":"x)").is_error);
  CHECK_FALSE(
      readAnswerPrefix(R"({"id":"a","result":{"content":[{"isError":true,"text":"x)").is_error);
  CHECK_FALSE(readAnswerPrefix(R"({"id":"a","result":{"isError":tr)").is_error);
}

TEST_CASE("an error's prefix: kind, id and code, braces inside strings ignored") {
  const AnswerPrefix prefix = readAnswerPrefix(
      R"({"id":"q\"}{1","jsonrpc":"2.0","error":{"code":-32603,"message":"}]{ huge)");
  CHECK(prefix.kind == Kind::kError);
  CHECK(prefix.id == R"("q\"}{1")");
  REQUIRE(prefix.error_code.has_value());
  CHECK(*prefix.error_code == -32603);
}

TEST_CASE("a prefix cut before the decisive key is unknown; an id cut short is not taken") {
  CHECK(readAnswerPrefix(R"({"jsonrpc":"2.0","id":12)").kind == Kind::kUnknown);
  CHECK(readAnswerPrefix(R"({"jsonrpc":"2.0","id":12)").id.empty());
  CHECK(readAnswerPrefix(R"({"params":{"result":{}},"method":"x)").kind == Kind::kUnknown);
  CHECK(readAnswerPrefix("").kind == Kind::kUnknown);
}

}  // namespace
}  // namespace bulwark
