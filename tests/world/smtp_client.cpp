// The world's SMTP client: blocking sockets, every read bounded by one deadline.
#include "smtp_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace dynmx::world {
namespace {

using Clock = std::chrono::steady_clock;

class Connection {
 public:
  Connection(const std::string& address, int port, Clock::time_point deadline) : deadline_(deadline) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ < 0 || ::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
      error_ = "bad address " + address;
      return;
    }
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
      error_ = std::string("connect: ") + std::strerror(errno);
      return;
    }
    if (!wait(POLLOUT)) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) error_ = std::string("connect: ") + std::strerror(err);
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] const std::string& error() const { return error_; }

  /// Read one reply (multi-line: up to "NNN "); returns its code or 0 on error.
  int reply(std::string* text = nullptr) {
    for (;;) {
      auto nl = buffer_.find("\r\n");
      while (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 2);
        if (text != nullptr) *text += line + "\n";
        if (line.size() >= 4 && line[3] == ' ') return std::atoi(line.substr(0, 3).c_str());
        if (line.size() == 3) return std::atoi(line.c_str());
        nl = buffer_.find("\r\n");
      }
      if (!error_.empty() || !wait(POLLIN)) return 0;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        error_ = n == 0 ? "connection closed" : std::string("recv: ") + std::strerror(errno);
        return 0;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  bool send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      if (!error_.empty() || !wait(POLLOUT)) return false;
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) {
        error_ = std::string("send: ") + std::strerror(errno);
        return false;
      }
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  bool wait(short events) {
    if (!error_.empty()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    pollfd p{fd_, events, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1) {
      error_ = "timed out";
      return false;
    }
    return true;
  }

  int fd_ = -1;
  Clock::time_point deadline_;
  std::string buffer_;
  std::string error_;
};

}  // namespace

bool probeSmtp(const std::string& address, int port, std::chrono::milliseconds timeout) {
  Connection c(address, port, Clock::now() + timeout);
  if (!c.error().empty()) return false;
  const bool greeted = c.reply() == 220;
  if (greeted) (void)c.send("QUIT\r\n");
  return greeted;
}

Status<> submitSmtp(const std::string& address, int port, const Submission& m, std::chrono::milliseconds timeout) {
  Connection c(address, port, Clock::now() + timeout);
  std::string text;
  auto step = [&](const std::string& command, int want) -> Status<> {
    if (!command.empty() && !c.send(command + "\r\n")) return fail(command + ": " + c.error());
    text.clear();
    const int code = c.reply(&text);
    if (code / 100 != want / 100)
      return fail((command.empty() ? std::string("greeting") : command) + ": " + std::to_string(code) + " " + text +
                  c.error());
    return Ok{};
  };
  if (!c.error().empty()) return fail("connect to " + address + ": " + c.error());
  if (auto s = step("", 220); !s.ok()) return s;
  if (auto s = step("EHLO feeder.world.test", 250); !s.ok()) return s;
  if (auto s = step("MAIL FROM:<" + m.mailFrom + ">", 250); !s.ok()) return s;
  for (const auto& r : m.recipients)
    if (auto s = step("RCPT TO:<" + r + ">", 250); !s.ok()) return s;
  if (auto s = step("DATA", 354); !s.ok()) return s;
  // Dot-stuff every line that starts with a dot.
  std::string body;
  std::size_t pos = 0;
  while (pos < m.data.size()) {
    auto nl = m.data.find("\r\n", pos);
    std::string line = m.data.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line[0] == '.') body += '.';
    body += line + "\r\n";
    if (nl == std::string::npos) break;
    pos = nl + 2;
  }
  if (!c.send(body + ".\r\n")) return fail("DATA: " + c.error());
  if (auto s = step("", 250); !s.ok()) return s;
  (void)c.send("QUIT\r\n");
  return Ok{};
}

}  // namespace dynmx::world
