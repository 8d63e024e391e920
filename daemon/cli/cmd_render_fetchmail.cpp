// `dynmx render-fetchmail -c FILE [--write] [--password-file F]`: show the multidrop rc the
// policy produces (password redacted, no secret read), or write the real one: read the
// secret, validate with the real fetchmail, install 0600 for the fetchmail user.
// Exit 0: done; 1: cannot render/validate/install (the reason is printed); 2: bad policy.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {
namespace {

struct RenderOptions {
  std::string policyFile;
  bool write = false;
  std::string passwordFile;  ///< overrides isp.password_file
};

struct Owner {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<Owner> fetchmailOwner(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(16384, '\0');
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return fail("fetchmail.user '" + user + "' does not exist");
  // As root, `is * here` would make root the fallback recipient; and a root fetchmail has
  // no business parsing mail.
  if (found->pw_uid == 0) return fail("fetchmail.user '" + user + "' is root: refused");
  return Owner{found->pw_name, found->pw_uid, found->pw_gid};
}

std::string homeOf(const Policy& p) {
  if (!p.fetchmail.home.empty()) return p.fetchmail.home;
  auto parent = std::filesystem::path(p.fetchmail.rcPath).parent_path().string();
  return parent.empty() ? "." : parent;
}

int fail1(const std::string& why) {
  std::cerr << "dynmx render-fetchmail: " << why << '\n';
  return 1;
}

int runRender(const RenderOptions& o) {
  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics)
    if (d.severity == Severity::Error) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) return 2;
  const Policy& policy = *load.policy;

  fetchmail::RenderInput input;
  if (!o.write) {
    input.redactPassword = true;
    auto text = fetchmail::renderRc(policy, input);
    if (!text.ok()) return fail1(text.error());
    std::cout << *text;
    return 0;
  }

  if (!o.passwordFile.empty()) {
    SecretRead s = readSecretFile(o.passwordFile);
    if (!s.secret) return fail1(s.error);
    input.password = std::move(*s.secret);
  } else if (policy.isp.password) {
    input.password = *policy.isp.password;
  } else {
    SecretRead s = readSecretFile(policy.isp.passwordFile);
    if (!s.secret) return fail1(s.error);
    input.password = std::move(*s.secret);
  }

  auto text = fetchmail::renderRc(policy, input);
  if (!text.ok()) return fail1(text.error());

  const std::string home = homeOf(policy);
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (ec) return fail1("cannot create " + home + ": " + ec.message());
  fetchmail::InstallOptions options;
  std::string ownerName;
  if (::geteuid() == 0) {
    auto owner = fetchmailOwner(policy.fetchmail.user);
    if (!owner.ok()) return fail1(owner.error());
    // fetchmail keeps its idfile, pidfile and lock in its home: it must own it.
    if (::chown(home.c_str(), owner->uid, owner->gid) != 0 || ::chmod(home.c_str(), 0700) != 0)
      return fail1("cannot hand " + home + " to " + owner->name + ": " + std::strerror(errno));
    options.owner = owner->uid;
    options.group = owner->gid;
    ownerName = owner->name;
  }
  auto validator = fetchmail::fetchmailValidator(policy.fetchmail.binary, home);
  auto installed = fetchmail::installRc(policy.fetchmail.rcPath, *text, validator, options);
  if (!installed.ok()) return fail1(installed.error());
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
  sub->add_option("-c,--config", opts->policyFile, "policy file")->required();
  sub->add_flag("--write", opts->write,
                "read the ISP password, validate with the real fetchmail and install at fetchmail.rc_path");
  sub->add_option("--password-file", opts->passwordFile, "read the ISP password from this file (with --write)");
  sub->callback([opts, &exit] { exit.value = runRender(*opts); });
}

}  // namespace dynmx::cli
