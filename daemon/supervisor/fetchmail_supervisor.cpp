#include "dynmx/fetchmail_supervisor.hpp"

#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>

namespace dynmx::fetchmail {

LineEvent parseOutputLine(const std::string& line) {
  // fetchmail prints the count without its "fetchmail: " prefix (6.4, with and without -v).
  static const std::regex kMessages(R"(^(?:fetchmail: )?(\d+) messages? (\(\d+ seen\) )?for .* at )");
  static const std::regex kSmtpError(R"(^fetchmail: (?:SMTP|LMTP) error: (.*)$)");
  static const std::regex kStatus(R"(Query status=(\d+))");
  LineEvent ev;
  std::smatch m;
  if (line.rfind("fetchmail: sleeping at ", 0) == 0) {
    ev.kind = LineEvent::Kind::PollDone;
  } else if (line.rfind("fetchmail: No mail for ", 0) == 0) {
    ev.kind = LineEvent::Kind::NoMail;
  } else if (std::regex_search(line, m, kMessages)) {
    ev.kind = LineEvent::Kind::MessagesFound;
    ev.messages = std::stoi(m[1].str());
  } else if (std::regex_search(line, m, kSmtpError)) {
    ev.kind = LineEvent::Kind::DeliveryRefused;
    ev.text = m[1].str();
  } else if (std::regex_search(line, m, kStatus)) {
    ev.kind = LineEvent::Kind::QueryStatus;
    ev.status = std::stoi(m[1].str());
  } else if (line.find("Authorization failure") != std::string::npos ||
             line.find("authentication failed") != std::string::npos) {
    ev.kind = LineEvent::Kind::AuthFailure;
  }
  return ev;
}

std::string redactAddresses(std::string_view text) {
  static const std::regex kAddress(R"([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*))");
  return std::regex_replace(std::string(text), kAddress, "*@$1");
}

RelayedLine relayLine(const std::string& line, bool isStderr) {
  // Routine progress and the protocol trace of -v: the supervisor reads them, the admin
  // needs them only when debugging. Several of them carry recipient addresses.
  static const std::regex kRoutine(
      R"(^(fetchmail: (POP3|IMAP|SMTP|LMTP|ESMTP)[<>])|^Trying to connect|^reading message |^ (not )?flushed|)"
      R"(^fetchmail: (sleeping at|awakened|starting fetchmail|normal termination|Query status=|No mail for|)"
      R"(WARNING: Running as root|connection to |Connection errors for this poll|terminated with signal)|)"
      R"(^fetchmail: \d+\.\d+[.\d]* querying |^name \d+: connection to |^fetchmail: skipping message |^[#*. ]+$)");
  if (std::regex_search(line, kRoutine)) return {RelayedLine::Level::Debug, line};
  return {isStderr ? RelayedLine::Level::Warn : RelayedLine::Level::Info, redactAddresses(line)};
}

namespace {

/// Stop one process: SIGTERM, wait up to `grace` on its pidfd (it is not our child), SIGKILL.
bool terminate(pid_t pid, std::chrono::milliseconds grace) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (::kill(pid, SIGTERM) != 0) {
    if (pidfd >= 0) ::close(pidfd);
    return false;
  }
  bool gone = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    gone = ::poll(&p, 1, static_cast<int>(grace.count())) == 1;
    ::close(pidfd);
  }
  if (!gone) ::kill(pid, SIGKILL);
  return true;
}

}  // namespace

std::string stopLeftoverFetchmail(const SupervisorConfig& c, std::chrono::milliseconds grace) {
  // By /proc, not by the pidfile: that belongs to the fetchmail user and may be unreadable
  // for us. Only a fetchmail of ours: its name, its user, and our rc on its command line.
  const uid_t owner = c.uid.value_or(::geteuid());
  const std::string rcArg = std::string(1, '\0') + c.rcPath + std::string(1, '\0');
  std::string done;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return done;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 1 || *end != '\0' || pid == ::getpid()) continue;
    const std::string proc = std::string("/proc/") + e->d_name;
    std::ifstream commFile(proc + "/comm");
    std::string comm;
    std::getline(commFile, comm);
    struct stat st {};
    if (comm != "fetchmail" || ::stat(proc.c_str(), &st) != 0 || st.st_uid != owner) continue;
    std::ifstream cmdlineFile(proc + "/cmdline", std::ios::binary);
    const std::string cmdline = std::string(1, '\0') + std::string(std::istreambuf_iterator<char>(cmdlineFile), {});
    if (cmdline.find(rcArg) == std::string::npos) continue;
    if (terminate(static_cast<pid_t>(pid), grace))
      done += (done.empty() ? "stopped fetchmail left running by an earlier dynmx: pid " : ", ") + std::to_string(pid);
  }
  ::closedir(d);
  return done;
}

