// What Bulwark does with an upstream's response, without a socket: the HTTP/1.1 response parser
// driven the way UpstreamConnection drives it (interim 1xx responses skipped, a completed
// response pauses the parser, a close-delimited body ends at EOF, a reused connection reads the
// next response), and what Exchange does with each head and body: classify the status, read
// Retry-After, forward the end-to-end header fields, judge a JSON body or each SSE event's
// JSON-RPC messages, learn tool hints, and build the cache entry and its flagged copy.
//
// Input: byte 0 bit 0 says the request was HEAD (the response has no body); bytes 1-2 are a
// split point. The response bytes must give the same parse fed whole and fed in two reads, and
// every head forwarded to the client must itself parse as HTTP.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policies/backoff.h"
#include "policies/outcome.h"
#include "proxy/http/headers.h"
#include "proxy/http/http_message.h"
#include "proxy/mcp/cache_json.h"
#include "proxy/mcp/jsonrpc_envelope.h"
#include "proxy/mcp/sse_parser.h"
#include "proxy/mcp/tool_catalog.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulwark {
namespace {

constexpr std::size_t kMaxResponseHeadBytes = 64 * 1024; // as in upstream_connection.cc
constexpr std::size_t kMaxObservedBytes = 64 * 1024;
constexpr std::string_view kRequestId = "1";

// The observable sequence of one parse. Consecutive body pieces are merged, so that the trace
// does not depend on where reads were cut.
struct Step {
  char kind; // 'H' head, 'B' body, 'C' complete, 'F' failure
  std::string text;
  bool operator==(const Step&) const = default;
};

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string contentType(const HttpHead& head) {
  const HeaderField* field = findHeader(head.headers, "content-type");
  return field == nullptr ? std::string() : field->value;
}

// Counts the fields of a response head and its completion, to check a forwarded head.
class HeadCheck final : public HttpMessageSink {
public:
  bool onHead(HttpHead& head) override {
    fields = head.headers.size();
    return true;
  }
  bool onBody(std::string_view) override { return true; }
  bool onMessageComplete() override {
    complete = true;
    return true;
  }
  std::size_t fields = 0;
  bool complete = false;
};

std::size_t countLines(std::string_view lines) {
  std::size_t count = 0;
  for (std::size_t at = lines.find("\r\n"); at != std::string_view::npos;
       at = lines.find("\r\n", at + 2)) {
    ++count;
  }
  return count;
}

// The part of Exchange that reads the response.
class ExchangeModel {
public:
  void onHead(const HttpHead& head) {
    forwardHeadCheck(head);
    body_.clear();
    sse_.reset();
    json_ = false;
    if (head.status < 200 || head.status >= 300) {
      std::optional<policies::Duration> retry_after;
      if (const HeaderField* field = findHeader(head.headers, "retry-after")) {
        retry_after = policies::parseRetryAfter(field->value, std::chrono::system_clock::now());
        FUZZ_CHECK(!retry_after || retry_after->count() >= 0, "negative Retry-After");
      }
      (void)policies::classify(
          policies::Outcome::httpStatus(head.status, true, retry_after.has_value(), false));
      return;
    }
    const std::string type = contentType(head);
    if (startsWithIgnoreCase(type, "text/event-stream")) {
      sse_.emplace(kMaxObservedBytes);
    } else if (startsWithIgnoreCase(type, "application/json")) {
      json_ = true;
    }
  }

  void onBody(std::string_view bytes) {
    if (sse_) {
      sse_->feed(bytes, [this](const SseEvent& event) {
        if (!event.data.empty()) {
          judge(event.data);
        }
      });
    } else if (json_ && body_.size() + bytes.size() <= kMaxObservedBytes) {
      body_.append(bytes);
    }
  }

  void onComplete() {
    if (json_) {
      judge(body_);
    }
  }

private:
  // The head Exchange::forwardHead sends the client must parse, with the same field count.
  void forwardHeadCheck(const HttpHead& head) {
    std::string lines;
    appendEndToEndHeaders(lines, head.headers);
    const std::string forwarded = "HTTP/1.1 200 OK\r\n" + lines + "Content-Length: 0\r\n\r\n";
    HeadCheck check;
    HttpParser parser(HTTP_RESPONSE, check, 1024 * 1024);
    const ParseOutcome outcome = parser.execute(forwarded);
    FUZZ_CHECK(outcome.status == ParseStatus::kOk && check.complete,
               "a forwarded response head does not parse");
    FUZZ_CHECK(check.fields == countLines(lines) + 1, "forwarded header fields changed count");
  }

