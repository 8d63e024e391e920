// ServerProcess: fork/exec without a shell, log to a file, stop by PID, always reap.
#include "testbed/server_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <iostream>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "testbed/ports.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {
namespace {

/// Resolve a program name like execvp would, but before fork (no allocation in the child).
std::string resolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return name;
}

int openPidFd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

std::vector<pid_t> livingGroupMembers(pid_t pgid) {
  std::vector<pid_t> alive;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces, so go from ')'.
    const std::string stat = slurp(it->path().string() + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') alive.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return alive;
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::start(std::vector<std::string> argv, std::string logPath,
                                                            const std::map<std::string, std::string>& env) {
  if (argv.empty()) return fail(std::string("empty argv"));
  std::string program = resolveProgram(argv[0]);
  std::vector<std::string> envStrings{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : envStrings) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int logFd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logFd < 0) return fail("open log " + logPath + ": " + std::strerror(errno));
  int errPipe[2];
  if (::pipe2(errPipe, O_CLOEXEC) != 0) {
    ::close(logFd);
    return fail(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(logFd);
    ::close(errPipe[0]);
    ::close(errPipe[1]);
    return fail(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull >= 0) ::dup2(devNull, 0);
    ::dup2(logFd, 1);
    ::dup2(logFd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(program.c_str(), cargv.data(), cenv.data());
    int e = errno;
    (void)!::write(errPipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(logFd);
  ::close(errPipe[1]);
  int childErrno = 0;
  ssize_t n;
  do {
    n = ::read(errPipe[0], &childErrno, sizeof childErrno);
  } while (n < 0 && errno == EINTR);
  ::close(errPipe[0]);
  if (n == static_cast<ssize_t>(sizeof childErrno)) {
    ::waitpid(pid, nullptr, 0);
    return fail("exec " + program + ": " + std::strerror(childErrno));
  }
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->pid_ = pid;
  p->pidFd_ = openPidFd(pid);
  p->name_ = argv[0];
  p->logPath_ = std::move(logPath);
  return p;
}

ServerProcess::~ServerProcess() {
  if (!reaped_) stop(std::chrono::seconds(5));
  if (pidFd_ >= 0) ::close(pidFd_);
}

bool ServerProcess::reap(bool block) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  reaped_ = true;
  outcome_.exited = true;
  if (r == pid_) {
    if (WIFEXITED(status)) outcome_.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) outcome_.signal = WTERMSIG(status);
  }
  return true;
}

bool ServerProcess::running() {
  if (reaped_) return false;
  // WNOWAIT: look without reaping, so the PID (and group id) stays ours until stop().
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  return r == 0 && info.si_pid == 0;
}

Status<> ServerProcess::waitForPort(int port, std::chrono::milliseconds timeout) {
  if (testbed::waitForPort(port, timeout, [this] { return running(); })) return Ok{};
  std::string why = running() ? "did not listen on port " + std::to_string(port) + " in time"
                              : std::string("exited before listening");
  return fail(name_ + " " + why + "; log:\n" + log());
}

bool ServerProcess::waitForLog(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (log().find(needle) != std::string::npos) return true;
    if (!running() || std::chrono::steady_clock::now() >= deadline) return log().find(needle) != std::string::npos;
    ::poll(nullptr, 0, 5);  // a short, bounded pause between looks at the file
  }
}

StopOutcome ServerProcess::stop(std::chrono::milliseconds grace) {
  if (!reaped_) {
    ::kill(pid_, SIGTERM);
    // Wait for the exit on the pidfd (no sleeps); without one, poll waitpid briefly.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (running()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (pidFd_ >= 0) {
        pollfd p{pidFd_, POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
      } else {
        ::poll(nullptr, 0, static_cast<int>(std::min<long>(left.count(), 10)));
      }
    }
    if (running()) outcome_.killed = true;
    // The group: helpers of a master (dovecot's) must not outlive the test. The leader is
    // not reaped yet (running() never reaps), so its group id cannot have been reused.
    ::kill(-pid_, SIGKILL);
    reap(true);
  }
  dumpLogIfFailed();
  return outcome_;
}

std::string ServerProcess::log() const { return slurp(logPath_); }

void ServerProcess::dumpLogIfFailed() const {
  if (dumped_ || !::testing::Test::HasFailure()) return;
  dumped_ = true;
  std::cerr << "----- log of " << name_ << " (pid " << pid_ << ", " << logPath_ << ") -----\n"
            << log() << "----- end of log -----\n";
}

}  // namespace dynmx::testbed
