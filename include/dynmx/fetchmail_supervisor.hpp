#pragma once
// The supervised fetchmail: a long-running `fetchmail -N -d N` child while mail is on
// multidrop, restarted with back-off when it dies, its output captured and interpreted;
// and the drain before mail returns to direct (poll until the ISP box is empty).
#include <boost/asio/io_context.hpp>
#include "dynmx/timer.hpp"
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/async_process.hpp"
#include "dynmx/status.hpp"

namespace dynmx::fetchmail {

/// What fetchmail's exit code means (fetchmail(1) "EXIT CODES").
struct ExitMeaning {
  std::string name;   ///< e.g. "AUTHFAIL"
  std::string text;   ///< human sentence
  bool critical = false;  ///< needs the admin (authentication, configuration)
  bool mailWaiting = false;  ///< exit 0: mail was (or is) there
};

/// Interpret an exit code. Pure.
ExitMeaning interpretExit(int code);

/// What one line of fetchmail's output tells us. Pure.
struct LineEvent {
  enum class Kind { None, PollDone, MessagesFound, NoMail, QueryStatus, AuthFailure, Error } kind = Kind::None;
  int status = 0;      ///< QueryStatus: the status number
  int messages = 0;    ///< MessagesFound: count
};
LineEvent parseOutputLine(const std::string& line);

/// How to run fetchmail.
struct SupervisorConfig {
  std::string binary = "/usr/bin/fetchmail";
  std::string rcPath;
  std::string home;  ///< FETCHMAILHOME (idfile, pidfile, lock)
  std::string userName;  ///< FETCHMAILUSER / the account it runs as
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::chrono::milliseconds restartBackoffMin{std::chrono::seconds(1)};
  std::chrono::milliseconds restartBackoffMax{std::chrono::minutes(5)};
  std::chrono::milliseconds pollTimeout{std::chrono::minutes(10)};  ///< bound for one-shot polls
  int maxDrainPolls = 10;  ///< bound for the drain loop
};

/// A fetchmail that a killed daemon left running (user `c.uid`, rc `c.rcPath`) keeps polling with the old rc and holds the lock every new fetchmail needs: stop it
/// (SIGTERM, `grace`, then SIGKILL). Blocking; call once at start-up, before the supervisor
/// runs. Returns what it did, or "" when nothing of ours was running.
std::string stopLeftoverFetchmail(const SupervisorConfig& c, std::chrono::milliseconds grace);

/// Callbacks into the coordinator (all on the io_context).
struct SupervisorEvents {
  std::function<void(const std::string& line, bool isStderr)> onOutput;  ///< for our log
  std::function<void()> onChange;  ///< status changed (running, poll, error)
};

/// Supervises one fetchmail. Not thread-safe: use from the io_context only.
class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, ProcessLauncher& launcher, SupervisorConfig config,
             SupervisorEvents events);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  /// Keep a daemon-mode fetchmail running (start now if not running).
  void start();
  /// Stop it (SIGTERM, then SIGKILL after a grace period); no restart.
  void stop(std::function<void()> stopped = {});
  /// Poll once now (a daemon fetchmail is woken by SIGUSR1; otherwise a one-shot run).
  void pollNow();
  /// Stop the daemon, then poll one-shot until fetchmail reports no mail (exit 1) or the
  /// bound is reached. `done(true)` when the box was seen empty.
  void drain(std::function<void(bool drained, const std::string& detail)> done);

  /// Update the config (e.g. after a policy reload); takes effect at the next start.
  void reconfigure(SupervisorConfig config);

  /// Current status for the report.
  const status::FetchmailInfo& info() const { return info_; }

 private:
  void launchDaemon();
  void onDaemonExit(const ChildExit& e, const std::string& detail = {});
  void handleLine(const std::string& line, bool isStderr);
  void drainStep(int attempt, std::function<void(bool, const std::string&)> done);
  void changed();

  boost::asio::io_context& io_;
  ProcessLauncher& launcher_;
  SupervisorConfig config_;
  SupervisorEvents events_;
  std::unique_ptr<Child> daemon_;
  std::unique_ptr<Child> oneShot_;
  Timer restartTimer_;
  Timer killTimer_;
  std::chrono::milliseconds backoff_;
  bool wanted_ = false;
  bool restartPending_ = false;  ///< a back-off timer will restart the daemon
  bool cycleFailed_ = false;   ///< the daemon's current poll cycle reported an error
  bool cycleFetched_ = false;  ///< the daemon's current poll cycle found messages
  std::function<void()> stopped_;
  status::FetchmailInfo info_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// Build the argv/env for a fetchmail run (daemon or one-shot). Pure.
ProcessSpec fetchmailSpec(const SupervisorConfig& c, bool daemonMode, bool checkOnly);

}  // namespace dynmx::fetchmail
