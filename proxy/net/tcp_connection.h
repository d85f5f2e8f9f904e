// One TCP stream and its write queue, the shared base of client and upstream connections.
//
// Ownership (style rules 5-7): the object owns its uv_tcp_t and frees itself in the handle's
// close callback, never before. close() is idempotent; after it no virtual hook fires again
// except onClosed(), so late completions (UV_ECANCELED writes) touch nothing.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark {

class TcpConnection {
public:
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  uv_tcp_t* handle() { return &tcp_; }
  bool closing() const { return closing_; }

  // Starts or stops delivery to onData(). Both are no-ops once closing.
  void startReading();
  void stopReading();
  bool reading() const { return reading_; }

  // Queues `bytes` after everything written before. Tries a synchronous write first so the
  // common small reply costs no allocation. A write error closes the connection.
  void write(std::string_view bytes);
  std::size_t queuedBytes() const { return queued_bytes_; }
  // Bytes the kernel has taken from queued writes so far, partly written ones included: a slow
  // peer's progress.
  std::uint64_t bytesSent() const;

  // Closes the handle; the object is deleted in the close callback, after onClosed().
  void close();

  // Sends FIN once everything queued is written, and keeps reading: the lingering close that
  // lets a client still sending a body read our error reply instead of a reset.
  void shutdownWrite();

protected:
  explicit TcpConnection(uv_loop_t* loop);
  virtual ~TcpConnection() = default;

  virtual void onData(std::string_view bytes) = 0;
  // UV_EOF for an orderly end, another negative code for an error. Reading has stopped.
  virtual void onReadEnd(int status) = 0;
  // The write queue emptied after having been non-empty.
  virtual void onWriteDrained() {}
  virtual void onWriteError(int status);
  virtual void onClosed() {}

private:
  struct WriteRequest;
  static void allocCallback(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void readCallback(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void writeCallback(uv_write_t* request, int status);
  static void closeCallback(uv_handle_t* handle);
  static void shutdownCallback(uv_shutdown_t* request, int status);

  uv_tcp_t tcp_{};
  uv_shutdown_t shutdown_request_{};
  bool shutdown_started_ = false;
  std::size_t queued_bytes_ = 0;
  std::uint64_t bytes_sent_ = 0;
  bool reading_ = false;
  bool closing_ = false;
};

}  // namespace bulwark
