// freePort / waitForPort: plain POSIX sockets on 127.0.0.1.
#include "testbed/ports.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace dynmx::testbed {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Bind a socket of `type` to 127.0.0.1:port (0 = any); returns the bound port or -1.
int tryBind(int type, int port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = loopback(port);
  int result = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) result = ntohs(a.sin_port);
  }
  ::close(fd);
  return result;
}

}  // namespace

int freePort() {
  // The kernel hands out TCP ports; named also needs the same UDP port, so check both.
  for (int attempt = 0; attempt < 50; ++attempt) {
    int port = tryBind(SOCK_STREAM, 0);
    if (port <= 0) continue;
    if (tryBind(SOCK_DGRAM, port) == port) return port;
  }
  throw std::runtime_error("no free loopback port");
}

bool waitForPort(int port, std::chrono::milliseconds timeout, const std::function<bool()>& stillAlive) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    sockaddr_in a = loopback(port);
    bool connected = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      connected = true;
    } else if (errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<long>(0, std::min<long>(left.count(), 200)))) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        connected = err == 0;
      }
    }
    ::close(fd);
    if (connected) return true;
    if (stillAlive && !stillAlive()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // Refused at once: the server is not listening yet. Wait a short, bounded moment.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    ::poll(nullptr, 0, static_cast<int>(std::min<long>(left.count(), 10)));
  }
}

}  // namespace dynmx::testbed
