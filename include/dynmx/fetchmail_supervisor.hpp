#pragma once
// The supervised fetchmail: a long-running `fetchmail -N -d N` child while mail is on
// multidrop, restarted with back-off when it dies, its output captured and interpreted;
// and the drain before mail returns to direct (poll until the ISP box is empty).
#include <boost/asio/io_context.hpp>
#include "dynmx/timer.hpp"
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "dynmx/async_process.hpp"
#include "dynmx/status.hpp"

namespace dynmx::fetchmail {

/// What fetchmail's exit code means (fetchmail(1) "EXIT CODES"); one table, in status.
using ExitMeaning = status::FetchmailExitMeaning;

/// Interpret an exit code. Pure.
inline ExitMeaning interpretExit(int code) { return status::fetchmailExitMeaning(code); }

/// What one line of fetchmail's output tells us. Pure.
struct LineEvent {
  enum class Kind { None, PollDone, MessagesFound, NoMail, QueryStatus, AuthFailure, DeliveryRefused, Error } kind =
      Kind::None;
  int status = 0;      ///< QueryStatus: the status number
  int messages = 0;    ///< MessagesFound: count
  std::string text;    ///< DeliveryRefused: the local MTA's reply, e.g. "451 4.3.0 try later"
};
LineEvent parseOutputLine(const std::string& line);

/// A line of fetchmail's output as dynmx's log shows it.
struct RelayedLine {
  enum class Level { Debug, Info, Warn } level = Level::Info;
  std::string text;  ///< above Debug: every mail address's local part replaced by "*"
};
/// Routine progress and the -v protocol trace go to debug (verbatim); anything else to
/// info (stdout) or warn (stderr) with the addresses redacted. Pure.
RelayedLine relayLine(const std::string& line, bool isStderr);

/// "alice@example.com" → "*@example.com", everywhere in `text`. Pure.
std::string redactAddresses(std::string_view text);

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
  void handleLine(const std::string& line, bool isStderr, bool fromDaemon);
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
  int cycleRefused_ = 0;       ///< messages the local MTA refused in the current poll
  std::string cycleRefusal_;   ///< the MTA's last refusal reply in the current poll
  /// The poll's refusals as a status error ("" when none), and reset them for the next poll.
  std::string takeRefusals();
  /// The status error for the refusals seen in this poll.
  std::string refusalText() const;
  std::function<void()> stopped_;
  status::FetchmailInfo info_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// Build the argv/env for a fetchmail run (daemon or one-shot). Pure.
ProcessSpec fetchmailSpec(const SupervisorConfig& c, bool daemonMode, bool checkOnly);

}  // namespace dynmx::fetchmail
