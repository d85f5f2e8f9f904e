// A raw loopback TCP client for component tests: connects to 127.0.0.1:PORT on the test's loop,
// writes the given bytes once connected, and records everything it reads until the peer closes.
//
//   RawClient client(loop, port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
//   CHECK(loop.runUntil([&] { return client.ended(); }));
//   CHECK(client.received().starts_with("HTTP/1.1 200"));
//   client.close();  // if the peer did not close first
//
// Its handle lives on the heap and is freed in its close callback, so a RawClient may go out of
// scope before the loop runs again (it closes then). Nothing asserts inside a callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark::testing {

class RawClient {
public:
  RawClient(uv_loop_t* loop, std::uint16_t port, std::string bytes);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Writes more bytes (after the first ones, once connected).
  void send(std::string_view bytes);
  // Closes the connection now (idempotent).
  void close();

  const std::string& received() const { return received_; }
  bool connected() const { return connected_; }
  // The peer closed (EOF) or the connection failed; error() says which libuv status, 0 for EOF.
  bool ended() const { return ended_; }
  int error() const { return error_; }
  bool closed() const { return handle_closed_; }

private:
  struct Socket;  // the handle and requests; outlives the RawClient until its close callback
  static void onConnect(uv_connect_t* request, int status);
  void writeNow(std::string bytes);

  Socket* socket_;
  std::string pending_;
  std::string received_;
  bool connected_ = false;
  bool ended_ = false;
  int error_ = 0;
  bool closing_ = false;
  bool handle_closed_ = false;
};

}  // namespace bulwark::testing
