// `dynmx update`: one detect → update → verify pass. One process writes ddns-state.json: a
// running daemon is asked over its control socket to run the pass (and its report is
// printed); without a daemon, this process takes the state lock and runs the pass itself,
// with the same rules (back-off, bans, never re-sending an unchanged address).
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/file_lock.hpp"
#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/net/http_client.hpp"
#include "dynmx/net/interfaces.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/privileges.hpp"
#include "dynmx/status/control.hpp"

namespace dynmx::cli {
namespace {

/// Long enough for a pass against slow providers (request timeouts, verification).
constexpr std::chrono::minutes kDaemonPassTimeout{10};

struct UpdateOptions {
  std::string policyFile = kDefaultPolicyFile;
  bool force = false;
  bool json = false;
  std::string reset;  ///< host whose fatal ban is lifted before the pass
};

int printReport(const nlohmann::json& report, const std::string& table, bool json) {
  if (json) {
    std::cout << report.dump(2) << '\n';
  } else {
    std::cout << table;
  }
  return report.value("ok", false) ? 0 : 1;
}

/// The daemon runs the pass. nullopt: no daemon answers on the socket (run locally).
std::optional<int> passViaDaemon(const Policy& policy, const UpdateOptions& o) {
  status::ControlRequest req;
  req.command = "ddns-pass";
  req.arguments = {{"force", o.force}};
  if (!o.reset.empty()) req.arguments["reset"] = o.reset;
  const std::string lockPath = policy.daemon.stateDir + "/" + ddns::kStateLockName;
  auto reply = status::controlQuery(
      policy.daemon.controlSocket, req,
      std::chrono::duration_cast<std::chrono::milliseconds>(kDaemonPassTimeout));
  if (!reply) {
    // No daemon, unless one holds the state lock: then its socket is broken, and writing the
    // state beside it would lose one side's back-off.
    if (!FileLock::heldElsewhere(lockPath)) return std::nullopt;
    std::cerr << "dynmx update: a daemon holds " << lockPath << " but its control socket "
              << "did not answer (" << reply.error() << "); not writing the DDNS state beside it\n";
    return 1;
  }
  if (reply->arguments.is_object() && reply->arguments.contains("report") &&
      reply->arguments["report"].is_object()) {
    if (!reply->text.empty() && !o.json) std::cerr << "dynmx update: " << reply->text << '\n';
    return printReport(reply->arguments["report"], reply->arguments.value("table", std::string()),
                       o.json);
  }
  std::cerr << "dynmx update: the daemon answered: " << reply->text << '\n';
  return 1;
}

int runUpdate(const UpdateOptions& o) {
  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics)
    if (d.severity == Severity::Error) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) return 2;
  const Policy& policy = *load.policy;
  if (!policy.ddns.enabled || policy.ddns.accounts.empty()) {
    std::cerr << "dynmx update: no DDNS accounts configured in " << o.policyFile << '\n';
    return 2;
  }
  if (auto viaDaemon = passViaDaemon(policy, o)) return *viaDaemon;

  std::error_code ec;
  std::filesystem::create_directories(policy.daemon.stateDir, ec);
  auto lock = FileLock::tryAcquire(policy.daemon.stateDir + "/" + ddns::kStateLockName);
  if (!lock) {
    std::cerr << "dynmx update: " << lock.error()
              << " (another `dynmx update` or a daemon starting); try again\n";
    return 1;
  }

  boost::asio::io_context io;
  auto http = net::makeCurlHttpClient(io);
  auto dns = net::makeAresResolver(io);
  ddns::EngineDeps deps;
  deps.http = http.get();
  deps.dns = dns.get();
  deps.now = [] { return std::chrono::time_point_cast<Duration>(Clock::now()); };
  deps.readSecret = readSecretFile;
  deps.readInterface = net::readInterface;
  deps.rfc2136 = ddns::makeRfc2136Sender(io, policy.ddns);
  deps.clockAnchor = ddns::readClockAnchor;  // a cron run carries a back-off on, not over
  // Run as root, the state file still belongs to the daemon user: the daemon must read it.
  if (::geteuid() == 0) {
    if (auto user = lookupUser(policy.daemon.user); user.ok() && user->uid != 0) {
      deps.stateFile.owner = user->uid;
      deps.stateFile.group = user->gid;
    }
  }
  const std::string statePath = policy.daemon.stateDir + "/" + ddns::kStateFileName;
  ddns::Engine engine(io, policy.ddns, statePath, deps);
  if (!o.reset.empty()) {
    const std::size_t n = engine.resetHost(o.reset);
    std::cerr << "dynmx update: reset " << n << " record(s) of " << o.reset << '\n';
  }

  std::optional<ddns::PassReport> report;
  ddns::PassOptions options;
  options.force = o.force;
  engine.runPass(options, [&](ddns::PassReport r) { report = std::move(r); });
  io.run();
  if (!report) {
    std::cerr << "dynmx update: the pass did not complete\n";
    return 1;
  }
  return printReport(nlohmann::json::parse(ddns::passReportJson(*report)),
                     ddns::formatPassTable(*report), o.json);
}

}  // namespace

void registerUpdate(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<UpdateOptions>();
  auto* sub = app.add_subcommand(
      "update", "Run one DDNS pass (detect, update, verify) and print a per-host table; a running "
                "daemon runs it and this prints its report");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_flag("--force", opts->force,
                "re-send unchanged addresses (back-off, bans and the provider's minimum interval "
                "still apply)");
  sub->add_flag("--json", opts->json, "print the report as JSON");
  sub->add_option("--reset", opts->reset,
                  "re-enable HOST after a fatal answer (badauth, nohost, abuse, repeated nochg) "
                  "once you have fixed the cause; then run the pass");
  sub->callback([opts, &exit] { exit.value = runUpdate(*opts); });
}

}  // namespace dynmx::cli
