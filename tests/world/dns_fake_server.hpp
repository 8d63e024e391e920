#pragma once
// A tiny authoritative DNS server for the "dns" fault class: UDP and TCP on one
// 127.0.0.1 high port, answering every query with what the test asks for (the right
// address, SERVFAIL, REFUSED, a truncated UDP answer, or nothing at all). It parses just
// enough of a query to echo its id and question. One thread with poll(); stopped cleanly
// by the destructor through an eventfd.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dynmx/result.hpp"

namespace dynmx::fault {

/// How the fake server answers.
struct FakeDnsBehaviour {
  /// Over UDP.
  enum class Udp {
    Answer,    ///< NOERROR, AA, the A record `address` (TTL 1); other types: no data
    ServFail,  ///< RCODE 2
    Refused,   ///< RCODE 5
    Truncate,  ///< TC=1 and no answer: the resolver must ask again over TCP
    Silent,    ///< the query is read and dropped: the resolver times out
    NoAa,      ///< as Answer, the right record, but without the AA bit: a cache's answer
  };
  /// Over TCP (c-ares only uses TCP after a truncated UDP answer here).
  enum class Tcp {
    Answer,  ///< as Udp::Answer, over TCP
    Close,   ///< accept, then close without a word
  };
  Udp udp = Udp::Answer;
  Tcp tcp = Tcp::Answer;
  std::string address;  ///< the IPv4 address answered for any A query
};

/// The running server. All methods are safe to call from the test thread while it runs.
class FakeDnsServer {
 public:
  /// Bind UDP and TCP on the same free 127.0.0.1 port and start the thread.
  static Result<std::unique_ptr<FakeDnsServer>> start(FakeDnsBehaviour initial);
  ~FakeDnsServer();
  FakeDnsServer(const FakeDnsServer&) = delete;
  FakeDnsServer& operator=(const FakeDnsServer&) = delete;

  /// The port (UDP and TCP) on 127.0.0.1.
  [[nodiscard]] int port() const { return port_; }
  /// Change how the following queries are answered.
  void set(FakeDnsBehaviour behaviour);
  /// Queries received over UDP so far.
  [[nodiscard]] long udpQueries() const { return udpQueries_.load(); }
  /// TCP connections accepted so far.
  [[nodiscard]] long tcpConnections() const { return tcpConnections_.load(); }
  /// Queries answered over TCP so far.
  [[nodiscard]] long tcpAnswers() const { return tcpAnswers_.load(); }

 private:
  FakeDnsServer() = default;
  void run();
  void onUdp();
  void onTcp();
  FakeDnsBehaviour behaviour() const;

  int port_ = 0;
  int udpFd_ = -1;
  int tcpFd_ = -1;
  int wakeFd_ = -1;
  mutable std::mutex mutex_;
  FakeDnsBehaviour behaviour_;
  std::atomic<long> udpQueries_{0};
  std::atomic<long> tcpConnections_{0};
  std::atomic<long> tcpAnswers_{0};
  std::thread thread_;
};

}  // namespace dynmx::fault
