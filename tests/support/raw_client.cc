#include "tests/support/raw_client.h"

#include <memory>

namespace bulwark::testing {
namespace {

struct WriteRequest {
  uv_write_t request{};
  std::string bytes;
};

}  // namespace

struct RawClient::Socket {
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  RawClient* owner = nullptr;  // null once the RawClient is gone
  char buffer[16 * 1024];
};

RawClient::RawClient(uv_loop_t* loop, std::uint16_t port, std::string bytes)
    : socket_(new Socket), pending_(std::move(bytes)) {
  socket_->owner = this;
  uv_tcp_init(loop, &socket_->tcp);
  socket_->tcp.data = socket_;
  socket_->connect.data = socket_;
  sockaddr_in address{};
  uv_ip4_addr("127.0.0.1", port, &address);
  const int rc = uv_tcp_connect(&socket_->connect, &socket_->tcp,
                                reinterpret_cast<const sockaddr*>(&address), &RawClient::onConnect);
  if (rc != 0) {
    ended_ = true;
    error_ = rc;
  }
}

RawClient::~RawClient() {
  close();
  if (!handle_closed_) {  // its close callback has not run: it must not reach back to us
    socket_->owner = nullptr;
  }
}

void RawClient::onConnect(uv_connect_t* request, int status) {
  auto* socket = static_cast<Socket*>(request->data);
  RawClient* self = socket->owner;
  if (self == nullptr || self->closing_) {
    return;
  }
  if (status != 0) {
    self->ended_ = true;
    self->error_ = status;
    return;
  }
  self->connected_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&socket->tcp),
      [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
        auto* s = static_cast<Socket*>(handle->data);
        *buf = uv_buf_init(s->buffer, sizeof s->buffer);
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        RawClient* client = static_cast<Socket*>(stream->data)->owner;
        if (client == nullptr) {
          return;
        }
        if (nread > 0) {
          client->received_.append(buf->base, static_cast<std::size_t>(nread));
        } else if (nread < 0) {
          client->ended_ = true;
          client->error_ = nread == UV_EOF ? 0 : static_cast<int>(nread);
          uv_read_stop(stream);
        }
      });
  if (!self->pending_.empty()) {
    std::string bytes = std::move(self->pending_);
    self->pending_.clear();
    self->writeNow(std::move(bytes));
  }
}

void RawClient::send(std::string_view bytes) {
  if (connected_) {
    writeNow(std::string(bytes));
  } else {
    pending_.append(bytes);
  }
}

void RawClient::writeNow(std::string bytes) {
  if (closing_) {
    return;
  }
  auto write = std::make_unique<WriteRequest>();
  write->bytes = std::move(bytes);
  uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
  write->request.data = write.get();
  const int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&socket_->tcp), &buf,
                          1, [](uv_write_t* request, int) {
                            delete static_cast<WriteRequest*>(request->data);
                          });
  if (rc == 0) {
    static_cast<void>(write.release());
  } else {
    ended_ = true;
    error_ = rc;
  }
}

void RawClient::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp), [](uv_handle_t* handle) {
    auto* socket = static_cast<Socket*>(handle->data);
    if (socket->owner != nullptr) {
      socket->owner->handle_closed_ = true;
    }
    delete socket;
  });
}

}  // namespace bulwark::testing
