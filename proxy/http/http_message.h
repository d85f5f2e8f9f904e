// An llhttp parser for one direction of one connection. It gathers a message's head (start
// line and header fields, which llhttp may deliver in fragments) and streams its body.
// llhttp's lenient flags stay off: they would let a client smuggle requests past us.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/headers.h"

namespace bulwark {

struct HttpHead {
  std::string method;  // requests
  std::string target;  // requests: the request-target as sent
  int status = 0;      // responses
  std::string reason;  // responses
  std::uint8_t version_major = 1;
  std::uint8_t version_minor = 1;
  HeaderList headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // llhttp's verdict from version and Connection

  void clear();
};

// What the parser reports. onHead and onMessageComplete return true to go on, false to pause
// the parser right after that point (execute() then returns kPaused and how much it took; call
// HttpParser::resume() and feed the rest again). llhttp cannot pause inside a body, so onBody
// returns false only to abort the message; back-pressure stops reading the socket instead.
class HttpMessageSink {
public:
  virtual bool onHead(HttpHead& head) = 0;
  virtual bool onBody(std::string_view bytes) = 0;
  virtual bool onMessageComplete() = 0;

protected:
  ~HttpMessageSink() = default;
};

enum class ParseStatus : std::uint8_t { kOk, kPaused, kError };

struct ParseOutcome {
  ParseStatus status = ParseStatus::kOk;
  std::size_t consumed = 0;  // bytes taken; the rest must be fed again after resume()
};

class HttpParser {
public:
  HttpParser(llhttp_type_t type, HttpMessageSink& sink, std::size_t max_head_bytes);

  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  ParseOutcome execute(std::string_view bytes);
  // Tells a close-delimited response that its body ended; kError if the message was cut short.
  ParseStatus finish();
  void resume();

  // The response to a HEAD request has no body whatever its headers say.
  void expectNoBody(bool no_body) { expect_no_body_ = no_body; }

  // True between the first byte of a message and its completion.
  bool inMessage() const { return in_message_; }
  std::string_view errorReason() const { return error_reason_; }

private:
  static int onMessageBegin(llhttp_t* parser);
  static int onUrl(llhttp_t* parser, const char* at, std::size_t length);
  static int onStatus(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderField(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeadersComplete(llhttp_t* parser);
  static int onBodyChunk(llhttp_t* parser, const char* at, std::size_t length);
  static int onComplete(llhttp_t* parser);
  // Counts head bytes against the limit; false (with the reason set) once it is passed. The
  // check is inline, the error path is not: it runs on every header fragment.
  bool addHeadBytes(std::size_t length) {
    head_bytes_ += length;
    return head_bytes_ <= max_head_bytes_ || headTooLarge();
  }
  bool headTooLarge();

  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  HttpMessageSink& sink_;
  HttpHead head_;
  std::size_t max_head_bytes_;
  std::size_t head_bytes_ = 0;
  bool in_message_ = false;
  bool expect_no_body_ = false;
  std::string error_reason_;
};

}  // namespace bulwark