  void judge(std::string_view json) {
    const EnvelopeResult parsed = envelopes_.parse(json);
    if (parsed.error != EnvelopeError::kNone) {
      FUZZ_CHECK(!parsed.detail.empty(), "an envelope error without detail");
      return;
    }
    FUZZ_CHECK(!parsed.parsed.messages.empty(), "a parsed message set is empty");
    for (const Envelope& message : parsed.parsed.messages) {
      if (!message.tools.empty()) {
        tools_.learn(message.tools);
      }
      if (message.kind == MessageKind::kError) {
        FUZZ_CHECK(message.error_code.has_value(), "an error response without a code");
        (void)policies::classify(policies::Outcome::jsonRpcError(
            static_cast<int>(message.error_code.value_or(-32603))));
      }
      if (message.kind != MessageKind::kResult || message.id != kRequestId || message.is_error) {
        continue;
      }
      const std::optional<CacheableResult> result = CacheJson::successResult(message, json);
      if (!result || !cache_json_.canFlag(result->result_json)) {
        continue;
      }
      FUZZ_CHECK(!result->ttl_ms || *result->ttl_ms >= 0, "a negative ttlMs was accepted");
      const std::string flagged = CacheJson::withMetaFlag(result->result_json, "cached",
                                                          cache_json_);
      const std::string response = CacheJson::responseFor(kRequestId, flagged);
      const EnvelopeResult again = envelopes_.parse(response);
      FUZZ_CHECK(again.error == EnvelopeError::kNone && again.parsed.messages.size() == 1 &&
                     again.parsed.messages.front().kind == MessageKind::kResult,
                 "a cached answer is not a JSON-RPC result");
    }
  }

  EnvelopeParser envelopes_;
  CacheJson cache_json_;
  ToolCatalog tools_;
  std::optional<SseParser> sse_;
  bool json_ = false;
  std::string body_;
};

// UpstreamConnection's use of the parser, one read at a time.
class UpstreamModel final : public HttpMessageSink {
public:
  explicit UpstreamModel(bool head_request) { parser_.expectNoBody(head_request); }

  void onRead(std::string_view bytes) {
    while (!closed_ && !bytes.empty()) {
      bytes_seen_ = true;
      const ParseOutcome outcome = parser_.execute(bytes);
      if (outcome.status == ParseStatus::kError) {
        FUZZ_CHECK(!parser_.errorReason().empty(), "a parse error without a reason");
        fail("malformed");
        return;
      }
      if (outcome.status != ParseStatus::kPaused || !message_complete_) {
        FUZZ_CHECK(outcome.status == ParseStatus::kOk && outcome.consumed == bytes.size(),
                   "the parser stopped without completing a response");
        return;
      }
      FUZZ_CHECK(outcome.consumed <= bytes.size(), "consumed more than it was given");
      completeResponse();
      // A reused connection: what follows is the response to the next request.
      bytes.remove_prefix(outcome.consumed);
      if (!keep_alive_) {
        closed_ = true;
      }
    }
  }

  void onEof() {
    if (closed_) {
      return;
    }
    if (!bytes_seen_ || !parser_.inMessage()) {
      closed_ = true; // idle, or reset before any response byte
      return;
    }
    if (parser_.finish() == ParseStatus::kOk && message_complete_) {
      completeResponse();
      closed_ = true;
      return;
    }
    fail("reset during response");
  }

  const std::vector<Step>& trace() const { return trace_; }

private:
  bool onHead(HttpHead& head) override {
    last_status_ = head.status;
    FUZZ_CHECK(head.status >= 0 && head.status <= 999, "status out of range");
    if (head.status >= 100 && head.status < 200) {
      return true;
    }
    FUZZ_CHECK(!(head.chunked && head.content_length), "both chunked and Content-Length");
    keep_alive_ = head.keep_alive;
    std::string text = std::to_string(head.status) + " " + head.reason + "|" +
                       std::to_string(head.content_length.value_or(~0ULL)) +
                       (head.chunked ? "|chunked" : "|") + (head.keep_alive ? "|ka" : "|");
    for (const HeaderField& field : head.headers) {
      text += "|" + field.name + ":" + field.value;
    }
    trace_.push_back({'H', std::move(text)});
    body_bytes_ = 0;
    exchange_.onHead(head);
    return true;
  }

  bool onBody(std::string_view bytes) override {
    FUZZ_CHECK(!bytes.empty(), "an empty body piece");
    body_bytes_ += bytes.size();
    if (trace_.empty() || trace_.back().kind != 'B') {
      trace_.push_back({'B', {}});
    }
    trace_.back().text.append(bytes);
    exchange_.onBody(bytes);
    return true;
  }

  bool onMessageComplete() override {
    if (last_status_ >= 100 && last_status_ < 200) {
      return true;
    }
    message_complete_ = true;
    return false;
  }

  void completeResponse() {
    parser_.resume();
    message_complete_ = false;
    trace_.push_back({'C', std::to_string(body_bytes_)});
    exchange_.onComplete();
  }

  void fail(std::string_view why) {
    closed_ = true;
    trace_.push_back({'F', std::string(why)});
  }

  HttpParser parser_{HTTP_RESPONSE, *this, kMaxResponseHeadBytes};
  ExchangeModel exchange_;
  std::vector<Step> trace_;
  std::size_t body_bytes_ = 0;
  int last_status_ = 0;
  bool message_complete_ = false;
  bool keep_alive_ = true;
  bool bytes_seen_ = false;
  bool closed_ = false;
};

} // namespace
} // namespace bulwark

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return 0;
  }
  const bool head_request = (data[0] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t split = (std::size_t{data[1]} << 8 | data[2]) % (bytes.size() + 1);

  bulwark::UpstreamModel whole(head_request);
  whole.onRead(bytes);
  whole.onEof();

  bulwark::UpstreamModel pieces(head_request);
  pieces.onRead(bytes.substr(0, split));
  pieces.onRead(bytes.substr(split));
  pieces.onEof();
  FUZZ_CHECK(whole.trace() == pieces.trace(), "two reads parse differently from one");
  return 0;
}
