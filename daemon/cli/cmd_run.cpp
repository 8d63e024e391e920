// `dynmx run`: the coordinator daemon. main() of the daemon in all but name: it owns the
// io_context, the signals and the shutdown; every component gets the io_context.
#include <systemd/sd-daemon.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <iostream>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "journal_sink.hpp"
#include "run_user.hpp"
#include "dynmx/atomic_file.hpp"
#include "dynmx/background_files.hpp"
#include "dynmx/coordinator.hpp"
#include "dynmx/daemon_adapters.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/mx_steering.hpp"
#include "dynmx/fetchmail_supervisor.hpp"
#include "dynmx/file_lock.hpp"
#include "dynmx/guard_server.hpp"
#include "dynmx/hooks.hpp"
#include "dynmx/link_monitor.hpp"
#include "dynmx/loop_guard.hpp"
#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/net/http_client.hpp"
#include "dynmx/privileges.hpp"
#include "dynmx/status/control.hpp"
#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/metrics.hpp"
#include "dynmx/status/state.hpp"
#include "dynmx/version.hpp"

namespace dynmx::cli {
namespace {

struct RunOptions {
  std::string policyFile = kDefaultPolicyFile;
  std::string log;       ///< overrides [daemon] log
  std::string logLevel;  ///< overrides [daemon] log_level
};

/// How the DDNS engine reports a failed save of its state file.

/// Whether uid/gid (without supplementary groups) may create and remove entries in `dir`.
bool dirWritableBy(const std::string& dir, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  if (st.st_uid == uid) return (st.st_mode & S_IWUSR) && (st.st_mode & S_IXUSR);
  if (st.st_gid == gid) return (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
  return (st.st_mode & S_IWOTH) && (st.st_mode & S_IXOTH);
}

void setupLogging(const std::string& target, const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (target == "syslog") {
    logger = std::make_shared<spdlog::logger>(
        "dynmx", std::make_shared<spdlog::sinks::syslog_sink_mt>("dynmx", LOG_PID, LOG_MAIL, false));
    logger->set_pattern("%v");
  } else if (target == "journald") {
    logger = std::make_shared<spdlog::logger>("dynmx", std::make_shared<JournalSink>());
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>("dynmx", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  logger->set_level(spdlog::level::from_str(level.empty() ? "info" : level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

/// Everything a running daemon is made of, in construction order.
class Daemon {
 public:
  Daemon(Policy policy, std::string policyFile)
      : policy_(std::move(policy)),
        policyFile_(std::move(policyFile)),
        signals_(io_, SIGHUP, SIGTERM, SIGINT),
        usr1_(io_, SIGUSR1),
        shutdownTimer_(io_) {}

  int run() {
    std::error_code ec;
    std::filesystem::create_directories(policy_.daemon.stateDir, ec);
    // As root, fetchmail runs as its own user and must traverse to its home and rc below
    // the state dir: search permission only, nothing listable or readable.
    ::chmod(policy_.daemon.stateDir.c_str(), canActForOtherUsers() ? 0711 : 0750);
    statePath_ = policy_.daemon.stateDir + "/state.json";
    const std::string ddnsStatePath = policy_.daemon.stateDir + "/" + ddns::kStateFileName;
    // A daemon killed while writing leaves its temp files; nothing else writes these paths yet.
    for (const auto& path : {statePath_, ddnsStatePath, policy_.fetchmail.rcPath})
      if (auto n = removeStaleTemps(path); n > 0)
        spdlog::info("removed {} stale temporary file(s) of {} left by an interrupted write", n, path);

    // One writer of ddns-state.json: the daemon holds the state lock for its whole life, so
    // a `dynmx update` never writes beside it (it asks over the control socket instead).
    const std::string lockPath = policy_.daemon.stateDir + "/" + ddns::kStateLockName;
    auto lock = FileLock::tryAcquire(lockPath);
    if (lock) {
      stateLock_.emplace(std::move(*lock));
    } else if (FileLock::heldElsewhere(lockPath)) {
      spdlog::critical("{} (is another dynmx daemon or `dynmx update` running?)", lock.error());
      return 1;
    } else {
      // Nobody holds it, but the lock file cannot be made (e.g. a read-only state dir): mail
      // safety comes first, so run; no other process can write the state there either, and
      // status reports the failed state writes.
      spdlog::warn("{}: running without the state lock", lock.error());
    }

    // Bound as root if we are root (its directory may be root's); answered once the loop runs.
    if (auto s = startControl(); !s.ok()) {
      spdlog::critical("control socket: {}", s.error());
      return 1;
    }
    if (::geteuid() == 0) {
      auto became = becomeDaemonUser(
          policy_, {statePath_, policy_.daemon.stateDir + "/" + std::string(ddns::kStateFileName)});
      if (!became.ok()) {
        spdlog::critical("{}", became.error());
        return 1;
      }
      spdlog::info("{}", *became);
    }

    auto account = coord::fetchmailAccount(policy_);
    if (!account.ok()) {
      spdlog::critical("{}", account.error());
      return 1;
    }
    account_ = *account;
    files_ = std::make_unique<BackgroundFiles>(io_);
    startGuard();

    launcher_ = makeProcessLauncher(io_);
    hookQueue_ = std::make_unique<hooks::HookQueue>(io_, *launcher_);
    http_ = net::makeCurlHttpClient(io_);
    dns_ = net::makeAresResolver(io_);
    ddns::EngineDeps engineDeps{http_.get(), dns_.get(), steadyNow, readSecretFile, net::readInterface,
                                ddns::makeRfc2136Sender(io_, policy_.ddns)};
    engineDeps.clockAnchor = ddns::readClockAnchor;
    engineDeps.stateWriter = files_.get();
    engineDeps.stateSaveChanged = [this] { publishSoon(); };
    engine_ = std::make_unique<ddns::Engine>(io_, policy_.ddns, ddnsStatePath, std::move(engineDeps));
    link_ = std::make_unique<coord::LinkMonitor>(io_, policy_.link, steadyNow);
    supervisor_ = std::make_unique<fetchmail::Supervisor>(
        io_, *launcher_, coord::supervisorConfig(policy_, account_, fetchmailVerbose()),
        fetchmail::SupervisorEvents{[this](const std::string& line, bool isStderr) { logFetchmail(line, isStderr); },
                                    [this] { publishSoon(); }});
    fetcher_ = std::make_unique<coord::SupervisorFetcher>(*supervisor_);

    coord::Deps deps;
    deps.now = steadyNow;  // windows on the monotonic timeline (time.hpp)
    deps.link = link_.get();
    deps.fetcher = fetcher_.get();
    deps.ddns = engine_.get();
    mx_ = std::make_unique<mx::Steering>(policy_.mx, mxDeps());
    deps.mx = mx_.get();
    deps.installRc = [](const Policy& p) { return coord::installRcForPolicy(p); };
    deps.installRcAsync = [this](const Policy& p, std::function<void(Status<>)> done) {
      coord::installRcForPolicyAsync(io_, *launcher_, p, std::move(done));
    };
    deps.runHooks = [this](const std::vector<Hook>& hooks, const hooks::SwitchContext& ctx,
                           std::function<void(std::vector<status::HookRecord>)> done) {
      std::vector<hooks::HookSpec> specs;
      for (const auto& h : hooks) specs.push_back({h.argv, h.timeout});
      // Hooks never run as root: as root they run as the fetchmail account.
      std::optional<uid_t> uid;
      std::optional<gid_t> gid;
      if (::geteuid() == 0) {
        uid = account_.uid;
        gid = account_.gid;
      }
      // One switch's hooks at a time, in switch order (a later switch waits for the earlier).
      hookQueue_->run(std::move(specs), ctx, uid, gid, std::move(done));
    };
    deps.persist = [this](const status::Report& r) { persist(r); };
    deps.computeHealth = [](status::Report& r) { status::computeHealth(r); };
    coordinator_ = std::make_unique<coord::Coordinator>(io_, policy_, std::move(deps));

    std::optional<status::Report> restored;
    if (std::filesystem::exists(statePath_)) {
      auto loaded = status::loadState(statePath_);
      if (loaded.ok()) {
        restored = *loaded;
      } else {
        spdlog::error("state file {} unreadable ({}); starting safe on multidrop", statePath_, loaded.error());
      }
    }

    std::string netlinkError;
    if (!link_->start([this] { onLinkChange(); }, [this] { engine_->requestPass(false); }, netlinkError))
      spdlog::warn("rtnetlink unavailable ({}); link changes are seen at the next check", netlinkError);
    if (auto stopped = fetchmail::stopLeftoverFetchmail(coord::supervisorConfig(policy_, account_, fetchmailVerbose()),
                                                        std::chrono::seconds(10));
        !stopped.empty())
      spdlog::warn("{}", stopped);
    coordinator_->start(restored);
    engine_->start([this](const ddns::PassReport& pass) { onPass(pass); });

    if (policy_.daemon.metrics) {
      metrics_ = std::make_unique<status::MetricsServer>(io_, *policy_.daemon.metrics,
                                                         [this] { return status::renderMetrics(report(), counters_); });
      if (auto s = metrics_->start(); !s.ok()) spdlog::error("metrics: {}", s.error());
    }
    waitSignals();
    spdlog::info("dynmx {} running (pid {}), policy {}", kVersion, ::getpid(), policyFile_);
    ::sd_notify(0, "READY=1");
    const bool clean = runLoopGuarded(io_, [this](const std::string& what) {
      spdlog::critical("unhandled exception on the event loop: {}; saving state and exiting", what);
      ::sd_notify(0, "STOPPING=1");
      try {
        persist(coordinator_->report());
      } catch (const std::exception& e) {
        spdlog::critical("cannot save the state after the failure: {}", e.what());
      }
    });
    flushFiles();
    if (!clean) return kExitLoopCrashed;
    spdlog::info("dynmx stopped");
    return 0;
  }

 private:
  /// The envelope guard: fetchmail delivers to its LMTP socket (docs/guard.md). A guard that
  /// cannot start leaves fetched mail at the ISP and makes the status CRITICAL.
  void startGuard() {
    if (!fetchmail::guardActive(policy_)) return;
    auto config = guard::configFromPolicy(policy_);
    auto id = guard::loadOrCreateMarkerId(policy_.daemon.stateDir + "/guard.id");
    if (id.ok()) config.markerId = *id;
    // fetchmail runs as its own user: the socket is 0660 with its group.
    if (account_.uid != ::geteuid()) config.socketGroup = account_.gid;
    guard_ = std::make_unique<guard::GuardServer>(io_, config, wallNow, files_.get());
    auto started = id.ok() ? guard_->start() : Status<>(fail("guard id: " + id.error()));
    if (!started.ok()) {
      guardError_ = started.error();
      spdlog::critical("guard: {}", started.error());
    }
  }

  /// The guard block of the status.
  void fillGuard(status::Report& r) const {
    if (!fetchmail::guardActive(policy_)) return;
    r.guard.enabled = true;
    r.guard.socket = guard::guardSocketPath(policy_);
    if (!guard_) return;
    const auto s = guard_->snapshot();
    r.guard.listening = s.listening;
    r.guard.fetched = s.last24h.fetched;
    r.guard.delivered = s.last24h.delivered;
    r.guard.postmaster = s.last24h.postmaster;
    r.guard.postmasterReasons = s.last24h.postmasterReasons;
    r.guard.duplicates = s.last24h.duplicates;
    r.guard.deferred = s.last24h.deferred;
    r.guard.discarded = s.last24h.discarded;
    r.guard.noEnvelope = s.last24h.noEnvelope;
    r.guard.summary = s.summary;
    r.guard.warning = s.warning;
    r.guard.lastError = guardError_.empty() ? s.lastError : guardError_;
  }

  status::Report report() const {
    status::Report r = coordinator_->report();
    fillGuard(r);
    r.daemon.pid = ::getpid();
    r.daemon.version = kVersion;
    r.daemon.policyFile = policyFile_;
    r.daemon.stateError = stateErrors(stateError_);
    r.daemon.restartNeeded = restartNeeded_;
    if (!r.daemon.stateError.empty() || r.guard.enabled) status::computeHealth(r);
    return r;
  }

  /// What failed to persist, for the status: the state file's own error and the DDNS state's.
  std::string stateErrors(const std::string& stateFileError) const {
    std::string out = stateFileError;
    const std::string& ddns = engine_ ? engine_->stateSaveError() : std::string();
    if (!ddns.empty()) out += (out.empty() ? "" : "; ") + ddns;
    return out;
  }

  void persist(const status::Report& fromCoordinator) {
    status::Report r = fromCoordinator;
    fillGuard(r);
    r.daemon.pid = ::getpid();
    r.daemon.version = kVersion;
    r.daemon.policyFile = policyFile_;
    countNew(r);
    // What reaches the file says nothing about this write: had it failed, nothing reaches it.
    r.daemon.stateError = stateErrors("");
    r.daemon.restartNeeded = restartNeeded_;
    status::computeHealth(r);
    std::string text = status::stateText(r);
    if (text != lastStateText_ && text != writingStateText_) {
      if (!files_) {
        stateWritten(text, writeFileAtomic(statePath_, text, stateFileOptions()));
      } else {
        // Off the loop (BackgroundFiles); the result is a fact for the next status answer.
        writingStateText_ = text;
        files_->writeAtomic(statePath_, text, stateFileOptions(),
                            [this, text](Status<> s) { stateWritten(text, s); });
      }
    }
    std::string line = "STATUS=" + r.mode.current + ": " + std::string(status::toString(r.health));
    ::sd_notify(0, line.c_str());
  }

  static AtomicWriteOptions stateFileOptions() {
    AtomicWriteOptions o;
    o.mode = 0640;
    return o;
  }

  /// A state.json write ended (in the order written).
  void stateWritten(const std::string& text, const Status<>& s) {
    if (writingStateText_ == text) writingStateText_.clear();
    if (!s.ok()) {
      if (stateError_.empty()) spdlog::error("cannot write the state file: {}", s.error());
      stateError_ = s.error();
      return;
    }
    if (!stateError_.empty()) spdlog::info("the state file {} is written again", statePath_);
    stateError_.clear();
    lastStateText_ = text;
  }

  /// Every queued file write reaches the disk before dynmx exits.
  void flushFiles() {
    if (files_) files_->flush();
  }

  /// Monotonic counters for metrics from the bounded journals.
  void countNew(const status::Report& r) {
    for (const auto& s : r.switches)
      if (s.at > lastSwitchSeen_) {
        ++counters_.switches[s.to];
        lastSwitchSeen_ = s.at;
      }
    for (const auto& h : r.hooks)
      if (h.at > lastHookSeen_) {
        if (!h.ok) ++counters_.hookFailures;
        lastHookSeen_ = h.at;
      }
  }

  void publishSoon() {
    if (coordinator_) persist(coordinator_->report());
  }

  /// fetchmail -v only when its trace can reach the log (log_level debug or trace).
  static bool fetchmailVerbose() { return spdlog::should_log(spdlog::level::debug); }

  void logFetchmail(const std::string& line, bool isStderr) {
    std::string text = line;
    // fetchmail masks PASS itself; this is a second guard against any echo of the secret.
    if (policy_.isp.password && !policy_.isp.password->empty()) {
      for (auto pos = text.find(*policy_.isp.password); pos != std::string::npos;
           pos = text.find(*policy_.isp.password, pos))
        text.replace(pos, policy_.isp.password->size(), "********");
    }
    // Routine lines and the protocol trace only at debug; addresses never above it.
    const auto relayed = fetchmail::relayLine(text, isStderr);
    // fetchmail names itself on most lines: once is enough.
    const char* prefix = relayed.text.rfind("fetchmail: ", 0) == 0 ? "" : "fetchmail: ";
    switch (relayed.level) {
      case fetchmail::RelayedLine::Level::Debug: spdlog::debug("{}{}", prefix, relayed.text); break;
      case fetchmail::RelayedLine::Level::Info: spdlog::info("{}{}", prefix, relayed.text); break;
      case fetchmail::RelayedLine::Level::Warn: spdlog::warn("{}{}", prefix, relayed.text); break;
    }
  }

  /// The MX lever's effects: c-ares, Asio timers, and the RFC 2136 updater per zone.
  mx::SteeringDeps mxDeps() {
    mx::SteeringDeps d;
    d.dns = dns_.get();
    d.now = wallNow;
    d.after = mx::asioAfter(io_);
    d.makeUpdater = [this](const MxDomain& m) { return mx::makeRfc2136Updater(io_, m); };
    d.hostMx = engine_.get();  // lever = "dyndns2": the engine sends mx=/backmx=
    // New facts: decide again, once, from the loop (never from inside the lever's callback).
    d.changed = [this] {
      if (mxEvaluatePending_) return;
      mxEvaluatePending_ = true;
      boost::asio::post(io_, [this] {
        mxEvaluatePending_ = false;
        if (coordinator_) coordinator_->evaluate();
      });
    };
    return d;
  }

  void onLinkChange() {
    auto s = link_->current();
    spdlog::info("link {} is {}", link_->interfaceName(), s.up ? "up" : "down");
    coordinator_->evaluate();
    if (s.up) engine_->requestPass(false);
  }

  void onPass(const ddns::PassReport& pass) {
    for (const auto& h : pass.hosts)
      if (h.sent) ++counters_.ddnsUpdates[{h.account, h.result}];
    for (const auto& e : pass.errors) spdlog::warn("ddns: {}", e);
    coordinator_->evaluate();
  }

  Status<> startControl() {
    status::CommandTable commands;
    commands.add("status", [this](const status::ControlRequest&) {
      status::Report r = report();
      return status::ControlReply{0, status::summaryLine(r), nlohmann::json(status::toJson(r))};
    });
    commands.add("reload", [this](const status::ControlRequest&) {
      reload();
      const auto errors = coordinator_->report().daemon.policyErrors;
      return status::ControlReply{errors.empty() ? 0 : 1,
                                  errors.empty() ? "policy reloaded" : "policy rejected; running policy kept",
                                  nlohmann::json(errors)};
    });
    commands.add("update", [this](const status::ControlRequest&) {
      engine_->requestPass(true);
      return status::ControlReply{0, "update pass requested", nlohmann::json()};
    });
    // `dynmx update` while the daemon runs: the pass runs here (one writer of the state)
    // and its report goes back in the same JSON shape `dynmx update --json` prints.
    commands.addAsync("ddns-pass", [this](const status::ControlRequest& req,
                                          std::function<void(status::ControlReply)> reply) {
      const bool force = req.arguments.value("force", false);
      std::string text = "pass run by the daemon";
      if (auto it = req.arguments.find("reset"); it != req.arguments.end() && it->is_string()) {
        const std::size_t n = engine_->resetHost(it->get<std::string>());
        spdlog::info("ddns: reset {} record(s) of {} on request", n, it->get<std::string>());
        text = "reset " + std::to_string(n) + " record(s) of " + it->get<std::string>() + "; " + text;
      }
      engine_->runPass({force, false, false}, [reply, text](ddns::PassReport r) {
        nlohmann::json args = {{"report", nlohmann::json::parse(ddns::passReportJson(r))},
                               {"table", ddns::formatPassTable(r)}};
        reply(status::ControlReply{r.ok() ? 0 : 1, text, std::move(args)});
      });
    });
    std::error_code ec;
    const auto socketDir = std::filesystem::path(policy_.daemon.controlSocket).parent_path();
    // A directory we create as root goes to the daemon user: it must remove the socket at stop.
    const bool created = std::filesystem::create_directories(socketDir, ec);
    if (::geteuid() == 0)
      if (auto user = lookupUser(policy_.daemon.user); user.ok()) {
        if (created && ::chown(socketDir.c_str(), user->uid, user->gid) != 0)
          spdlog::warn("cannot hand {} to {}: the socket may stay after a stop", socketDir.string(), user->name);
        else if (!created && !dirWritableBy(socketDir.string(), user->uid, user->gid))
          spdlog::warn("{} is not writable by user {}: the control socket will stay after a stop (give the "
                       "directory to {}, or use systemd's RuntimeDirectory=)",
                       socketDir.string(), user->name, user->name);
      }
    control_ = std::make_unique<status::ControlServer>(io_, policy_.daemon.controlSocket, std::move(commands));
    return control_->start();
  }

  void reload() {
    spdlog::debug("reloading policy from {}", policyFile_);  // the outcome is the info line
    PolicyLoad load = loadPolicy(policyFile_);
    for (const auto& d : load.diagnostics)
      if (d.severity == Severity::Warning) spdlog::warn("{}", formatDiagnostic(d));
    if (load.policy) {
      // [daemon] keys are read once, at start: say so instead of ignoring the edit.
      const DaemonSection& was = policy_.daemon;
      const DaemonSection& now = load.policy->daemon;
      std::vector<std::string> restart;
      if (now.user != was.user) restart.push_back("daemon.user");
      if (now.stateDir != was.stateDir) restart.push_back("daemon.state_dir");
      if (now.controlSocket != was.controlSocket) restart.push_back("daemon.control_socket");
      if (now.log != was.log) restart.push_back("daemon.log");
      if (now.logLevel != was.logLevel) restart.push_back("daemon.log_level");
      const auto hp = [](const std::optional<HostPort>& m) { return m ? m->host + ":" + std::to_string(m->port) : ""; };
      if (hp(now.metrics) != hp(was.metrics)) restart.push_back("daemon.metrics");
      const DaemonSection running = was;
      policy_ = *load.policy;
      policy_.daemon.user = running.user;  // the running values stay until a restart
      policy_.daemon.stateDir = running.stateDir;
      policy_.daemon.controlSocket = running.controlSocket;
      policy_.daemon.log = running.log;
      policy_.daemon.logLevel = running.logLevel;
      policy_.daemon.metrics = running.metrics;
      restartNeeded_ = restart;
      if (!restart.empty()) {
        std::string keys;
        for (const auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
        spdlog::warn("reload: {} changed; these take effect only after a restart of dynmx", keys);
      }
      supervisor_->reconfigure(coord::supervisorConfig(policy_, account_, fetchmailVerbose()));
      link_->reconfigure(policy_.link);
      engine_->reconfigure(policy_.ddns);
      mx_->reconfigure(policy_.mx);
    }
    coordinator_->reload(load);
  }

  void waitSignals() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        ::sd_notify(0, "RELOADING=1");
        reload();
        ::sd_notify(0, "READY=1");
        waitSignals();
        return;
      }
      shutdown(sig);
    });
    waitUsr1();
  }

  /// SIGUSR1: a forced pass, re-armed every time. Signals that arrive while a pass waits in
  /// the queue join that pass (docs/ddns-engine.md): N signals, each after the previous
  /// pass, give N passes.
  void waitUsr1() {
    usr1_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::info("SIGUSR1: forced update pass");
      engine_->requestPass(true);
      waitUsr1();
    });
  }

  void shutdown(int sig) {
    spdlog::info("signal {}: shutting down", sig);
    ::sd_notify(0, "STOPPING=1");
    if (policy_.daemon.offlineOnShutdown) engine_->setIntent(ddns::AddressIntent::Withdraw);
    // Bounded: whatever is still in flight after this is abandoned.
    shutdownTimer_.expires_after(std::chrono::seconds(policy_.daemon.offlineOnShutdown ? 10 : 0));
    shutdownTimer_.async_wait([this](const boost::system::error_code&) {
      engine_->stop();
      if (control_) control_->stop();
      if (metrics_) metrics_->stop();
      if (guard_) guard_->stop();
      signals_.cancel();
      usr1_.cancel();
      supervisor_->stop([this] {
        // The last word in the state file: stopped cleanly, and when (a file without it
        // was left by a daemon that died).
        status::Report last = coordinator_->report();
        last.daemon.running = false;
        last.daemon.stoppedAt = wallNow();
        persist(last);
        io_.stop();
      });
    });
  }

  boost::asio::io_context io_;
  /// The fsyncs of state.json, the DDNS state and the guard journal, off the loop. Created
  /// after the privilege drop (capabilities are per thread).
  std::unique_ptr<BackgroundFiles> files_;
  Policy policy_;
  std::string policyFile_;
  std::string statePath_;
  std::optional<FileLock> stateLock_;  ///< held for the daemon's life: one writer of the DDNS state
  std::string lastStateText_;  ///< the state file as we last wrote it
  std::string writingStateText_;  ///< the newest state handed to files_, not yet written
  coord::Account account_;
  boost::asio::signal_set signals_;
  boost::asio::signal_set usr1_;
  boost::asio::steady_timer shutdownTimer_;
  std::unique_ptr<ProcessLauncher> launcher_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<net::DnsResolver> dns_;
  std::unique_ptr<ddns::Engine> engine_;
  std::unique_ptr<coord::LinkMonitor> link_;
  std::unique_ptr<fetchmail::Supervisor> supervisor_;
  std::unique_ptr<coord::SupervisorFetcher> fetcher_;
  std::unique_ptr<mx::Steering> mx_;
  bool mxEvaluatePending_ = false;
  std::unique_ptr<coord::Coordinator> coordinator_;
  std::unique_ptr<status::ControlServer> control_;
  std::unique_ptr<status::MetricsServer> metrics_;
  std::unique_ptr<guard::GuardServer> guard_;
  std::string guardError_;  ///< the guard could not start: why
  status::Counters counters_;
  TimePoint lastSwitchSeen_{};
  TimePoint lastHookSeen_{};
  std::string stateError_;      ///< the latest state.json write failed: why
  std::vector<std::string> restartNeeded_;  ///< [daemon] keys a reload changed (applied at restart)
  std::unique_ptr<hooks::HookQueue> hookQueue_;
};

int runDaemon(const RunOptions& o) {
  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) {
    std::cerr << "dynmx run: " << o.policyFile << " has errors; not starting\n";
    return 1;
  }
  setupLogging(o.log.empty() ? load.policy->daemon.log : o.log,
               o.logLevel.empty() ? load.policy->daemon.logLevel : o.logLevel);
  ::signal(SIGPIPE, SIG_IGN);
  Daemon daemon(std::move(*load.policy), o.policyFile);
  return daemon.run();
}

/// `dynmx guard`: only the envelope guard, in the foreground, for an admin who runs
/// fetchmail by hand, and for the guard's tests and benchmark.
int runGuardOnly(const RunOptions& o, const std::string& socketOverride) {
  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) {
    std::cerr << "dynmx guard: " << o.policyFile << " has errors; not starting\n";
    return 1;
  }
  setupLogging(o.log.empty() ? load.policy->daemon.log : o.log,
               o.logLevel.empty() ? load.policy->daemon.logLevel : o.logLevel);
  ::signal(SIGPIPE, SIG_IGN);
  Policy& policy = *load.policy;
  if (policy.delivery.method == DeliveryMethod::Mda) {
    spdlog::critical("the guard forwards over SMTP or LMTP: [delivery] method = \"mda\" cannot be guarded");
    return 1;
  }
  if (!socketOverride.empty()) policy.guard.socket = socketOverride;
  if (::geteuid() == 0) spdlog::warn("dynmx guard runs as root; `dynmx run` drops to [daemon] user instead");
  std::error_code ec;
  std::filesystem::create_directories(policy.daemon.stateDir, ec);
  auto config = guard::configFromPolicy(policy);
  auto id = guard::loadOrCreateMarkerId(policy.daemon.stateDir + "/guard.id");
  if (!id.ok()) {
    spdlog::critical("guard id: {}", id.error());
    return 1;
  }
  config.markerId = *id;
  boost::asio::io_context io;
  // The journal's fdatasync on a worker thread, as under `dynmx run`: a slow disk holds up
  // only the answer that waits for it (journal_sync = "message"), never the listener.
  BackgroundFiles files(io);
  guard::GuardServer server(io, config, wallNow, &files);
  if (auto s = server.start(); !s.ok()) {
    spdlog::critical("guard: {}", s.error());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  ::sd_notify(0, "READY=1");
  io.run();
  return 0;
}

}  // namespace

void registerRun(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run", "Run the coordinator daemon (foreground; systemd Type=notify)");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_option("--log", opts->log, "log target (overrides [daemon] log)")
      ->check(CLI::IsMember({"stderr", "syslog", "journald"}));
  sub->add_option("--log-level", opts->logLevel, "trace, debug, info, warn, error");
  sub->callback([opts, &exit] { exit.value = runDaemon(*opts); });

  auto gopts = std::make_shared<RunOptions>();
  auto socket = std::make_shared<std::string>();
  auto* g = app.add_subcommand("guard", "Run only the envelope guard (foreground): fetchmail's LMTP target");
  g->add_option("-c,--config", gopts->policyFile, "policy file")->required();
  g->add_option("--socket", *socket, "LMTP socket path (overrides [guard] socket)");
  g->add_option("--log", gopts->log, "log target (overrides [daemon] log)")
      ->check(CLI::IsMember({"stderr", "syslog", "journald"}));
  g->add_option("--log-level", gopts->logLevel, "trace, debug, info, warn, error");
  g->callback([gopts, socket, &exit] { exit.value = runGuardOnly(*gopts, *socket); });
}

}  // namespace dynmx::cli