ProcessSpec fetchmailSpec(const SupervisorConfig& c, bool daemonMode, bool checkOnly) {
  ProcessSpec spec;
  spec.argv = {c.binary, "-f", c.rcPath, "-N", "-v", "--nosyslog"};
  if (!daemonMode) {
    spec.argv.insert(spec.argv.end(), {"-d", "0"});
    spec.timeout = c.pollTimeout;
  } else {
    spec.timeout = std::chrono::milliseconds(0);  // supervised, no deadline
  }
  if (checkOnly) spec.argv.push_back("-c");
  spec.env = {{"FETCHMAILHOME", c.home}, {"HOME", c.home}};
  if (!c.userName.empty()) spec.env["FETCHMAILUSER"] = c.userName;
  spec.uid = c.uid;
  spec.gid = c.gid;
  spec.workingDirectory = c.home;
  return spec;
}

Supervisor::Supervisor(boost::asio::io_context& io, ProcessLauncher& launcher, SupervisorConfig config,
                       SupervisorEvents events)
    : io_(io),
      launcher_(launcher),
      config_(std::move(config)),
      events_(std::move(events)),
      restartTimer_(io),
      killTimer_(io),
      backoff_(config_.restartBackoffMin) {}

Supervisor::~Supervisor() {
  *alive_ = false;
  if (daemon_ && daemon_->running()) daemon_->signal(SIGTERM);
}

void Supervisor::changed() {
  if (events_.onChange) events_.onChange();
}

void Supervisor::reconfigure(SupervisorConfig config) { config_ = std::move(config); }

void Supervisor::start() {
  wanted_ = true;
  info_.wanted = true;
  if (daemon_ && daemon_->running()) return;
  if (restartPending_) return;  // a crash back-off is running: do not cut it short
  launchDaemon();
}

void Supervisor::launchDaemon() {
  if (oneShot_ && oneShot_->running()) return;  // a drain/poll owns the lock; start after it
  std::string error;
  std::weak_ptr<bool> alive = alive_;
  daemon_ = launcher_.launch(
      fetchmailSpec(config_, true, false),
      {.onStdout = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, false, true); },
       .onStderr = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, true, true); },
       .onExit = [this, alive](const ChildExit& e) { if (!alive.expired()) onDaemonExit(e); }},
      error);
  if (!daemon_) {
    onDaemonExit(ChildExit{127, 0, false}, "cannot start fetchmail: " + error);
    return;
  }
  info_.running = true;
  info_.pid = daemon_->pid();
  cycleFailed_ = false;
  cycleFetched_ = false;
  cycleRefused_ = 0;
  changed();
}

std::string Supervisor::refusalText() const {
  return "SMTP: the local mail server refused the fetched mail" +
         (cycleRefusal_.empty() ? std::string() : " (" + cycleRefusal_ + ")") + "; it stays at the ISP";
}

std::string Supervisor::takeRefusals() {
  if (cycleRefused_ == 0) return {};
  std::string out = refusalText();
  cycleRefused_ = 0;
  cycleRefusal_.clear();
  return out;
}

void Supervisor::handleLine(const std::string& line, bool isStderr, bool fromDaemon) {
  if (events_.onOutput) events_.onOutput(line, isStderr);
  LineEvent ev = parseOutputLine(line);
  switch (ev.kind) {
    case LineEvent::Kind::PollDone:
      info_.lastPoll = wallNow();
      ++info_.polls;
      backoff_ = config_.restartBackoffMin;  // a completed poll proves it works
      cycleRefused_ = 0;
      cycleRefusal_.clear();
      if (!cycleFailed_) {
        // A poll without an error: whatever failed before (a wrong password, the ISP
        // down, a crash) is over, and status must stop naming it.
        info_.lastError.clear();
        info_.lastExit = cycleFetched_ ? 0 : 1;
      }
      cycleFailed_ = false;
      cycleFetched_ = false;
      changed();
      break;
    case LineEvent::Kind::NoMail:
      info_.messagesWaiting = 0;
      break;
    case LineEvent::Kind::MessagesFound:
      info_.messagesWaiting = ev.messages;
      if (ev.messages > 0) cycleFetched_ = true;
      break;
    case LineEvent::Kind::QueryStatus:
      if (ev.status != 0 && ev.status != 1) {
        cycleFailed_ = true;
        ++info_.pollErrors;
        info_.lastExit = ev.status;
        ExitMeaning m = interpretExit(ev.status);
        info_.lastError = m.name + ": " + m.text;
        changed();
      }
      break;
    case LineEvent::Kind::DeliveryRefused:
      if (!ev.text.empty()) cycleRefusal_ = redactAddresses(ev.text);
      if (++cycleRefused_ == 1 && fromDaemon) {
        // Recorded at once: stderr and stdout are read apart, so a refusal may arrive after
        // the poll's end marker. fetchmail calls such a poll a success; nothing was delivered.
        cycleFailed_ = true;
        ++info_.pollErrors;
      }
      if (fromDaemon) {
        info_.lastExit = 10;
        info_.lastError = refusalText();
        changed();
      }
      break;
    case LineEvent::Kind::AuthFailure:
      cycleFailed_ = true;
      info_.lastError = "AUTHFAIL: " + interpretExit(3).text;
      info_.lastExit = 3;
      changed();
      break;
    default: break;
  }
}

