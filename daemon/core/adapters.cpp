#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dynmx/daemon_adapters.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/privileges.hpp"

namespace dynmx::coord {

Result<Account> fetchmailAccount(const Policy& policy) {
  // Root, or a daemon that kept CAP_SETUID/SETGID/CHOWN (after dropping privileges, or a
  // systemd unit with AmbientCapabilities): fetchmail runs as its own user.
  if (canActForOtherUsers()) {
    auto a = lookupAccount(policy.fetchmail.user);
    if (!a.ok()) return fail("fetchmail.user: " + a.error());
    if (a->uid == 0) return fail("fetchmail.user '" + policy.fetchmail.user + "' is root: refused");
    return a;
  }
  passwd* me = ::getpwuid(::geteuid());
  if (me == nullptr) return fail(std::string("cannot look up our own user: ") + std::strerror(errno));
  return Account{me->pw_name, me->pw_uid, me->pw_gid, me->pw_dir};
}

std::string fetchmailHome(const Policy& policy) {
  if (!policy.fetchmail.home.empty()) return policy.fetchmail.home;
  return std::filesystem::path(policy.fetchmail.rcPath).parent_path().string();
}

Status<> prepareFetchmailHome(const std::string& home, const Account& fetchmail, uid_t daemonUser,
                              gid_t daemonGroup) {
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (ec) return fail("cannot create fetchmail.home " + home + ": " + ec.message());
  if (fetchmail.uid == daemonUser) {
    ::chmod(home.c_str(), 0700);
    return Ok{};
  }
  struct stat st {};
  if (::stat(home.c_str(), &st) != 0) return fail("cannot stat " + home + ": " + std::strerror(errno));
  const gid_t ours = daemonGroup;
  if (st.st_uid == fetchmail.uid && st.st_gid == ours && (st.st_mode & 07777) == 0770) return Ok{};
  // chmod needs ownership: set the mode while the directory is still ours (or we are root).
  if (st.st_uid == ::geteuid() || ::geteuid() == 0) {
    if (::chmod(home.c_str(), 0770) != 0) return fail("cannot chmod " + home + ": " + std::strerror(errno));
  }
  if (::chown(home.c_str(), fetchmail.uid, ours) != 0)
    return fail("cannot hand " + home + " to " + fetchmail.name + ": " + std::strerror(errno));
  if (::stat(home.c_str(), &st) != 0 || (st.st_mode & 07777) != 0770)
    return fail(home + " must be mode 0770 (owner " + fetchmail.name + ", our group): fix it by hand");
  return Ok{};
}

fetchmail::SupervisorConfig supervisorConfig(const Policy& policy, const Account& account, bool verbose) {
  fetchmail::SupervisorConfig c;
  c.binary = policy.fetchmail.binary;
  c.pollInterval = policy.fetchmail.pollInterval;
  c.verbose = verbose;
  c.rcPath = policy.fetchmail.rcPath;
  c.home = fetchmailHome(policy);
  c.userName = account.name;
  if (account.uid != ::geteuid()) {
    c.uid = account.uid;
    c.gid = account.gid;
  }
  return c;
}

namespace {

/// Everything installing the rc needs, prepared (home, rendering) before fetchmail runs.
struct RcJob {
  std::string text;
  std::string home;
  fetchmail::InstallOptions options;
  fetchmail::ValidateAs as;
};

Result<RcJob> prepareRc(const Policy& policy) {
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
  if (auto s = prepareFetchmailHome(home, *account, ::geteuid(), ::getegid()); !s.ok()) return fail(s.error());
  fetchmail::RenderInput input;
  input.password = std::move(password);
  input.idFile = home + "/fetchmail.ids";
  input.pidFile = home + "/fetchmail.pid";
  auto text = fetchmail::renderRc(policy, input);
  if (!text.ok()) return fail("cannot render the fetchmail rc: " + text.error());
  RcJob job;
  job.text = std::move(*text);
  job.home = home;
  job.as.userName = account->name;
  if (account->uid != ::geteuid()) {
    job.options.owner = account->uid;
    job.options.group = account->gid;
    // Validate as the user that will run fetchmail: its idfile (keep = true) is its alone.
    job.as.uid = account->uid;
    job.as.gid = account->gid;
  }
  return job;
}

}  // namespace

Status<> installRcForPolicy(const Policy& policy) {
  auto job = prepareRc(policy);
  if (!job.ok()) return fail(job.error());
  auto validator = fetchmail::fetchmailValidator(policy.fetchmail.binary, job->home, job->as);
  return fetchmail::installRc(policy.fetchmail.rcPath, job->text, validator, job->options);
}

void installRcForPolicyAsync(boost::asio::io_context& io, ProcessLauncher& launcher, const Policy& policy,
                             std::function<void(Status<>)> done) {
  auto job = prepareRc(policy);
  if (!job.ok()) {
    done(fail(job.error()));
    return;
  }
  fetchmail::installRcAsync(io, launcher, policy.fetchmail.rcPath, std::move(job->text), policy.fetchmail.binary,
                            job->home, job->as, job->options, std::move(done));
}

}  // namespace dynmx::coord
