#pragma once
// The fault suite's bookkeeping (issue 6, part 2). Each fault class (provider, dns,
// fetchmail, files, sigkill) runs its scenarios against real servers and the real
// `dynmx run`. A scenario survives when it adds no GoogleTest failure: dynmx kept running,
// status named the problem, mail went to (or stayed in) the safe mode, nothing was lost.
//
//   FaultClass provider("provider");
//   provider.scenario("911", [&](Scenario& s) { ...; s.lost = lostMessages(...); });
//   provider.report();   // prints and records the summary line, fails the test unless 100%
//
// The summary line `fault class NAME: T tried, S survived, L messages lost` goes to stdout
// and is appended to DYNMX_FAULT_SUMMARY_FILE (the build dir's fault-summary.txt), which
// scripts/test.sh prints after ctest, summed per class (tests/fault/summary.sh).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "testbed/mail_sink.hpp"

namespace dynmx::fault {

/// What one scenario reports besides its GoogleTest expectations.
struct Scenario {
  std::string name;
  long lost = 0;  ///< messages deposited at the ISP that did not reach the right user once
};

/// Messages (test id → local user) that did not reach exactly their user exactly once,
/// each reported as a failure saying how it arrived. What a scenario adds to `lost`.
long lostMessages(const testbed::MailSink& sink, const std::map<std::string, std::string>& expected);

class FaultClass {
 public:
  explicit FaultClass(std::string name);
  /// Run one scenario. Survived = no new GoogleTest failure inside `body` and lost == 0.
  void scenario(const std::string& name, const std::function<void(Scenario&)>& body);
  /// Print and record the summary line; EXPECT every scenario survived and nothing was lost.
  void report();

  [[nodiscard]] int tried() const { return tried_; }
  [[nodiscard]] int survived() const { return survived_; }
  [[nodiscard]] long lost() const { return lost_; }

 private:
  std::string name_;
  int tried_ = 0;
  int survived_ = 0;
  long lost_ = 0;
  std::vector<std::string> failed_;
};

}  // namespace dynmx::fault
