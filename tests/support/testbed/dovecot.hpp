#pragma once
// A real dovecot (POP3 + IMAP, no TLS) on loopback: the ISP's mailbox server in tests.
#include <chrono>
#include <memory>
#include <string>

#include "dynmx/result.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {

/// dovecot -F -c DIR/dovecot/dovecot.conf with its own base/state dirs, passwd-file users
/// and maildirs. As root the mail users run as uid/gid 65534 and own their maildirs.
class Dovecot {
 public:
  /// Write the config, start dovecot, and wait for both ports (bounded by `timeout`).
  static Result<std::unique_ptr<Dovecot>> start(const TempDir& dir,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~Dovecot();
  Dovecot(const Dovecot&) = delete;
  Dovecot& operator=(const Dovecot&) = delete;

  /// The POP3 port on 127.0.0.1.
  [[nodiscard]] int pop3Port() const { return pop3Port_; }
  /// The IMAP port on 127.0.0.1.
  [[nodiscard]] int imapPort() const { return imapPort_; }
  /// Add a mail user with a plain-text password and an empty Maildir.
  Status<> addUser(const std::string& user, const std::string& password);
  /// Put one raw message into the user's Maildir/new (unique name, owned by the mail uid).
  Status<> deliver(const std::string& user, const std::string& rawMessage);
  /// Messages still in the user's mailbox (Maildir/new + Maildir/cur).
  [[nodiscard]] std::size_t count(const std::string& user) const;
  /// The user's Maildir path.
  [[nodiscard]] std::string maildir(const std::string& user) const;
  /// Stop dovecot by PID (SIGTERM, bounded wait, SIGKILL), always reaped.
  StopOutcome stop();
  /// The server process (log, pid).
  [[nodiscard]] ServerProcess& process() { return *process_; }

 private:
  Dovecot() = default;

  std::string root_;       ///< DIR/dovecot
  std::string usersFile_;  ///< passwd-file
  std::string homes_;      ///< DIR/dovecot/home
  unsigned mailUid_ = 0;
  unsigned mailGid_ = 0;
  int pop3Port_ = 0;
  int imapPort_ = 0;
  unsigned long delivered_ = 0;  ///< for unique Maildir names
  bool logDumped_ = false;
  std::unique_ptr<ServerProcess> process_;
};

}  // namespace dynmx::testbed
