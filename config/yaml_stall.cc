#include "config/yaml_stall.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <sstream>
#include <string>

namespace bulwark::config {
namespace {

// Records where each document starts; the node events themselves are not needed.
class DocumentStarts final : public YAML::EventHandler {
public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start = YAML::Mark::null_mark();
};

}  // namespace

std::optional<YamlStall> findYamlStall(std::string_view text) {
  std::istringstream input{std::string(text)};
  YAML::Parser parser(input);
  int previous_position = -1;
  // Every real document consumes at least its first character, so a file cannot hold more
  // documents than bytes: the bound only guards the loop itself.
  for (std::size_t documents = 0; documents <= text.size(); ++documents) {
    DocumentStarts handler;
    try {
      if (!parser.HandleNextDocument(handler)) {
        return std::nullopt;
      }
    } catch (const YAML::Exception&) {
      return std::nullopt;  // a syntax error: the real load reports it
    }
    if (handler.start.pos == previous_position) {
      return YamlStall{handler.start.line + 1, handler.start.column + 1};
    }
    previous_position = handler.start.pos;
  }
  return YamlStall{1, 1};
}

}  // namespace bulwark::config
