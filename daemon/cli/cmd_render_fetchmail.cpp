// `dynmx render-fetchmail -c FILE [--write] [--password-file F]`: show the multidrop rc the
// policy produces (password redacted, no secret read, so a missing password file is only a
// note), or write the real one: read the secret, validate with the real fetchmail, install
// 0600 for the fetchmail user.
// Exit 0: done; 1: cannot render/validate/install (the reason is printed); 2: bad policy.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "commands.hpp"
#include "teaching_policy.hpp"
#include "dynmx/daemon_adapters.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {
namespace {

struct RenderOptions {
  std::string policyFile = kDefaultPolicyFile;
  bool write = false;
  std::string passwordFile;  ///< overrides isp.password_file
};

int fail1(const std::string& why) {
  std::cerr << "dynmx render-fetchmail: " << why << '\n';
  return 1;
}

int runRender(const RenderOptions& o) {
  if (!o.write) {
    if (!o.passwordFile.empty()) {
      std::cerr << "dynmx render-fetchmail: --password-file is only read with --write; leave it out\n";
      return 2;
    }
    auto policy = loadPolicyWithoutSecrets(o.policyFile, std::cerr);
    if (!policy) return 2;
    fetchmail::RenderInput input;
    input.redactPassword = true;
    auto text = fetchmail::renderRc(*policy, input);
    if (!text.ok()) return fail1(text.error());
    std::cout << *text;
    return 0;
  }

  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics)
    if (d.severity == Severity::Error) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) return 2;
  const Policy& policy = *load.policy;

  // The daemon's own path: read the secret, render, validate with the real fetchmail as
  // staged, hand the home to the fetchmail user, rename into place (0600).
  Policy effective = policy;
  if (!o.passwordFile.empty()) {
    effective.isp.passwordFile = o.passwordFile;
    effective.isp.password.reset();
  }
  auto installed = coord::installRcForPolicy(effective);
  if (!installed.ok()) return fail1(installed.error());
  std::string ownerName;
  if (auto account = coord::fetchmailAccount(effective); account.ok() && account->uid != ::geteuid())
    ownerName = account->name;
  std::cout << "wrote " << policy.fetchmail.rcPath << " (mode 0600"
            << (ownerName.empty() ? std::string() : ", owner " + ownerName) << "), validated with "
            << policy.fetchmail.binary << " --configdump\n";
  return 0;
}

}  // namespace

void registerRenderFetchmail(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<RenderOptions>();
  auto* sub = app.add_subcommand("render-fetchmail",
                                 "Print the fetchmail multidrop rc (password redacted), or --write it");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_flag("--write", opts->write,
                "read the ISP password, validate with the real fetchmail and install at fetchmail.rc_path");
  sub->add_option("--password-file", opts->passwordFile, "read the ISP password from this file (with --write)");
  sub->callback([opts, &exit] { exit.value = runRender(*opts); });
}

}  // namespace dynmx::cli
