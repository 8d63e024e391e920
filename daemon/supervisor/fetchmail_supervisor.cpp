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
  LineEvent ev;
  std::smatch m;
  if (line.rfind("fetchmail: No mail for ", 0) == 0) {
    ev.kind = LineEvent::Kind::NoMail;
  } else if (std::regex_search(line, m, kMessages)) {
    ev.kind = LineEvent::Kind::MessagesFound;
    ev.messages = std::stoi(m[1].str());
  } else if (std::regex_search(line, m, kSmtpError)) {
    ev.kind = LineEvent::Kind::DeliveryRefused;
    ev.text = m[1].str();
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

ProcessSpec fetchmailSpec(const SupervisorConfig& c, bool checkOnly) {
  ProcessSpec spec;
  spec.argv = {c.binary, "-f", c.rcPath, "-N", "--nosyslog", "-d", "0"};
  if (c.verbose) spec.argv.push_back("-v");
  if (checkOnly) spec.argv.push_back("-c");
  spec.timeout = c.pollTimeout;
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
      loopTimer_(io),
      killTimer_(io),
      backoff_(config_.restartBackoffMin) {}

Supervisor::~Supervisor() {
  *alive_ = false;
  if (pollRunning()) poll_->signal(SIGTERM);
}

void Supervisor::changed() {
  if (events_.onChange) events_.onChange();
}

void Supervisor::reconfigure(SupervisorConfig config) { config_ = std::move(config); }

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

void Supervisor::handleLine(const std::string& line, bool isStderr) {
  if (events_.onOutput) events_.onOutput(line, isStderr);
  LineEvent ev = parseOutputLine(line);
  switch (ev.kind) {
    case LineEvent::Kind::NoMail: info_.messagesWaiting = 0; break;
    case LineEvent::Kind::MessagesFound: info_.messagesWaiting = ev.messages; break;
    case LineEvent::Kind::DeliveryRefused:
      if (!ev.text.empty()) cycleRefusal_ = redactAddresses(ev.text);
      ++cycleRefused_;
      break;
    case LineEvent::Kind::None: break;
  }
}

// --- one poll ------------------------------------------------------------------------

void Supervisor::launchPoll(std::function<void(const PollResult&)> then) {
  cycleRefused_ = 0;
  cycleRefusal_.clear();
  signalled_ = false;
  std::string error;
  std::weak_ptr<bool> alive = alive_;
  poll_ = launcher_.launch(
      fetchmailSpec(config_),
      {.onStdout = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, false); },
       .onStderr = [this, alive](const std::string& l) { if (!alive.expired()) handleLine(l, true); },
       .onExit =
           [this, alive, then](const ChildExit& e) {
             if (alive.expired()) return;
             killTimer_.cancel();
             const PollResult r = recordPoll(e);
             then(r);
             if (!pollRunning()) {
               for (auto& f : std::exchange(stopped_, {})) boost::asio::post(io_, std::move(f));
             }
             pump();
           }},
      error);
  if (!poll_) {
    then(recordLaunchFailure(error));
    return;
  }
  info_.pid = poll_->pid();
  changed();
}

Supervisor::PollResult Supervisor::recordPoll(const ChildExit& e) {
  PollResult r;
  info_.pid = 0;
  info_.lastPoll = wallNow();
  ++info_.polls;
  r.code = e.signal == 0 ? e.exitCode : -1;
  const std::string refused = takeRefusals();
  // Fetched but refused by the local mail server: no progress, whatever fetchmail says.
  if (!refused.empty() && (r.code == 0 || r.code == 13)) r.code = 10;
  if (e.signal != 0 && !e.timedOut && !signalled_) {
    r.crashed = true;
    info_.lastExit.reset();
    info_.lastError = "fetchmail was killed by signal " + std::to_string(e.signal);
  } else {
    info_.lastExit = r.code;
    if (r.code == 0 || r.code == 1 || r.code == 13) {
      info_.lastError.clear();  // this poll worked: whatever failed before is over
      if (r.code == 1) info_.messagesWaiting = 0;
    } else {
      info_.lastError = e.timedOut        ? "poll timed out after " + formatDuration(std::chrono::duration_cast<Duration>(config_.pollTimeout))
                        : signalled_      ? std::string("poll stopped by dynmx")
                        : !refused.empty() ? refused
                                           : interpretExit(r.code).name + ": " + interpretExit(r.code).text;
    }
  }
  if (r.crashed || (r.code != 0 && r.code != 1 && r.code != 13)) ++info_.pollErrors;
  changed();
  return r;
}

Supervisor::PollResult Supervisor::recordLaunchFailure(const std::string& error) {
  info_.pid = 0;
  info_.lastExit = 127;
  info_.lastError = "cannot start fetchmail: " + error;
  ++info_.pollErrors;
  changed();
  return {127, true};
}

// --- the loop ------------------------------------------------------------------------

