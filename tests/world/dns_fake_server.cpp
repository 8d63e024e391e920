#include "dns_fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace dynmx::fault {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint8_t kRcodeServFail = 2;
constexpr std::uint8_t kRcodeRefused = 5;

/// The parts of a query the answer echoes.
struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  Bytes question;  ///< QNAME + QTYPE + QCLASS, as received
  std::uint16_t qtype = 0;
};

/// Parse the header and the single question (no compression in a query's QNAME).
std::optional<Query> parseQuery(const std::uint8_t* data, std::size_t size) {
  if (size < 12) return std::nullopt;
  Query q;
  q.id = static_cast<std::uint16_t>(data[0] << 8 | data[1]);
  q.flags = static_cast<std::uint16_t>(data[2] << 8 | data[3]);
  if ((q.flags & 0x8000) != 0) return std::nullopt;  // a response, not a query
  const std::uint16_t qdcount = static_cast<std::uint16_t>(data[4] << 8 | data[5]);
  if (qdcount != 1) return std::nullopt;
  std::size_t pos = 12;
  while (pos < size && data[pos] != 0) {
    if ((data[pos] & 0xC0) != 0) return std::nullopt;
    pos += 1 + data[pos];
  }
  pos += 1;  // the root label
  if (pos + 4 > size) return std::nullopt;
  q.qtype = static_cast<std::uint16_t>(data[pos] << 8 | data[pos + 1]);
  q.question.assign(data + 12, data + pos + 4);
  return q;
}

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

/// The response to `q`: rcode, truncation, and (for NOERROR A queries) one A record.
Bytes buildResponse(const Query& q, std::uint8_t rcode, bool truncated, const std::string& address,
                    bool authoritative = true) {
  in_addr a{};
  const bool withAnswer =
      rcode == 0 && !truncated && q.qtype == kTypeA && ::inet_pton(AF_INET, address.c_str(), &a) == 1;
  Bytes b;
  put16(b, q.id);
  std::uint16_t flags = 0x8000 | (q.flags & 0x7800) | (q.flags & 0x0100);  // QR, opcode, RD
  if (authoritative) flags |= 0x0400;                                        // AA
  if (truncated) flags |= 0x0200;
  flags |= rcode & 0x0F;
  put16(b, flags);
  put16(b, 1);                   // QDCOUNT
  put16(b, withAnswer ? 1 : 0);  // ANCOUNT
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), q.question.begin(), q.question.end());
  if (withAnswer) {
    put16(b, 0xC00C);  // the name: a pointer to the question
    put16(b, kTypeA);
    put16(b, 1);  // IN
    put16(b, 0);
    put16(b, 1);  // TTL 1
    put16(b, 4);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&a.s_addr);
    b.insert(b.end(), bytes, bytes + 4);
  }
  return b;
}

/// Read exactly `n` bytes from a connected socket, waiting at most `timeoutMs` for each read.
bool readExactly(int fd, std::uint8_t* out, std::size_t n, int timeoutMs) {
  std::size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) return false;
    ssize_t r = ::recv(fd, out + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<FakeDnsServer>> FakeDnsServer::start(FakeDnsBehaviour initial) {
  std::unique_ptr<FakeDnsServer> s(new FakeDnsServer());
  s->behaviour_ = std::move(initial);
  // Find a port free for both UDP and TCP: bind TCP to any port, then UDP to the same one.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tcp < 0 || udp < 0) {
      if (tcp >= 0) ::close(tcp);
      if (udp >= 0) ::close(udp);
      return fail("socket: " + std::string(std::strerror(errno)));
    }
    int one = 1;
    ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(tcp, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(tcp);
      ::close(udp);
      return fail("bind tcp: " + std::string(std::strerror(errno)));
    }
    if (::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // taken for UDP: try another
      ::close(tcp);
      ::close(udp);
      continue;
    }
    if (::listen(tcp, 16) != 0) {
      ::close(tcp);
      ::close(udp);
      return fail("listen: " + std::string(std::strerror(errno)));
    }
    s->tcpFd_ = tcp;
    s->udpFd_ = udp;
    s->port_ = ntohs(a.sin_port);
    break;
  }
  if (s->port_ == 0) return fail(std::string("no port free for both UDP and TCP"));
  s->wakeFd_ = ::eventfd(0, EFD_CLOEXEC);
  if (s->wakeFd_ < 0) return fail("eventfd: " + std::string(std::strerror(errno)));
  s->thread_ = std::thread([raw = s.get()] { raw->run(); });
  return s;
}

