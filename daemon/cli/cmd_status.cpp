// `dynmx status`: ask the running daemon over its control socket; if it does not answer,
// show the last state it persisted (never better than WARNING, it is stale). The exit
// code is the health, Nagios style: 0 ok, 1 warning, 2 critical, 3 unknown.
#include <sys/stat.h>

#include <iostream>

#include "commands.hpp"
#include "dynmx/atomic_file.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/status/control.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/state.hpp"

namespace dynmx::cli {
namespace {

constexpr const char* kDefaultPolicy = kDefaultPolicyFile;
constexpr std::chrono::milliseconds kAnswerTimeout{3000};

struct StatusOptions {
  std::string policyFile;
  std::string socket;
  std::string state;
  bool json = false;
};

// Only the [daemon] paths are needed: parse without the secret-file checks, so an admin
// who may not read the password files still gets a status.
DaemonSection daemonPaths(const StatusOptions& o) {
  DaemonSection paths;
  std::string file = o.policyFile.empty() ? kDefaultPolicy : o.policyFile;
  struct stat st {};
  if (o.policyFile.empty() && ::stat(file.c_str(), &st) != 0) return paths;
  auto text = readFile(file);
  if (!text) {
    std::cerr << "dynmx status: " << text.error() << '\n';
    return paths;
  }
  PolicyLoad load = parsePolicy(*text, file);
  if (!load.policy) {
    for (const auto& d : load.diagnostics)
      if (d.severity == Severity::Error) std::cerr << formatDiagnostic(d) << '\n';
    // The daemon keeps running on its last good policy: find it by the [daemon] paths.
    if (auto salvaged = salvageDaemonPaths(*text)) {
      std::cerr << "dynmx status: policy has errors; using its [daemon] paths\n";
      paths.stateDir = salvaged->stateDir;
      paths.controlSocket = salvaged->controlSocket;
    } else {
      std::cerr << "dynmx status: policy not usable; trying the default paths\n";
    }
    return paths;
  }
  return load.policy->daemon;
}

status::Report fromStateFile(const std::string& path, const std::string& socketError) {
  auto loaded = status::loadState(path);
  if (!loaded) {
    return status::unknownReport("daemon not answering (" + socketError + "); no usable state: " + loaded.error());
  }
  struct stat st {};
  TimePoint writtenAt{};
  if (::stat(path.c_str(), &st) == 0) writtenAt = fromUnix(static_cast<long long>(st.st_mtime));
  return status::staleReport(std::move(*loaded), path, writtenAt);
}

int runStatus(const StatusOptions& o) {
  DaemonSection paths = daemonPaths(o);
  const std::string socket = o.socket.empty() ? paths.controlSocket : o.socket;
  const std::string state = o.state.empty() ? paths.stateDir + "/state.json" : o.state;

  status::Report report;
  auto reply = status::controlQuery(socket, {"status", nlohmann::json::object()}, kAnswerTimeout);
  if (reply && reply->result == 0) {
    auto parsed = status::reportFromJson(reply->arguments);
    if (parsed) {
      report = std::move(*parsed);
    } else {
      report = status::unknownReport("the daemon's answer is not a status report: " + parsed.error());
    }
  } else {
    std::string why = reply ? "status command failed: " + reply->text : reply.error();
    report = fromStateFile(state, why);
  }

  if (o.json) {
    std::cout << status::dumpJson(status::toJson(report), 2) << '\n';
  } else {
    std::cout << status::renderHuman(report, std::chrono::time_point_cast<Duration>(Clock::now()));
  }
  return static_cast<int>(report.health);
}

}  // namespace

void registerStatus(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<StatusOptions>();
  auto* sub = app.add_subcommand("status", "Show the mail mode, why, and the health (exit 0/1/2/3)");
  sub->add_option("-c,--config", opts->policyFile,
                  std::string("policy file (for the socket and state paths; default ") + kDefaultPolicyFile +
                      " if it exists)");
  sub->add_option("--socket", opts->socket, "control socket (default: the policy's daemon.control_socket)");
  sub->add_option("--state", opts->state, "state file used when the daemon does not answer");
  sub->add_flag("--json", opts->json, "print the report as JSON");
  sub->callback([opts, &exit] { exit.value = runStatus(*opts); });
}

}  // namespace dynmx::cli