void Supervisor::start() {
  wanted_ = true;
  info_.wanted = true;
  if (loopArmed_ || loopDue_) return;  // the loop runs (or a crash back-off waits: not cut short)
  loopDue_ = true;
  pump();
}

void Supervisor::pump() {
  if (pollRunning()) return;
  if (pendingDrainStep_) {
    std::exchange(pendingDrainStep_, {})();
    return;
  }
  if (!wanted_ || !loopDue_) return;
  loopDue_ = false;
  launchPoll([this](const PollResult& r) { afterLoopPoll(r); });
  if (pollRunning() && !info_.running) {  // it runs (again): a crash back-off is over
    info_.running = true;
    changed();
  }
}

void Supervisor::afterLoopPoll(const PollResult& r) {
  if (!wanted_) {
    info_.running = false;
    changed();
    return;
  }
  if (r.crashed) {
    // It could not run at all: retry with exponential back-off, and say it is not running.
    ++info_.restarts;
    info_.running = false;
    changed();
    const auto wait = backoff_;
    backoff_ = std::min(backoff_ * 2, config_.restartBackoffMax);
    scheduleLoop(wait);
    return;
  }
  backoff_ = config_.restartBackoffMin;  // a poll that ran proves fetchmail works
  // recordPoll() already told about the poll; tell again only if this changes something.
  if (!info_.running) {
    info_.running = true;
    changed();
  }
  scheduleLoop(config_.pollInterval);
}

void Supervisor::scheduleLoop(std::chrono::milliseconds delay) {
  loopArmed_ = true;
  loopTimer_.expires_after(delay);
  std::weak_ptr<bool> alive = alive_;
  loopTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    loopArmed_ = false;
    if (!wanted_) return;
    loopDue_ = true;
    pump();
  });
}

void Supervisor::stop(std::function<void()> stopped) {
  wanted_ = false;
  info_.wanted = false;
  info_.running = false;
  loopTimer_.cancel();
  loopArmed_ = false;
  loopDue_ = false;
  if (!pollRunning()) {
    changed();
    if (stopped) boost::asio::post(io_, std::move(stopped));
    return;
  }
  if (stopped) stopped_.push_back(std::move(stopped));
  changed();
  // A poll in progress ends by itself (bounded by pollTimeout); a stop waits stopGrace for it.
  killTimer_.expires_after(config_.stopGrace);
  std::weak_ptr<bool> alive = alive_;
  killTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !pollRunning()) return;
    signalled_ = true;
    poll_->signal(SIGTERM);
    killTimer_.expires_after(std::chrono::seconds(10));
    killTimer_.async_wait([this, alive](const boost::system::error_code& ec2) {
      if (ec2 || alive.expired()) return;
      if (pollRunning()) poll_->signal(SIGKILL);
    });
  });
}

void Supervisor::pollNow() {
  if (wanted_) {
    loopTimer_.cancel();
    loopArmed_ = false;
    loopDue_ = true;  // after the running poll, if there is one
    pump();
    return;
  }
  if (pollRunning() || pendingDrainStep_) return;
  drainStep(config_.maxDrainPolls, [](bool, const std::string&) {});
}

// --- the drain -----------------------------------------------------------------------

void Supervisor::drain(std::function<void(bool, const std::string&)> done) {
  std::weak_ptr<bool> alive = alive_;
  stop([this, alive, done = std::move(done)]() mutable {
    if (alive.expired()) return;
    drainStep(1, std::move(done));
  });
}

void Supervisor::drainStep(int attempt, std::function<void(bool, const std::string&)> done) {
  if (pollRunning()) {  // the loop (started again meanwhile) holds the slot: after its poll
    pendingDrainStep_ = [this, attempt, done] { drainStep(attempt, done); };
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  launchPoll([this, alive, attempt, done](const PollResult& r) {
    if (r.code == 127 && r.crashed) {  // no fetchmail to run: polling again cannot help
      boost::asio::post(io_, [done, why = info_.lastError] { done(false, why); });
      return;
    }
    if (r.code == 1) {  // NOMAIL: the box is empty
      boost::asio::post(io_, [done] { done(true, "the ISP mailbox is empty"); });
      return;
    }
    if (attempt >= config_.maxDrainPolls) {
      std::string why = "the ISP mailbox was not seen empty after " + std::to_string(attempt) + " polls (last: " +
                        (r.code < 0 ? "killed" : interpretExit(r.code).name) + ")";
      boost::asio::post(io_, [done, why] { done(false, why); });
      return;
    }
    // Poll again at once after progress; after an error wait a little.
    auto delay = r.code == 0 || r.code == 13 ? std::chrono::milliseconds(0) : backoff_;
    auto t = std::make_shared<Timer>(io_, delay);
    t->async_wait([this, alive, attempt, done, t](const boost::system::error_code& ec) {
      if (ec || alive.expired()) return;
      drainStep(attempt + 1, done);
    });
  });
}

}  // namespace dynmx::fetchmail