FakeDnsServer::~FakeDnsServer() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(wakeFd_, &one, sizeof one);
    thread_.join();
  }
  for (int fd : {udpFd_, tcpFd_, wakeFd_})
    if (fd >= 0) ::close(fd);
}

void FakeDnsServer::set(FakeDnsBehaviour behaviour) {
  std::lock_guard lock(mutex_);
  behaviour_ = std::move(behaviour);
}

FakeDnsBehaviour FakeDnsServer::behaviour() const {
  std::lock_guard lock(mutex_);
  return behaviour_;
}

void FakeDnsServer::run() {
  for (;;) {
    pollfd fds[3] = {{wakeFd_, POLLIN, 0}, {udpFd_, POLLIN, 0}, {tcpFd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    if ((fds[1].revents & POLLIN) != 0) onUdp();
    if ((fds[2].revents & POLLIN) != 0) onTcp();
  }
}

void FakeDnsServer::onUdp() {
  std::uint8_t buf[4096];
  sockaddr_storage from{};
  socklen_t fromLen = sizeof from;
  ssize_t n = ::recvfrom(udpFd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromLen);
  if (n <= 0) return;
  ++udpQueries_;
  auto q = parseQuery(buf, static_cast<std::size_t>(n));
  if (!q) return;
  const FakeDnsBehaviour b = behaviour();
  Bytes out;
  switch (b.udp) {
    case FakeDnsBehaviour::Udp::Silent:
      return;
    case FakeDnsBehaviour::Udp::Answer:
      out = buildResponse(*q, 0, false, b.address);
      break;
    case FakeDnsBehaviour::Udp::ServFail:
      out = buildResponse(*q, kRcodeServFail, false, b.address);
      break;
    case FakeDnsBehaviour::Udp::Refused:
      out = buildResponse(*q, kRcodeRefused, false, b.address);
      break;
    case FakeDnsBehaviour::Udp::Truncate:
      out = buildResponse(*q, 0, true, b.address);
      break;
    case FakeDnsBehaviour::Udp::NoAa:
      out = buildResponse(*q, 0, false, b.address, false);
      break;
  }
  (void)!::sendto(udpFd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fromLen);
}

void FakeDnsServer::onTcp() {
  int conn = ::accept4(tcpFd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return;
  ++tcpConnections_;
  const FakeDnsBehaviour b = behaviour();
  if (b.tcp == FakeDnsBehaviour::Tcp::Answer) {
    // One or more length-prefixed queries on the connection, until the client closes it
    // or is idle for 2 s (c-ares keeps a TCP connection for the queries it sends).
    for (;;) {
      std::uint8_t lenBytes[2];
      if (!readExactly(conn, lenBytes, 2, 2000)) break;
      const std::size_t len = static_cast<std::size_t>(lenBytes[0] << 8 | lenBytes[1]);
      Bytes msg(len);
      if (len == 0 || !readExactly(conn, msg.data(), len, 2000)) break;
      auto q = parseQuery(msg.data(), msg.size());
      if (!q) break;
      Bytes out = buildResponse(*q, 0, false, b.address);
      Bytes framed;
      put16(framed, static_cast<std::uint16_t>(out.size()));
      framed.insert(framed.end(), out.begin(), out.end());
      if (::send(conn, framed.data(), framed.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(framed.size()))
        break;
      ++tcpAnswers_;
    }
  }
  ::close(conn);
}

}  // namespace dynmx::fault
