// `dynmx update`: one detect → update → verify pass on a fresh io_context, with the same
// rules (back-off, bans, never re-sending an unchanged address) and state file as the daemon.
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/net/http_client.hpp"
#include "dynmx/net/interfaces.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {
namespace {

struct UpdateOptions {
  std::string policyFile;
  bool force = false;
  bool json = false;
};

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
  const std::string statePath = policy.daemon.stateDir + "/" + ddns::kStateFileName;
  ddns::Engine engine(io, policy.ddns, statePath, deps);

  std::optional<ddns::PassReport> report;
  ddns::PassOptions options;
  options.force = o.force;
  engine.runPass(options, [&](ddns::PassReport r) { report = std::move(r); });
  io.run();
  if (!report) {
    std::cerr << "dynmx update: the pass did not complete\n";
    return 1;
  }
  if (o.json) {
    std::cout << ddns::passReportJson(*report);
  } else {
    std::cout << ddns::formatPassTable(*report);
  }
  return report->ok() ? 0 : 1;
}

}  // namespace

void registerUpdate(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<UpdateOptions>();
  auto* sub = app.add_subcommand(
      "update", "Run one DDNS pass (detect, update, verify) and print a per-host table");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->required();
  sub->add_flag("--force", opts->force,
                "re-send unchanged addresses (back-off and bans still apply)");
  sub->add_flag("--json", opts->json, "print the report as JSON");
  sub->callback([opts, &exit] { exit.value = runUpdate(*opts); });
}

}  // namespace dynmx::cli
