#pragma once
// Production implementations of the coordinator's seams that are not big enough to have
// a module of their own: the fetchmail supervisor as a MailFetcher, the rc installer, and
// account lookup for the unprivileged users fetchmail and hooks run as.
#include <optional>
#include <string>
#include <sys/types.h>

#include "dynmx/coordinator.hpp"
#include "dynmx/fetchmail_supervisor.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/privileges.hpp"

namespace dynmx::coord {

/// A local account.
using Account = UserAccount;

/// Look up a user by name; error names the user.
inline Result<Account> lookupAccount(const std::string& name) { return lookupUser(name); }

/// Which account fetchmail runs as: the policy's user when we may act for other users
/// (root, or holding CAP_SETUID/SETGID/CHOWN/KILL); ourselves otherwise. Never root.
Result<Account> fetchmailAccount(const Policy& policy);

/// The supervisor configuration for a policy and account.
/// How the supervisor runs fetchmail for `policy`; `verbose` (fetchmail -v) only when the
/// log shows debug lines, since -v's trace names every recipient.
fetchmail::SupervisorConfig supervisorConfig(const Policy& policy, const Account& account, bool verbose = false);

/// Render → validate with the real fetchmail (as the fetchmail account) → install 0600.
Status<> installRcForPolicy(const Policy& policy);
/// The same on the event loop: `fetchmail --configdump` runs as a child of `launcher`, so
/// the loop never waits for it (up to 20 s). `done` runs once, on the loop.
void installRcForPolicyAsync(boost::asio::io_context& io, ProcessLauncher& launcher, const Policy& policy,
                             std::function<void(Status<>)> done);

/// fetchmail's home (FETCHMAILHOME: idfile, pidfile, lock): fetchmail.home, else the rc's directory.
std::string fetchmailHome(const Policy& policy);

/// Create fetchmail's home. fetchmail owns it; when fetchmail is another user than the
/// daemon (`daemonUser`), the home is fetchmail:`daemonGroup` 0770 so the daemon can stage
/// the rc there (and chown it to fetchmail) without root. Nobody else can enter.
Status<> prepareFetchmailHome(const std::string& home, const Account& fetchmail, uid_t daemonUser,
                              gid_t daemonGroup);

/// The fetchmail supervisor seen through the coordinator's MailFetcher seam.
class SupervisorFetcher final : public MailFetcher {
 public:
  explicit SupervisorFetcher(fetchmail::Supervisor& s) : s_(s) {}
  void start() override { s_.start(); }
  void stop(std::function<void()> stopped) override { s_.stop(std::move(stopped)); }
  void drain(std::function<void(bool, const std::string&)> done) override { s_.drain(std::move(done)); }
  const status::FetchmailInfo& info() const override { return s_.info(); }

 private:
  fetchmail::Supervisor& s_;
};

}  // namespace dynmx::coord
