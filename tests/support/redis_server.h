// A real redis-server (Debian's) for component tests: started on a free loopback port, killed by
// its PID, and started again on the same port. No persistence, no files left behind.
//
//   RedisServer redis;                // picks a port; not running yet
//   REQUIRE(redis.start());           // spawns and waits until it accepts connections
//   redis.kill();                     // SIGKILL by PID, reaped
//   REQUIRE(redis.start());           // same port again
//
// Setup only: start() waits by polling a blocking connect (a bounded wait, not an assertion).
#pragma once

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace bulwark::testing {

class RedisServer {
public:
  explicit RedisServer(std::string password = {}) : password_(std::move(password)) {
    port_ = freePort();
  }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

  bool start() {
    if (pid_ > 0 || port_ == 0) {
      return pid_ > 0;
    }
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     "/tmp",
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     "/dev/null"};
    if (!password_.empty()) {
      args.insert(args.end(), {"--requirepass", password_});
    }
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      return false;
    }
    pid_ = pid;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      if (accepts()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill();
    return false;
  }

  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = 0;
    }
  }

  // A free loopback port as the kernel hands one out (closed again at once).
  static std::uint16_t freePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    std::uint16_t port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port = ntohs(address.sin_port);
    }
    close(fd);
    return port;
  }

private:
  bool accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port_);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    return ok;
  }

  std::string password_;
  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
};

} // namespace bulwark::testing
