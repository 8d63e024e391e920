#include "client.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parser.hpp"

namespace dynmx::dyndns2d {
namespace {

int msUntil(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<HttpClient> HttpClient::connect(const std::string& host, int port, std::chrono::milliseconds timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) {
    family = AF_INET6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return fail("not an address literal: " + host);
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  HttpClient client(fd, host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                            : host + ":" + std::to_string(port));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return fail(std::string("connect: timeout"));
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  }
  return client;
}

HttpClient::HttpClient(HttpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), host_(std::move(other.host_)), buffer_(std::move(other.buffer_)),
      eof_(other.eof_) {}

HttpClient& HttpClient::operator=(HttpClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    host_ = std::move(other.host_);
    buffer_ = std::move(other.buffer_);
    eof_ = other.eof_;
  }
  return *this;
}

HttpClient::~HttpClient() {
  if (fd_ >= 0) ::close(fd_);
}

Status<> HttpClient::send(const std::string& bytes) {
  std::size_t off = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, msUntil(deadline)) != 1) return fail(std::string("send: timeout"));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return fail(std::string("send: ") + std::strerror(errno));
  }
  return Ok{};
}

Status<> HttpClient::sendRequest(const std::string& method, const std::string& target,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& body) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  return send(req);
}

bool HttpClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_) return false;
  while (true) {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      eof_ = true;  // reset counts as closed
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, msUntil(deadline));
    if (r <= 0) return false;
  }
}

Result<HttpResponse> HttpClient::readResponse(std::chrono::milliseconds timeout, std::size_t maxBody) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t headEnd;
  while ((headEnd = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) return fail(std::string(eof_ ? "connection closed" : "timeout") + " before response head");
  }
  HttpResponse resp;
  std::string head = buffer_.substr(0, headEnd);
  buffer_.erase(0, headEnd + 4);
  auto lineEnd = head.find("\r\n");
  std::string statusLine = head.substr(0, lineEnd);
  if (statusLine.rfind("HTTP/1.", 0) != 0 || statusLine.size() < 12) return fail("bad status line: " + statusLine);
  resp.status = std::stoi(statusLine.substr(9, 3));
  std::size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    std::string line = head.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
    pos = e == std::string::npos ? head.size() : e + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    resp.headers[lower(line.substr(0, colon))] = value;
  }
  auto cl = resp.headers.find("content-length");
  if (cl != resp.headers.end()) {
    std::size_t want = std::stoul(cl->second);
    if (want > maxBody) return fail(std::string("body too large"));
    while (buffer_.size() < want)
      if (!fill(deadline)) return fail(std::string(eof_ ? "connection closed" : "timeout") + " in body");
    resp.body = buffer_.substr(0, want);
    buffer_.erase(0, want);
  } else {
    while (fill(deadline))
      if (buffer_.size() > maxBody) return fail(std::string("body too large"));
    if (!eof_) return fail(std::string("timeout in body"));
    resp.body = std::move(buffer_);
    buffer_.clear();
  }
  return resp;
}

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& target,
                                         const std::vector<std::pair<std::string, std::string>>& headers,
                                         const std::string& body, std::chrono::milliseconds timeout) {
  auto sent = sendRequest(method, target, headers, body);
  if (!sent) return fail(sent.error());
  return readResponse(timeout);
}

std::string HttpClient::readFor(std::chrono::milliseconds timeout, std::size_t maxBytes, bool* eof) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buffer_.size() < maxBytes && fill(deadline)) {
  }
  std::string out = buffer_.substr(0, maxBytes);
  buffer_.erase(0, out.size());
  if (eof) *eof = eof_;
  return out;
}

bool HttpClient::waitClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) buffer_.clear();
  return eof_;
}

std::string basicAuth(const std::string& user, const std::string& password) {
  return "Basic " + encodeBase64(user + ":" + password);
}

}  // namespace dynmx::dyndns2d
