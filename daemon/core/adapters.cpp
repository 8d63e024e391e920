#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dynmx/daemon_adapters.hpp"
#include "dynmx/fetchmail_conf.hpp"

namespace dynmx::coord {

Result<Account> lookupAccount(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(16384, '\0');
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return fail("no such user '" + name + "'");
  return Account{found->pw_name, found->pw_uid, found->pw_gid, found->pw_dir};
}

Result<Account> fetchmailAccount(const Policy& policy) {
  if (::geteuid() == 0) {
    auto a = lookupAccount(policy.fetchmail.user);
    if (!a.ok()) return fail("fetchmail.user: " + a.error());
    if (a->uid == 0) return fail("fetchmail.user '" + policy.fetchmail.user + "' is root: refused");
    return a;
  }
  passwd* me = ::getpwuid(::geteuid());
  if (me == nullptr) return fail(std::string("cannot look up our own user: ") + std::strerror(errno));
  return Account{me->pw_name, me->pw_uid, me->pw_gid, me->pw_dir};
}

namespace {
std::string fetchmailHome(const Policy& policy) {
  if (!policy.fetchmail.home.empty()) return policy.fetchmail.home;
  return std::filesystem::path(policy.fetchmail.rcPath).parent_path().string();
}
}  // namespace

fetchmail::SupervisorConfig supervisorConfig(const Policy& policy, const Account& account) {
  fetchmail::SupervisorConfig c;
  c.binary = policy.fetchmail.binary;
  c.rcPath = policy.fetchmail.rcPath;
  c.home = fetchmailHome(policy);
  c.userName = account.name;
  if (::geteuid() == 0) {
    c.uid = account.uid;
    c.gid = account.gid;
  }
  return c;
}

Status<> installRcForPolicy(const Policy& policy) {
  auto account = fetchmailAccount(policy);
  if (!account.ok()) return fail(account.error());
  std::string password;
  if (policy.isp.password) {
    password = *policy.isp.password;
  } else {
    SecretRead secret = readSecretFile(policy.isp.passwordFile);
    if (!secret.secret) return fail("isp.password_file: " + secret.error);
    password = *secret.secret;
  }
  const std::string home = fetchmailHome(policy);
  if (std::filesystem::path(home).lexically_normal() == std::filesystem::path(policy.daemon.stateDir).lexically_normal())
    return fail("fetchmail.home (" + home + ") must not be the state dir: it is handed to the fetchmail user");
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (::geteuid() == 0) {
    // fetchmail keeps its idfile and lock in its home: it must own it.
    if (::chown(home.c_str(), account->uid, account->gid) != 0)
      return fail("cannot chown " + home + ": " + std::strerror(errno));
    ::chmod(home.c_str(), 0700);
  }
  fetchmail::RenderInput input;
  input.password = std::move(password);
  input.idFile = home + "/fetchmail.ids";
  input.pidFile = home + "/fetchmail.pid";
  auto text = fetchmail::renderRc(policy, input);
  if (!text.ok()) return fail("cannot render the fetchmail rc: " + text.error());
  fetchmail::InstallOptions options;
  if (::geteuid() == 0) {
    options.owner = account->uid;
    options.group = account->gid;
  }
  auto validator = fetchmail::fetchmailValidator(policy.fetchmail.binary, home);
  return fetchmail::installRc(policy.fetchmail.rcPath, *text, validator, options);
}

}  // namespace dynmx::coord
