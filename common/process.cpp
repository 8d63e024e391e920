#include "dynmx/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace dynmx {
namespace {

struct Pipe {
  int r = -1;
  int w = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    r = fds[0];
    w = fds[1];
    return true;
  }
  void closeBoth() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
    r = w = -1;
  }
};

/// Mark every descriptor from `first` up close-on-exec (async-signal-safe: used after fork).
void closeOnExecFrom(int first) {
  if (::close_range(static_cast<unsigned>(first), ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  const long max = ::sysconf(_SC_OPEN_MAX);
  for (long fd = first; fd < (max > 0 && max < 65536 ? max : 65536); ++fd) {
    const int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0) ::fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
}

}  // namespace

SpawnedProcess spawnProcess(const ProcessSpec& spec) {
  SpawnedProcess result;
  if (spec.argv.empty()) {
    result.error = "empty argv";
    return result;
  }

  // Build everything the child needs before fork: only async-signal-safe calls after it.
  std::vector<std::string> envStrings;
  if (spec.inheritEnvironment) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string::npos && spec.env.count(kv.substr(0, eq)) == 0) envStrings.push_back(kv);
    }
  } else if (spec.env.count("PATH") == 0) {
    envStrings.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  for (const auto& [k, v] : spec.env) envStrings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : envStrings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argvStrings = spec.argv;
  std::vector<char*> argv;
  for (auto& s : argvStrings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string program = spec.argv[0];
  std::vector<std::string> candidates;
  if (program.find('/') != std::string::npos) {
    candidates.push_back(program);
  } else {
    for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
      candidates.push_back(std::string(dir) + "/" + program);
  }

  Pipe out, err, status;
  if (!out.open() || !err.open() || !status.open()) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    out.closeBoth();
    err.closeBoth();
    status.closeBoth();
    return result;
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("fork: ") + std::strerror(errno);
    out.closeBoth();
    err.closeBoth();
    status.closeBoth();
    return result;
  }
  if (pid == 0) {
    // Child.
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out.w, 1);
    ::dup2(err.w, 2);
    ::setpgid(0, 0);
    // Nothing of ours crosses exec: Asio, c-ares and curl open sockets without CLOEXEC, and a
    // child holding the control socket's listener would answer for a dead daemon (and let
    // fetchmail or a hook accept its clients).
    closeOnExecFrom(3);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGCHLD}) ::signal(sig, SIG_DFL);
    auto die = [&](int code) {
      int e = code;
      (void)!::write(status.w, &e, sizeof e);
      ::_exit(127);
    };
    if (!spec.workingDirectory.empty() && ::chdir(spec.workingDirectory.c_str()) != 0) die(errno);
    if (spec.gid) {
      if (::setgroups(0, nullptr) != 0 && errno != EPERM) die(errno);
      if (::setgid(*spec.gid) != 0) die(errno);
    }
    if (spec.uid && ::setuid(*spec.uid) != 0) die(errno);
    // Children never inherit our capabilities (the unit grants CAP_SETUID/SETGID only so
    // we can start fetchmail and hooks as their own users).
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    int lastErr = ENOENT;
    for (const auto& c : candidates) {
      ::execve(c.c_str(), argv.data(), envp.data());
      if (errno != ENOENT) lastErr = errno;
    }
    die(lastErr);
  }

  // Parent.
  ::close(out.w);
  ::close(err.w);
  ::close(status.w);

  int execErr = 0;
  ssize_t sn;
  do {
    sn = ::read(status.r, &execErr, sizeof execErr);
  } while (sn < 0 && errno == EINTR);
  ::close(status.r);
  if (sn == static_cast<ssize_t>(sizeof execErr)) {
    result.error = "cannot run " + program + ": " + std::strerror(execErr);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ::close(out.r);
    ::close(err.r);
    return result;
  }
  result.pid = pid;
  result.stdoutFd = out.r;
  result.stderrFd = err.r;
  return result;
}

ProcessResult runProcess(const ProcessSpec& spec) {
  ProcessResult result;
  SpawnedProcess child = spawnProcess(spec);
  if (child.pid < 0) {
    result.error = child.error;
    return result;
  }
  const pid_t pid = child.pid;
  result.started = true;

  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  pollfd fds[2] = {{child.stdoutFd, POLLIN, 0}, {child.stderrFd, POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int openCount = 2;
  char buf[4096];
  while (openCount > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timedOut = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        std::size_t room = spec.maxOutput > sinks[i]->size() ? spec.maxOutput - sinks[i]->size() : 0;
        sinks[i]->append(buf, std::min(room, static_cast<std::size_t>(got)));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --openCount;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);

  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st)) result.exitCode = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) result.signal = WTERMSIG(st);
  return result;
}

}  // namespace dynmx
