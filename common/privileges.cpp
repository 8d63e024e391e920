#include "dynmx/privileges.hpp"

#include <cap-ng.h>
#include <linux/capability.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dynmx {

Result<UserAccount> lookupUser(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::string buf(16384, '\0');
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return fail("no such user '" + name + "'");
  return UserAccount{found->pw_name, found->pw_uid, found->pw_gid, found->pw_dir};
}

bool canActForOtherUsers() {
  if (::geteuid() == 0) return true;
  capng_clear(CAPNG_SELECT_BOTH);
  if (capng_get_caps_process() != 0) return false;
  return capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) != 0 &&
         capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID) != 0 &&
         capng_have_capability(CAPNG_EFFECTIVE, CAP_CHOWN) != 0 &&
         capng_have_capability(CAPNG_EFFECTIVE, CAP_KILL) != 0;
}

Status<> dropPrivileges(const UserAccount& to) {
  if (to.uid == 0) return fail("user '" + to.name + "' is root: dynmx does not run as root");
  capng_clear(CAPNG_SELECT_BOTH);
  if (capng_updatev(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED), CAP_SETUID,
                    CAP_SETGID, CAP_CHOWN, CAP_KILL, -1) != 0)
    return fail("cannot prepare the capability set");
  const int rc = capng_change_id(static_cast<int>(to.uid), static_cast<int>(to.gid),
                                 static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING));
  if (rc != 0)
    return fail("cannot become user '" + to.name + "' (capng_change_id " + std::to_string(rc) +
                "): " + std::strerror(errno));
  uid_t r = 0, e = 0, s = 0;
  gid_t gr = 0, ge = 0, gs = 0;
  if (::getresuid(&r, &e, &s) != 0 || ::getresgid(&gr, &ge, &gs) != 0)
    return fail(std::string("cannot read our ids: ") + std::strerror(errno));
  if (r != to.uid || e != to.uid || s != to.uid || gr != to.gid || ge != to.gid || gs != to.gid)
    return fail("still partly privileged after becoming '" + to.name + "'");
  // Once every uid is non-zero, root is gone for good: setuid(0) would need CAP_SETUID
  // (which we keep for fetchmail), so check the set-id trap the other way: no uid 0 left.
  if (::getuid() == 0 || ::geteuid() == 0) return fail("still root after the drop");
  return Ok{};
}

}  // namespace dynmx
