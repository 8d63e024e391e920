// MailSink: a tiny SMTP/LMTP server on plain POSIX sockets, one thread per session.
#include "testbed/mail_sink.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace dynmx::testbed {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// The address inside "<...>" after a "MAIL FROM:" / "RCPT TO:" verb, parameters dropped.
std::string pathArgument(const std::string& line, std::size_t colon) {
  std::string rest = trim(line.substr(colon + 1));
  if (!rest.empty() && rest.front() == '<') {
    auto close = rest.find('>');
    return rest.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  }
  auto space = rest.find(' ');
  return rest.substr(0, space);
}

/// Buffered line reader on a socket that gives up when `wakeFd` becomes readable.
class LineReader {
 public:
  LineReader(int fd, int wakeFd) : fd_(fd), wakeFd_(wakeFd) {}
  std::optional<std::string> next() {
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      pollfd p[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
      // Bounded: a client that stalls for a minute is dropped, so stop() never hangs.
      int r = ::poll(p, 2, 60000);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || (p[1].revents & POLLIN) != 0) return std::nullopt;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  int wakeFd_;
  std::string buf_;
};

void sendAll(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string headerValue(const std::string& message, const std::string& name) {
  const std::string want = lower(name) + ":";
  std::size_t pos = 0;
  std::string found;
  bool inWanted = false;
  while (pos < message.size()) {
    auto eol = message.find('\n', pos);
    std::string line = message.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? message.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // end of the header block
    if (line[0] == ' ' || line[0] == '\t') {
      if (inWanted) found += " " + trim(line);
      continue;
    }
    if (inWanted) return trim(found);
    if (lower(line.substr(0, want.size())) == want) {
      inWanted = true;
      found = line.substr(want.size());
    }
  }
  return inWanted ? trim(found) : "";
}

MailSink::MailSink() : MailSink("127.0.0.1", 0) {}

MailSink::MailSink(const std::string& address, int port) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
    ::close(listenFd_);
    throw std::runtime_error("mail sink: not an IPv4 address: " + address);
  }
  socklen_t len = sizeof a;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listenFd_, 16) != 0 ||
      ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    ::close(listenFd_);
    throw std::runtime_error(std::string("mail sink bind/listen: ") + std::strerror(e));
  }
  port_ = ntohs(a.sin_port);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    ::close(listenFd_);
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  acceptThread_ = std::thread([this] { acceptLoop(); });
}

MailSink::~MailSink() {
  stop();
  ::close(listenFd_);
  ::close(wakeFd_);
}

void MailSink::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wakeFd_, &one, sizeof one);
  if (acceptThread_.joinable()) acceptThread_.join();
  std::lock_guard lock(sessionsMutex_);
  for (auto& t : sessions_)
    if (t.joinable()) t.join();
}

void MailSink::acceptLoop() {
  for (;;) {
    pollfd p[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    int r = ::poll(p, 2, -1);  // woken by a client or by stop(): no timeout needed
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (p[1].revents & POLLIN) != 0) return;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(sessionsMutex_);
    sessions_.emplace_back([this, fd] {
      session(fd);
      ::close(fd);
    });
  }
}

void MailSink::session(int fd) {
  LineReader in(fd, wakeFd_);
  bool lmtp = false;
  SinkMessage current;
  sendAll(fd, "220 sink.test ESMTP/LMTP test sink\r\n");
  while (auto line = in.next()) {
    const std::string verb = lower(line->substr(0, line->find(' ')));
    const std::string upperLine = lower(*line);
    if (verb == "lhlo" || verb == "ehlo") {
      lmtp = verb == "lhlo";
      sendAll(fd, "250-sink.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
    } else if (verb == "helo") {
      lmtp = false;
      sendAll(fd, "250 sink.test\r\n");
    } else if (upperLine.rfind("mail from:", 0) == 0) {
      current = SinkMessage{};
      current.mailFrom = pathArgument(*line, line->find(':'));
      sendAll(fd, "250 2.1.0 ok\r\n");
    } else if (upperLine.rfind("rcpt to:", 0) == 0) {
      current.recipients.push_back(pathArgument(*line, line->find(':')));
      sendAll(fd, "250 2.1.5 ok\r\n");
    } else if (verb == "data") {
      if (current.recipients.empty()) {
        sendAll(fd, "503 5.5.1 no recipients\r\n");
        continue;
      }
      sendAll(fd, "354 go ahead\r\n");
      bool complete = false;
      while (auto dataLine = in.next()) {
        if (*dataLine == ".") {
          complete = true;
          break;
        }
        current.data += (!dataLine->empty() && (*dataLine)[0] == '.') ? dataLine->substr(1) : *dataLine;
        current.data += "\r\n";
      }
      if (!complete) return;
      current.lmtp = lmtp;
      current.messageId = headerValue(current.data, "Message-ID");
      current.testId = headerValue(current.data, "X-Test-Id");
      const std::size_t replies = lmtp ? current.recipients.size() : 1;  // LMTP: one per recipient
      record(current);
      std::string reply;
      for (std::size_t i = 0; i < replies; ++i) reply += "250 2.0.0 delivered\r\n";
      sendAll(fd, reply);
      current = SinkMessage{};
    } else if (verb == "rset") {
      current = SinkMessage{};
      sendAll(fd, "250 2.0.0 ok\r\n");
    } else if (verb == "noop") {
      sendAll(fd, "250 2.0.0 ok\r\n");
    } else if (verb == "quit") {
      sendAll(fd, "221 2.0.0 bye\r\n");
      return;
    } else {
      sendAll(fd, "502 5.5.2 not implemented\r\n");
    }
  }
}

void MailSink::record(SinkMessage m) {
  {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(m));
  }
  changed_.notify_all();
}

std::vector<SinkMessage> MailSink::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t MailSink::count() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

bool MailSink::waitFor(const std::function<bool(const std::vector<SinkMessage>&)>& done,
                       std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done(messages_); });
}

void MailSink::clear() {
  std::lock_guard lock(mutex_);
  messages_.clear();
}

}  // namespace dynmx::testbed
