#pragma once
// An in-process SMTP and LMTP server on loopback that accepts every message and records it.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dynmx::testbed {

/// One message as the sink received it.
struct SinkMessage {
  std::vector<std::string> recipients;  ///< RCPT TO addresses, exactly as given (without <>)
  std::string mailFrom;                 ///< MAIL FROM address (without <>)
  std::string messageId;                ///< the Message-ID header value, if any
  std::string testId;                   ///< the X-Test-Id header value, if any
  std::string data;                     ///< the message as sent after DATA (dot-unstuffed, CRLF)
  bool lmtp = false;                    ///< the client spoke LMTP (LHLO)
};

/// The value of header `name` (case-insensitive, unfolded, trimmed) in `message`, or "".
std::string headerValue(const std::string& message, const std::string& name);

/// A sink on 127.0.0.1:port() (or the address given). The protocol is chosen per session by
/// the client's greeting: LHLO means LMTP (one reply per recipient after DATA), EHLO/HELO means SMTP.
class MailSink {
 public:
  /// Binds a free loopback port and starts the server thread; throws if it cannot bind.
  MailSink();
  /// Listens on address:port instead (e.g. an actor's public address and port 25 inside a
  /// test's own network namespace); throws if it cannot bind.
  MailSink(const std::string& address, int port);
  ~MailSink();
  MailSink(const MailSink&) = delete;
  MailSink& operator=(const MailSink&) = delete;

  /// The port it listens on.
  [[nodiscard]] int port() const { return port_; }
  /// A copy of everything delivered so far.
  [[nodiscard]] std::vector<SinkMessage> messages() const;
  /// How many messages were delivered so far.
  [[nodiscard]] std::size_t count() const;
  /// Wait (on a condition variable) until `done(messages)` holds or `timeout` passes.
  bool waitFor(const std::function<bool(const std::vector<SinkMessage>&)>& done,
               std::chrono::milliseconds timeout) const;
  /// Forget everything received so far.
  void clear();
  /// Stop accepting and join all threads (also done by the destructor).
  void stop();

 private:
  void acceptLoop();
  void session(int fd);
  void record(SinkMessage m);

  int listenFd_ = -1;
  int wakeFd_ = -1;  ///< eventfd: readable once stop() is called, wakes every poll()
  int port_ = 0;
  bool stopped_ = false;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<SinkMessage> messages_;
  std::thread acceptThread_;
  std::mutex sessionsMutex_;
  std::vector<std::thread> sessions_;
};

}  // namespace dynmx::testbed