void Supervisor::onDaemonExit(const ChildExit& e, const std::string& detail) {
  info_.running = false;
  info_.pid = 0;
  killTimer_.cancel();
  if (e.signal == 0) {
    info_.lastExit = e.exitCode;
    ExitMeaning m = interpretExit(e.exitCode);
    if (e.exitCode != 0 && e.exitCode != 1) info_.lastError = m.name + ": " + m.text;
    if (!detail.empty()) info_.lastError = detail;
  } else if (wanted_) {
    info_.lastError = "fetchmail was killed by signal " + std::to_string(e.signal);
  }
  if (!wanted_) {
    changed();
    if (stopped_) std::exchange(stopped_, {})();
    return;
  }
  // It should be running: restart with exponential back-off.
  ++info_.restarts;
  changed();
  restartTimer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, config_.restartBackoffMax);
  restartPending_ = true;
  std::weak_ptr<bool> alive = alive_;
  restartTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired()) return;
    restartPending_ = false;
    if (ec || !wanted_) return;
    launchDaemon();
  });
}

void Supervisor::stop(std::function<void()> stopped) {
  wanted_ = false;
  info_.wanted = false;
  restartTimer_.cancel();
  restartPending_ = false;
  if (!daemon_ || !daemon_->running()) {
    info_.running = false;
    changed();
    if (stopped) boost::asio::post(io_, std::move(stopped));
    return;
  }
  stopped_ = std::move(stopped);
  daemon_->signal(SIGTERM);
  killTimer_.expires_after(std::chrono::seconds(10));
  std::weak_ptr<bool> alive = alive_;
  killTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    if (daemon_ && daemon_->running()) daemon_->signal(SIGKILL);
  });
}

void Supervisor::pollNow() {
  if (daemon_ && daemon_->running()) {
    daemon_->signal(SIGUSR1);  // wakes a sleeping daemon-mode fetchmail
    return;
  }
  if (oneShot_ && oneShot_->running()) return;
  drainStep(config_.maxDrainPolls, [](bool, const std::string&) {});
}

void Supervisor::drain(std::function<void(bool, const std::string&)> done) {
  std::weak_ptr<bool> alive = alive_;
  stop([this, alive, done = std::move(done)]() mutable {
    if (alive.expired()) return;
    drainStep(1, std::move(done));
  });
}

void Supervisor::drainStep(int attempt, std::function<void(bool, const std::string&)> done) {
  cycleRefused_ = 0;
  cycleRefusal_.clear();
  std::string error;
  std::weak_ptr<bool> alive = alive_;
  oneShot_ = launcher_.launch(
      fetchmailSpec(config_, false, false),
      {.onStdout = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, false, false); },
       .onStderr = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, true, false); },
       .onExit =
           [this, alive, attempt, done](const ChildExit& e) {
             if (alive.expired()) return;
             info_.lastPoll = wallNow();
             ++info_.polls;
             int code = e.signal == 0 ? e.exitCode : -1;
             const std::string refused = takeRefusals();
             // Fetched but refused by the local mail server: no progress, whatever fetchmail says.
             if (!refused.empty() && (code == 0 || code == 13)) code = 10;
             info_.lastExit = code;
             if (code == 0 || code == 1 || code == 13) info_.lastError.clear();  // this poll worked
             if (code == 1) {  // NOMAIL: the box is empty
               info_.messagesWaiting = 0;
               changed();
               boost::asio::post(io_, [done] { done(true, "the ISP mailbox is empty"); });
               return;
             }
             if (code != 0 && code != 13) {
               ++info_.pollErrors;
               info_.lastError = e.timedOut          ? std::string("poll timed out")
                                 : !refused.empty() ? refused
                                                    : interpretExit(code).name + ": " + interpretExit(code).text;
             }
             changed();
             if (attempt >= config_.maxDrainPolls) {
               std::string why = "the ISP mailbox was not seen empty after " + std::to_string(attempt) +
                                 " polls (last: " + (code < 0 ? "killed" : interpretExit(code).name) + ")";
               boost::asio::post(io_, [done, why] { done(false, why); });
               return;
             }
             // Poll again at once after progress; after an error wait a little.
             auto delay = code == 0 || code == 13 ? std::chrono::milliseconds(0) : backoff_;
             auto t = std::make_shared<Timer>(io_, delay);
             t->async_wait([this, alive, attempt, done, t](const boost::system::error_code& ec) {
               if (ec || alive.expired()) return;
               drainStep(attempt + 1, done);
             });
           }},
      error);
  if (!oneShot_) {
    info_.lastError = error;
    info_.lastExit = 127;
    changed();
    boost::asio::post(io_, [done, error] { done(false, "cannot start fetchmail: " + error); });
  }
}

}  // namespace dynmx::fetchmail
