// Root → the daemon user. Everything that needs root happens here, once, before the loop
// runs: after this the daemon can no longer read or write anything its user cannot.
#include "run_user.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dynmx/daemon_adapters.hpp"
#include "dynmx/privileges.hpp"

namespace dynmx::cli {
namespace {

/// Whether `user` (no supplementary groups after the drop) may create files in `dir`.
bool writableBy(const std::string& dir, const UserAccount& user) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno == ENOENT;  // created later, by us
  if (st.st_uid == user.uid) return (st.st_mode & S_IWUSR) && (st.st_mode & S_IXUSR);
  if (st.st_gid == user.gid) return (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
  return (st.st_mode & S_IWOTH) && (st.st_mode & S_IXOTH);
}

/// chown `path` to `user` unless it is theirs already (or does not exist).
Status<> handTo(const std::string& path, const UserAccount& user) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Ok{};
  if (st.st_uid == user.uid && st.st_gid == user.gid) return Ok{};
  if (::chown(path.c_str(), user.uid, user.gid) != 0)
    return fail("cannot hand " + path + " to " + user.name + ": " + std::strerror(errno));
  return Ok{};
}

}  // namespace

Result<std::string> becomeDaemonUser(const Policy& policy, const std::vector<std::string>& stateFiles) {
  auto user = lookupUser(policy.daemon.user);
  if (!user.ok())
    return fail("daemon.user: " + user.error() + ": create it (useradd --system --user-group " +
                policy.daemon.user + ") or set [daemon] user to an unprivileged user");
  if (user->uid == 0) return fail("daemon.user '" + user->name + "' is root: dynmx does not run as root");

  // Only what is not ours yet: a state dir that is already the user's may even be read-only
  // (the daemon then runs and reports the failed writes rather than refusing to start).
  const std::string& stateDir = policy.daemon.stateDir;
  if (auto s = handTo(stateDir, *user); !s.ok()) return fail("the state dir: " + s.error());
  // Files an earlier root run left behind must stay readable and replaceable.
  for (const auto& f : stateFiles)
    if (auto s = handTo(f, *user); !s.ok()) return fail(s.error());
  if (::chown(policy.daemon.controlSocket.c_str(), user->uid, user->gid) != 0)
    return fail("cannot hand the control socket " + policy.daemon.controlSocket + " to " + user->name + ": " +
                std::strerror(errno));

  auto fetchmail = coord::lookupAccount(policy.fetchmail.user);
  if (!fetchmail.ok()) return fail("fetchmail.user: " + fetchmail.error());
  if (fetchmail->uid == 0) return fail("fetchmail.user '" + policy.fetchmail.user + "' is root: refused");
  if (auto s = coord::prepareFetchmailHome(coord::fetchmailHome(policy), *fetchmail, user->uid, user->gid);
      !s.ok())
    return fail(s.error());

  // The rc is staged next to rc_path and renamed: its directory must be ours to write.
  const std::string rcDir = std::filesystem::path(policy.fetchmail.rcPath).parent_path().string();
  if (!writableBy(rcDir, *user))
    return fail("fetchmail.rc_path: " + rcDir + " is not writable by user " + user->name +
                ": give it the directory, or put the rc in fetchmail.home");

  if (auto s = dropPrivileges(*user); !s.ok()) return fail(s.error());
  return "running as user " + user->name + " (uid " + std::to_string(user->uid) +
         "), keeping only CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_KILL; fetchmail runs as " + fetchmail->name;
}

}  // namespace dynmx::cli
