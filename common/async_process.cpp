// Children on the Asio loop. One signal_set for SIGCHLD serves every child; on each
// SIGCHLD we reap only the pids we started (waitpid(pid, WNOHANG)), so synchronous
// runProcess() calls elsewhere keep their own children.
#include <sys/wait.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <csignal>
#include <cstring>
#include <istream>
#include <map>
#include <vector>

#include "dynmx/async_process.hpp"

namespace dynmx {
namespace {

namespace asio = boost::asio;

class Reaper;

class AsyncChild final : public Child, public std::enable_shared_from_this<AsyncChild> {
 public:
  AsyncChild(asio::io_context& io, std::shared_ptr<Reaper> reaper, const SpawnedProcess& p, ChildCallbacks cb)
      : reaper_(std::move(reaper)), pid_(p.pid), out_(io, p.stdoutFd), err_(io, p.stderrFd), timer_(io),
        callbacks_(std::move(cb)) {}

  int pid() const override { return pid_; }
  bool running() const override { return !reaped_; }
  void signal(int sig) override {
    if (!reaped_) {
      ::kill(-pid_, sig);
      ::kill(pid_, sig);
    }
  }

  void start(std::chrono::milliseconds timeout) {
    readLines(out_, outBuf_, true);
    readLines(err_, errBuf_, false);
    if (timeout.count() > 0) {
      timer_.expires_after(timeout);
      std::weak_ptr<AsyncChild> weak = shared_from_this();
      timer_.async_wait([weak](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || ec || self->reaped_) return;
        self->timedOut_ = true;
        self->signal(SIGKILL);
      });
    }
  }

  /// Called by the reaper when waitpid returned our status.
  void reaped(int status) {
    reaped_ = true;
    timer_.cancel();
    exit_.timedOut = timedOut_;
    if (WIFEXITED(status)) exit_.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) exit_.signal = WTERMSIG(status);
    maybeFinish();
  }

  /// The handle went away: kill the child; it is still reaped by the reaper.
  void abandon() {
    callbacks_ = {};
    signal(SIGKILL);
  }

 private:
  void readLines(asio::posix::stream_descriptor& d, asio::streambuf& buf, bool isOut) {
    std::weak_ptr<AsyncChild> weak = shared_from_this();
    asio::async_read_until(d, buf, '\n', [weak, &d, &buf, isOut](const boost::system::error_code& ec, std::size_t) {
      auto self = weak.lock();
      if (!self) return;
      std::istream in(&buf);
      std::string line;
      // Deliver complete lines; on EOF also the unterminated rest.
      while (buf.size() > 0) {
        const char* data = static_cast<const char*>(buf.data().data());
        bool hasNewline = std::memchr(data, '\n', buf.size()) != nullptr;
        if (!hasNewline && !ec) break;
        std::getline(in, line);
        self->deliver(line, isOut);
      }
      if (ec) {
        boost::system::error_code ignore;
        d.close(ignore);
        ++self->streamsClosed_;
        self->maybeFinish();
        return;
      }
      self->readLines(d, buf, isOut);
    });
  }

  void deliver(const std::string& line, bool isOut) {
    auto& cb = isOut ? callbacks_.onStdout : callbacks_.onStderr;
    if (cb) cb(line);
  }

  void maybeFinish() {
    if (!reaped_ || streamsClosed_ < 2 || finished_) return;
    finished_ = true;
    // Drop the callbacks once the child is done: they often hold the owner of this
    // child's handle (a hook run, an rc install), and keeping them would be a cycle.
    ChildCallbacks callbacks = std::move(callbacks_);
    callbacks_ = {};
    if (callbacks.onExit) callbacks.onExit(exit_);
  }

  std::shared_ptr<Reaper> reaper_;
  int pid_;
  asio::posix::stream_descriptor out_;
  asio::posix::stream_descriptor err_;
  asio::streambuf outBuf_{64 * 1024};
  asio::streambuf errBuf_{64 * 1024};
  asio::steady_timer timer_;
  ChildCallbacks callbacks_;
  ChildExit exit_;
  bool reaped_ = false;
  bool timedOut_ = false;
  bool finished_ = false;
  int streamsClosed_ = 0;
};

/// Watches SIGCHLD and reaps registered pids.
class Reaper : public std::enable_shared_from_this<Reaper> {
 public:
  explicit Reaper(asio::io_context& io) : signals_(io, SIGCHLD) {}

  void add(const std::shared_ptr<AsyncChild>& child) {
    children_[child->pid()] = child;
    if (!waiting_) wait();
    reapNow();  // it may have exited before we registered
  }

 private:
  void wait() {
    waiting_ = true;
    std::weak_ptr<Reaper> weak = shared_from_this();
    signals_.async_wait([weak](const boost::system::error_code& ec, int) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->reapNow();
      self->wait();
    });
  }

  void reapNow() {
    // Collect first, notify after: an exit callback may launch (and register) a new child.
    std::vector<std::pair<std::weak_ptr<AsyncChild>, int>> done;
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->first, &status, WNOHANG);
      if (r == it->first || (r < 0 && errno == ECHILD)) {
        done.emplace_back(it->second, r == it->first ? status : 0);
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [weak, status] : done)
      if (auto child = weak.lock()) child->reaped(status);
  }

  asio::signal_set signals_;
  std::map<int, std::weak_ptr<AsyncChild>> children_;
  bool waiting_ = false;
};

/// The handle given to callers; the AsyncChild lives on while reads/reaping are pending.
class ChildHandle final : public Child {
 public:
  explicit ChildHandle(std::shared_ptr<AsyncChild> c) : child_(std::move(c)) {}
  ~ChildHandle() override {
    if (child_->running()) child_->abandon();
  }
  ChildHandle(const ChildHandle&) = delete;
  ChildHandle& operator=(const ChildHandle&) = delete;
  int pid() const override { return child_->pid(); }
  bool running() const override { return child_->running(); }
  void signal(int sig) override { child_->signal(sig); }

 private:
  std::shared_ptr<AsyncChild> child_;
};

class AsioLauncher final : public ProcessLauncher {
 public:
  explicit AsioLauncher(asio::io_context& io) : io_(io), reaper_(std::make_shared<Reaper>(io)) {}

  std::unique_ptr<Child> launch(const ProcessSpec& spec, ChildCallbacks callbacks, std::string& error) override {
    SpawnedProcess p = spawnProcess(spec);
    if (p.pid < 0) {
      error = p.error;
      return nullptr;
    }
    auto child = std::make_shared<AsyncChild>(io_, reaper_, p, std::move(callbacks));
    // Keep the child object alive until it is finished, independent of the handle.
    keepAlive_[p.pid] = child;
    child->start(spec.timeout);
    reaper_->add(child);
    pruneFinished();
    return std::make_unique<ChildHandle>(child);
  }

 private:
  void pruneFinished() {
    for (auto it = keepAlive_.begin(); it != keepAlive_.end();)
      it = it->second->running() ? std::next(it) : keepAlive_.erase(it);
  }

  asio::io_context& io_;
  std::shared_ptr<Reaper> reaper_;
  std::map<int, std::shared_ptr<AsyncChild>> keepAlive_;
};

}  // namespace

std::unique_ptr<ProcessLauncher> makeProcessLauncher(boost::asio::io_context& io) {
  return std::make_unique<AsioLauncher>(io);
}

}  // namespace dynmx
