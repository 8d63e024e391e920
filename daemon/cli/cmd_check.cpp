// `dynmx check -c FILE`: every finding in the policy at once, as file:line:col lines, then
// a summary. Exit 0: valid (warnings allowed); 1: errors; 2: the file cannot be read.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {
namespace {

struct CheckOptions {
  std::string policyFile = kDefaultPolicyFile;
  bool quiet = false;
};

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + ' ' + word + (n == 1 ? "" : "s");
}

int runCheck(const CheckOptions& o) {
  PolicyLoad load = loadPolicy(o.policyFile);
  std::size_t errors = 0, warnings = 0;
  for (const auto& d : load.diagnostics) {
    (d.severity == Severity::Error ? errors : warnings)++;
    if (o.quiet && d.severity == Severity::Warning) continue;
    std::cout << formatDiagnostic(d) << '\n';
  }
  if (load.unreadable) return 2;
  if (!o.quiet || errors > 0) {
    if (errors == 0 && warnings == 0)
      std::cout << o.policyFile << ": OK\n";
    else
      std::cout << o.policyFile << ": " << plural(errors, "error") << ", " << plural(warnings, "warning")
                << '\n';
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace

void registerCheck(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<CheckOptions>();
  auto* sub = app.add_subcommand("check", "Check a policy file and report every problem at once");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_flag("-q,--quiet", opts->quiet, "print errors only, and no summary when the file is valid");
  sub->callback([opts, &exit] { exit.value = runCheck(*opts); });
}

}  // namespace dynmx::cli
