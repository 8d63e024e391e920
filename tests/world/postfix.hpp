#pragma once
// A real Postfix instance of the world (the senders' MTA or the ISP's MX): its own
// config, queue and data directories, started in the foreground and stopped by PID.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dynmx/result.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::world {

/// What one instance looks like.
struct PostfixOptions {
  std::string name;         ///< instance name: sub-directory and syslog name ("sender", "isp")
  std::string hostname;     ///< myhostname, e.g. "mx.isp.example"
  std::string address;      ///< its only address: smtpd listens here, smtp binds here, loops are "itself"
  std::string extraMainCf;  ///< main.cf lines appended (delivery, relay rules)
};

/// `master -d` with MAIL_CONFIG=DIR: chroot n for every service (so smtp reads the world's
/// bind-mounted /etc/resolv.conf), fast retries, no TLS, logging to DIR/maillog.
class Postfix {
 public:
  /// Write main.cf/master.cf, create the queue (`postfix check`), start, wait for port 25.
  static Result<std::unique_ptr<Postfix>> start(const testbed::TempDir& dir, PostfixOptions options,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~Postfix();
  Postfix(const Postfix&) = delete;
  Postfix& operator=(const Postfix&) = delete;

  /// `postqueue -p`: true when it says the queue is empty.
  [[nodiscard]] bool queueEmpty() const;
  /// `postqueue -p` output (for failure messages).
  [[nodiscard]] std::string queueListing() const;
  /// `postqueue -f`: retry every deferred message now.
  void flush() const;
  /// The instance's mail log so far.
  [[nodiscard]] std::string maillog() const;
  /// Its config directory.
  [[nodiscard]] const std::string& configDir() const { return configDir_; }
  /// `postconf -c DIR ARGS...` (e.g. {"-e", "defer_transports = virtual"}), then SIGHUP
  /// to the master so the change takes effect (queue files and connections stay).
  Status<> reconfigure(const std::vector<std::string>& postconfArgs);
  /// Stop the master by PID, always reaped.
  testbed::StopOutcome stop();

 private:
  Postfix() = default;
  std::string configDir_;
  bool logDumped_ = false;
  std::unique_ptr<testbed::ServerProcess> process_;
};

}  // namespace dynmx::world
