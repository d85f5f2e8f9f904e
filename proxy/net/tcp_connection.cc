#include "proxy/net/tcp_connection.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "proxy/admin/log.h"
#include "proxy/net/buffer_budget.h"
#include "proxy/net/uv_util.h"

namespace bulwark {
namespace {

// One loop thread reads into one buffer: every onData() consumes or copies what it keeps before
// returning, so a per-connection buffer would only cost memory.
constexpr std::size_t kReadBufferBytes = 64 * 1024;
char g_read_buffer[kReadBufferBytes];
bool g_read_buffer_lent = false;

}  // namespace

struct TcpConnection::WriteRequest {
  uv_write_t request{};
  std::string bytes;
  TcpConnection* owner = nullptr;
};

TcpConnection::TcpConnection(uv_loop_t* loop) {
  // uv_tcp_init cannot fail for AF_UNSPEC; the check guards future flags.
  const int rc = uv_tcp_init(loop, &tcp_);
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_tcp_init", rc));
  }
  tcp_.data = this;
}

void TcpConnection::startReading() {
  if (closing_ || reading_) {
    return;
  }
  const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &allocCallback,
                               &readCallback);
  if (rc != 0) {
    logLine(LogLevel::kWarn, uvError("uv_read_start", rc));
    close();
    return;
  }
  reading_ = true;
}

void TcpConnection::stopReading() {
  if (closing_ || !reading_) {
    return;
  }
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

std::uint64_t TcpConnection::bytesSent() const {
  const std::size_t unsent =
      uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
  return bytes_sent_ + (queued_bytes_ - std::min(unsent, queued_bytes_));
}

void TcpConnection::write(std::string_view bytes) {
  if (closing_ || bytes.empty()) {
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (queued_bytes_ == 0) {
    uv_buf_t buf =
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    const int written = uv_try_write(stream, &buf, 1);
    if (written > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(written));
    } else if (written != UV_EAGAIN && written != UV_ENOSYS) {
      onWriteError(written);
      return;
    }
    if (bytes.empty()) {
      return;
    }
  }
  auto request = std::make_unique<WriteRequest>();
  request->bytes.assign(bytes);
  request->owner = this;
  request->request.data = request.get();
  uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
  const int rc = uv_write(&request->request, stream, &buf, 1, &writeCallback);
  if (rc != 0) {
    onWriteError(rc);
    return;
  }
  queued_bytes_ += request->bytes.size();
  // Bytes a peer has not taken are buffered memory: they count against limits.max_buffered_bytes.
  BufferBudget::process().charge(request->bytes.size());
  request.release();  // writeCallback owns it now
}

void TcpConnection::onWriteError(int status) {
  logLine(LogLevel::kDebug, uvError("uv_write", status));
  close();
}

void TcpConnection::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &closeCallback);
}

void TcpConnection::shutdownWrite() {
  if (closing_ || shutdown_started_) {
    return;
  }
  shutdown_request_.data = this;
  const int rc = uv_shutdown(&shutdown_request_, reinterpret_cast<uv_stream_t*>(&tcp_),
                             &TcpConnection::shutdownCallback);
  if (rc != 0) {
    close();
    return;
  }
  shutdown_started_ = true;
}

void TcpConnection::shutdownCallback(uv_shutdown_t*, int) {
  // Nothing to do: the peer's EOF (or the linger deadline) closes the connection. The request
  // is a member, and libuv calls this before the close callback frees it.
}

void TcpConnection::allocCallback(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  if (g_read_buffer_lent) {
    // Cannot happen on one thread (read callbacks do not nest); be safe rather than share.
    buf->base = nullptr;
    buf->len = 0;
    return;
  }
  g_read_buffer_lent = true;
  buf->base = g_read_buffer;
  buf->len = kReadBufferBytes;
}

void TcpConnection::readCallback(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(stream->data);
  if (buf->base == g_read_buffer) {
    g_read_buffer_lent = false;
  }
  if (self->closing_) {
    return;
  }
  if (nread > 0) {
    self->onData(std::string_view(buf->base, static_cast<std::size_t>(nread)));
  } else if (nread < 0) {
    self->stopReading();
    self->onReadEnd(static_cast<int>(nread));
  }
}

void TcpConnection::writeCallback(uv_write_t* raw, int status) {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(raw->data));
  TcpConnection* self = request->owner;
  self->queued_bytes_ -= request->bytes.size();
  self->bytes_sent_ += request->bytes.size();
  BufferBudget::process().release(request->bytes.size());
  if (self->closing_) {
    return;
  }
  if (status != 0) {
    self->onWriteError(status);
    return;
  }
  if (self->queued_bytes_ == 0) {
    self->onWriteDrained();
  }
}

void TcpConnection::closeCallback(uv_handle_t* handle) {
  auto* self = static_cast<TcpConnection*>(handle->data);
  self->onClosed();
  delete self;
}

}  // namespace bulwark
