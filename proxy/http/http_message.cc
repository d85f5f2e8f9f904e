#include "proxy/http/http_message.h"

namespace bulwark {
namespace {

HttpParser& self(llhttp_t* parser) { return *static_cast<HttpParser*>(parser->data); }

}  // namespace

void HttpHead::clear() {
  method.clear();
  target.clear();
  status = 0;
  reason.clear();
  version_major = 1;
  version_minor = 1;
  headers.clear();
  content_length.reset();
  chunked = false;
  keep_alive = true;
}

HttpParser::HttpParser(llhttp_type_t type, HttpMessageSink& sink, std::size_t max_head_bytes)
    : sink_(sink), max_head_bytes_(max_head_bytes) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &HttpParser::onMessageBegin;
  settings_.on_url = &HttpParser::onUrl;
  settings_.on_status = &HttpParser::onStatus;
  settings_.on_header_field = &HttpParser::onHeaderField;
  settings_.on_header_value = &HttpParser::onHeaderValue;
  settings_.on_headers_complete = &HttpParser::onHeadersComplete;
  settings_.on_body = &HttpParser::onBodyChunk;
  settings_.on_message_complete = &HttpParser::onComplete;
  llhttp_init(&parser_, type, &settings_);
  parser_.data = this;
}

ParseOutcome HttpParser::execute(std::string_view bytes) {
  llhttp_errno_t rc = llhttp_execute(&parser_, bytes.data(), bytes.size());
  while (rc == HPE_PAUSED_UPGRADE) {
    // An Upgrade the proxy does not perform (RFC 9110 7.8 lets a server ignore it; the field is
    // hop-by-hop and not forwarded): the bytes after the request are the next request.
    const auto at = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - bytes.data());
    llhttp_resume_after_upgrade(&parser_);
    rc = llhttp_execute(&parser_, bytes.data() + at, bytes.size() - at);
  }
  if (rc == HPE_OK) {
    return {ParseStatus::kOk, bytes.size()};
  }
  if (rc == HPE_PAUSED) {
    const char* stop = llhttp_get_error_pos(&parser_);
    return {ParseStatus::kPaused, static_cast<std::size_t>(stop - bytes.data())};
  }
  if (error_reason_.empty()) {
    error_reason_ = std::string(llhttp_errno_name(rc)) + ": " + llhttp_get_error_reason(&parser_);
  }
  return {ParseStatus::kError, 0};
}

ParseStatus HttpParser::finish() {
  const llhttp_errno_t rc = llhttp_finish(&parser_);
  if (rc == HPE_OK || rc == HPE_PAUSED) {
    return in_message_ ? ParseStatus::kError : ParseStatus::kOk;
  }
  error_reason_ = std::string(llhttp_errno_name(rc)) + ": " + llhttp_get_error_reason(&parser_);
  return ParseStatus::kError;
}

void HttpParser::resume() { llhttp_resume(&parser_); }

bool HttpParser::headTooLarge() {
  error_reason_ = "header section larger than " + std::to_string(max_head_bytes_) + " bytes";
  return false;
}

int HttpParser::onMessageBegin(llhttp_t* parser) {
  HttpParser& p = self(parser);
  p.head_.clear();
  p.head_bytes_ = 0;
  p.in_message_ = true;
  return 0;
}

int HttpParser::onUrl(llhttp_t* parser, const char* at, std::size_t length) {
  HttpParser& p = self(parser);
  if (!p.addHeadBytes(length)) {
    return -1;
  }
  p.head_.target.append(at, length);
  return 0;
}

int HttpParser::onStatus(llhttp_t* parser, const char* at, std::size_t length) {
  HttpParser& p = self(parser);
  if (!p.addHeadBytes(length)) {
    return -1;
  }
  p.head_.reason.append(at, length);
  return 0;
}

int HttpParser::onHeaderField(llhttp_t* parser, const char* at, std::size_t length) {
  HttpParser& p = self(parser);
  if (!p.addHeadBytes(length + 4)) {
    return -1;
  }
  p.head_.headers.appendToName(std::string_view(at, length));
  return 0;
}

int HttpParser::onHeaderValue(llhttp_t* parser, const char* at, std::size_t length) {
  HttpParser& p = self(parser);
  if (!p.addHeadBytes(length)) {
    return -1;
  }
  p.head_.headers.appendToValue(std::string_view(at, length));
  return 0;
}

int HttpParser::onHeadersComplete(llhttp_t* parser) {
  HttpParser& p = self(parser);
  HttpHead& head = p.head_;
  // llhttp strips the whitespace before a field value, seal() the whitespace after it (RFC 9112
  // section 5: both are optional whitespace, not part of the value).
  head.headers.seal();
  head.version_major = parser->http_major;
  head.version_minor = parser->http_minor;
  head.keep_alive = llhttp_should_keep_alive(parser) != 0;
  if (parser->type == HTTP_REQUEST) {
    head.method = llhttp_method_name(static_cast<llhttp_method_t>(parser->method));
  } else {
    head.status = parser->status_code;
  }
  head.chunked = (parser->flags & F_CHUNKED) != 0;
  if ((parser->flags & F_CONTENT_LENGTH) != 0 && !head.chunked) {
    head.content_length = parser->content_length;
  }
  if (!p.sink_.onHead(head)) {
    // llhttp: returning HPE_PAUSED from on_headers_complete pauses right after the head.
    return HPE_PAUSED;
  }
  // 1: the message has no body (a response to HEAD); llhttp then completes it at once.
  return p.expect_no_body_ && parser->type == HTTP_RESPONSE ? 1 : 0;
}

int HttpParser::onBodyChunk(llhttp_t* parser, const char* at, std::size_t length) {
  HttpParser& p = self(parser);
  return p.sink_.onBody(std::string_view(at, length)) ? 0 : -1;
}

int HttpParser::onComplete(llhttp_t* parser) {
  HttpParser& p = self(parser);
  p.in_message_ = false;
  p.head_.headers.seal();  // trailer fields of a chunked message join the head's
  return p.sink_.onMessageComplete() ? 0 : HPE_PAUSED;
}

}  // namespace bulwark
