#pragma once
// Child processes on the Asio loop: spawn without a shell (optionally as another user),
// read stdout/stderr line by line, learn of the exit through SIGCHLD, kill on demand.
// Used for the supervised fetchmail and for hooks.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "dynmx/process.hpp"

namespace dynmx {

/// How a child ended.
struct ChildExit {
  int exitCode = -1;  ///< valid when signal == 0
  int signal = 0;
  bool timedOut = false;  ///< we killed it because its timeout expired
};

/// Callbacks for one child. All run on the io_context.
struct ChildCallbacks {
  std::function<void(const std::string& line)> onStdout;  ///< one line, without newline
  std::function<void(const std::string& line)> onStderr;
  std::function<void(const ChildExit&)> onExit;  ///< exactly once, after both streams closed
};

/// A running child. Destroying the handle kills the child (SIGKILL) if still running.
class Child {
 public:
  virtual ~Child() = default;
  virtual int pid() const = 0;
  virtual bool running() const = 0;
  /// Send a signal to the child's process group.
  virtual void signal(int sig) = 0;
};

/// Spawns children. A fake replaces it in unit tests.
class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  /// Start `spec` (spec.timeout > 0 kills it after that long). On failure returns nullptr
  /// and sets `error`.
  virtual std::unique_ptr<Child> launch(const ProcessSpec& spec, ChildCallbacks callbacks,
                                        std::string& error) = 0;
};

/// The real launcher (fork/exec, pipes, SIGCHLD through asio::signal_set).
std::unique_ptr<ProcessLauncher> makeProcessLauncher(boost::asio::io_context& io);

}  // namespace dynmx
