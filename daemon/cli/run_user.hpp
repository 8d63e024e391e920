#pragma once
#include "dynmx/policy.hpp"
#include "dynmx/result.hpp"

namespace dynmx::cli {

/// Started as root: hand the state dir (and the state files in it) and fetchmail's home to
/// [daemon] user, give it the control socket (bound before, as root), then become that user
/// for good with CAP_SETUID, CAP_SETGID and CAP_CHOWN only. Returns a message for the log.
Result<std::string> becomeDaemonUser(const Policy& policy, const std::vector<std::string>& stateFiles);

}  // namespace dynmx::cli
