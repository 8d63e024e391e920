#pragma once
// One run of the real fetchmail against a test server.
#include <chrono>
#include <string>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::testbed {

/// How a one-shot fetchmail ended.
struct FetchmailOutcome {
  int exitCode = -1;   ///< 0 mail delivered, 1 no mail, others see fetchmail(1) EXIT CODES
  bool timedOut = false;
  std::string output;  ///< stdout then stderr
};

/// `fetchmail -f RC -d0 -N -v` with FETCHMAILHOME=home and FETCHMAILUSER=<our user>, via
/// dynmx::runProcess (no shell, bounded). Fails only if fetchmail could not be started.
Result<FetchmailOutcome> runFetchmailOnce(const std::string& rcPath, const std::string& home,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                          const std::vector<std::string>& extraArgs = {});

}  // namespace dynmx::testbed
