#pragma once
// A real server started as a child process for a test, stopped by PID and always reaped.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <sys/types.h>

#include "dynmx/result.hpp"

namespace dynmx::testbed {

/// How a server ended when it was stopped.
struct StopOutcome {
  bool exited = false;     ///< exited (or was killed) and was reaped
  int exitCode = -1;       ///< valid when it exited normally
  int signal = 0;          ///< the signal that ended it, if any
  bool killed = false;     ///< SIGTERM was not enough: SIGKILL was sent
};

/// Processes of group `pgid` that are still alive (zombies waiting for init do not count).
std::vector<pid_t> livingGroupMembers(pid_t pgid);

/// A child process (no shell) whose stdout/stderr go to a log file. It runs in its own
/// process group; stop() sends SIGTERM, waits a bounded time, then SIGKILLs the group.
class ServerProcess {
 public:
  /// Start argv[0] (PATH searched) with `env` added to a minimal environment.
  static Result<std::unique_ptr<ServerProcess>> start(std::vector<std::string> argv, std::string logPath,
                                                      const std::map<std::string, std::string>& env = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// The child's PID (also its process group id).
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// True while the child has not exited (never blocks, never reaps: stop() does).
  bool running();
  /// Wait until 127.0.0.1:port accepts connections; fails early (with the log) if the child exits.
  Status<> waitForPort(int port, std::chrono::milliseconds timeout);
  /// Wait until the log contains `needle` (checked every few ms, bounded by `timeout`);
  /// false if it does not appear in time or the child exits first.
  bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout);
  /// Stop by PID: SIGTERM, wait up to `grace`, then SIGKILL the group; always reaps.
  StopOutcome stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// The log file's content so far.
  [[nodiscard]] std::string log() const;
  /// The log file path.
  [[nodiscard]] const std::string& logPath() const { return logPath_; }
  /// Print the log to stderr if the running gtest test has failed (called by stop()).
  void dumpLogIfFailed() const;

 private:
  ServerProcess() = default;
  bool reap(bool block);

  pid_t pid_ = -1;
  int pidFd_ = -1;  ///< pidfd: readable when the child exits, so waits need no sleeps
  bool reaped_ = false;
  mutable bool dumped_ = false;
  std::string name_;
  std::string logPath_;
  StopOutcome outcome_;
};

}  // namespace dynmx::testbed
