#pragma once
// Who dynmx runs as. Started as root, `dynmx run` prepares its directories and then drops
// for good to an unprivileged user ([daemon] user), keeping only the four capabilities it
// needs to hand the fetchmail rc to fetchmail's own user (CAP_CHOWN), to start fetchmail
// and the hooks as that user (CAP_SETUID, CAP_SETGID) and to stop them (CAP_KILL).
// Children never inherit them: spawnProcess clears the ambient set, and execve drops the
// rest for a non-root uid.
#include <sys/types.h>

#include <string>

#include "dynmx/result.hpp"

namespace dynmx {

/// A system account.
struct UserAccount {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

/// Look up a user by name ("no such user 'x'" if it does not exist).
Result<UserAccount> lookupUser(const std::string& name);

/// True when this process may start children as other users and chown files to them:
/// it is root, or it holds CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL (a systemd unit with
/// AmbientCapabilities, or after dropPrivileges).
bool canActForOtherUsers();

/// Become `to` for good: supplementary groups dropped, real/effective/saved uid and gid
/// set, every capability gone except CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL (effective and
/// permitted only; the bounding set is cleared). Refuses uid 0. Checks afterwards that
/// root cannot be regained.
Status<> dropPrivileges(const UserAccount& to);

}  // namespace dynmx
