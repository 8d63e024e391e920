#pragma once
// The supervised fetchmail. dynmx owns the poll loop: while mail is on multidrop it runs one
// `fetchmail -d 0` poll every poll_interval on its own timer, and reads each poll's result
// from the exit code (fetchmail(1) "EXIT CODES"), not from its chatter. So fetchmail needs
// no -v (its trace carries every recipient address); -v only with log_level = debug. A poll
// that crashes or cannot start is retried with back-off. The drain before mail returns to
// direct polls until the ISP box is empty. A running poll is never cut short by a stop
// (fetchmail killed mid-session re-fetches what it had delivered): it ends first, bounded.
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

/// What one line of fetchmail's output tells us beyond the exit code (how many messages wait,
/// which the local MTA refused). Pure.
struct LineEvent {
  enum class Kind { None, MessagesFound, NoMail, DeliveryRefused } kind = Kind::None;
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
  std::chrono::milliseconds pollInterval{std::chrono::minutes(5)};  ///< [fetchmail] poll_interval
  std::chrono::milliseconds pollTimeout{std::chrono::minutes(10)};  ///< bound for one poll
  /// How long a stop waits for a running poll to end before SIGTERM (then SIGKILL 10 s later).
  std::chrono::milliseconds stopGrace{std::chrono::seconds(30)};
  int maxDrainPolls = 10;  ///< bound for the drain loop
  bool verbose = false;    ///< fetchmail -v (log_level = debug only: the trace names recipients)
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

  /// Run the poll loop: a poll now (unless one runs or a crash back-off waits), then one
  /// every poll_interval.
  void start();
  /// End the loop. A running poll ends first (after `stopGrace`: SIGTERM, then SIGKILL);
  /// `stopped` runs once no fetchmail of ours runs.
  void stop(std::function<void()> stopped = {});
  /// Poll once now: the loop's next poll at once (after the running one), or, with the loop
  /// stopped, a single poll.
  void pollNow();
  /// Stop the loop, then poll until fetchmail reports no mail (exit 1) or the bound is
  /// reached. `done(true)` when the box was seen empty.
  void drain(std::function<void(bool drained, const std::string& detail)> done);

  /// Update the config (e.g. after a policy reload); takes effect at the next start.
  void reconfigure(SupervisorConfig config);

  /// Current status for the report.
  const status::FetchmailInfo& info() const { return info_; }

 private:
  /// What one poll came to, as recorded in info().
  struct PollResult {
    int code = 0;          ///< fetchmail's exit code; 10 when the MTA refused what was fetched; -1 killed
    bool crashed = false;  ///< it could not start, or died of a signal we did not send
  };
  /// Run one poll (the slot must be free); `then` gets its result once recorded. A poll
  /// that cannot start calls `then` before launchPoll returns.
  void launchPoll(std::function<void(const PollResult&)> then);
  PollResult recordPoll(const ChildExit& e);
  PollResult recordLaunchFailure(const std::string& error);
  bool pollRunning() const { return poll_ && poll_->running(); }
  /// Start whatever waits for the poll slot: a drain step first, then the loop's poll.
  void pump();
  void afterLoopPoll(const PollResult& r);
  void scheduleLoop(std::chrono::milliseconds delay);
  void handleLine(const std::string& line, bool isStderr);
  void drainStep(int attempt, std::function<void(bool, const std::string&)> done);
  void changed();

  boost::asio::io_context& io_;
  ProcessLauncher& launcher_;
  SupervisorConfig config_;
  SupervisorEvents events_;
  std::unique_ptr<Child> poll_;  ///< the one fetchmail of ours (they share a lock)
  Timer loopTimer_;              ///< the loop's next poll (poll_interval, or a crash back-off)
  Timer killTimer_;
  std::chrono::milliseconds backoff_;
  bool wanted_ = false;
  bool loopArmed_ = false;  ///< loopTimer_ will make the loop's poll due
  bool loopDue_ = false;    ///< the loop's poll waits for the slot
  bool signalled_ = false;  ///< we signalled the running poll (its death is no crash)
  std::function<void()> pendingDrainStep_;  ///< a drain step waiting for the slot
  int cycleRefused_ = 0;       ///< messages the local MTA refused in the current poll
  std::string cycleRefusal_;   ///< the MTA's last refusal reply in the current poll
  /// The poll's refusals as a status error ("" when none), and reset them for the next poll.
  std::string takeRefusals();
  /// The status error for the refusals seen in this poll.
  std::string refusalText() const;
  std::vector<std::function<void()>> stopped_;
  status::FetchmailInfo info_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// Build the argv/env for one fetchmail poll (`-d 0`: the rc's `set daemon` is ignored), or
/// for a check (`-c`). Pure.
ProcessSpec fetchmailSpec(const SupervisorConfig& c, bool checkOnly = false);

}  // namespace dynmx::fetchmail
