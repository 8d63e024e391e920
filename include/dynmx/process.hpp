#pragma once
// Run a child process without a shell, synchronously, with a timeout. Used for
// validation (`fetchmail --configdump`) and by the CLI; the daemon has an async runner.
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <sys/types.h>

#include "dynmx/time.hpp"

namespace dynmx {

/// What to run and how.
struct ProcessSpec {
  std::vector<std::string> argv;                 ///< argv[0] is the program (PATH is searched if no '/')
  std::map<std::string, std::string> env;        ///< added to / overriding a minimal environment
  bool inheritEnvironment = false;               ///< start from our environment instead of PATH only
  std::optional<uid_t> uid;                      ///< drop to this user (needs root)
  std::optional<gid_t> gid;
  std::string workingDirectory;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::size_t maxOutput = 1 << 20;               ///< per stream; the rest is discarded
};

/// How it ended.
struct ProcessResult {
  bool started = false;       ///< false if exec failed (then `error` says why)
  int exitCode = -1;          ///< valid when exited normally
  int signal = 0;             ///< non-zero when killed by a signal
  bool timedOut = false;      ///< killed because the timeout expired
  std::string out;
  std::string err;
  std::string error;          ///< spawn error text
  [[nodiscard]] bool succeeded() const { return started && !timedOut && signal == 0 && exitCode == 0; }
};

/// A started child: its pid and the read ends of its stdout/stderr pipes (O_CLOEXEC).
struct SpawnedProcess {
  pid_t pid = -1;  ///< -1 when it could not be started (`error` says why)
  int stdoutFd = -1;
  int stderrFd = -1;
  std::string error;
};

/// Fork and exec `spec` (no shell; own process group; uid/gid dropped if given). The exec
/// failure is reported synchronously. The caller owns the fds and must reap the pid.
SpawnedProcess spawnProcess(const ProcessSpec& spec);

/// Run to completion (or timeout, then SIGKILL). Never throws for child failures.
ProcessResult runProcess(const ProcessSpec& spec);

}  // namespace dynmx
