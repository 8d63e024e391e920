// runFetchmailOnce: the real fetchmail, foreground, one poll.
#include "testbed/fetchmail_run.hpp"

#include <pwd.h>
#include <unistd.h>

#include "dynmx/process.hpp"

namespace dynmx::testbed {

Result<FetchmailOutcome> runFetchmailOnce(const std::string& rcPath, const std::string& home,
                                          std::chrono::milliseconds timeout, const std::vector<std::string>& extraArgs) {
  const passwd* pw = ::getpwuid(::geteuid());
  ProcessSpec spec;
  // -d0: one poll even if the rc says `set daemon`; -N: stay in the foreground.
  spec.argv = {"fetchmail", "-f", rcPath, "-d0", "-N", "-v"};
  spec.argv.insert(spec.argv.end(), extraArgs.begin(), extraArgs.end());
  spec.env = {{"FETCHMAILHOME", home}, {"FETCHMAILUSER", pw != nullptr ? pw->pw_name : "root"}, {"HOME", home}};
  spec.timeout = timeout;
  auto r = runProcess(spec);
  if (!r.started) return fail("fetchmail did not start: " + r.error);
  FetchmailOutcome o;
  o.exitCode = r.exitCode;
  o.timedOut = r.timedOut;
  o.output = r.out + r.err;
  return o;
}

}  // namespace dynmx::testbed
