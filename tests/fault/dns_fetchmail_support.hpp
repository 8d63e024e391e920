#pragma once
// What the "dns" and "fetchmail" fault classes share (header only: each class is its own
// test binary; the fetchmail class, in tests/world, uses the policy and journal helpers):
// the dynmx binary, policy variants, the daemon's liveness, and a ledger of
// the messages deposited at the ISP that counts every one not delivered exactly once to
// exactly the right local user.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "testbed/loopback_world.hpp"

namespace dynmx::fault {

using Json = nlohmann::json;

inline std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

/// `text` with the one occurrence of `from` replaced by `to`; a test failure if it is not there.
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "the policy has no \"" << from << "\"";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

/// The daemon process is alive and answers `dynmx status --json`.
inline bool daemonAnswers(const testbed::LoopbackWorld& w) {
  return w.daemon && w.daemon->running() && w.status().has_value();
}

/// The status report, or an empty object if the daemon did not answer.
inline Json statusOf(const testbed::LoopbackWorld& w) {
  auto s = w.status();
  return s ? s->second : Json::object();
}

/// Change the owner of a file the daemon reads to the `dynmx` system user, if it exists.
inline void giveToDaemonUser(const std::string& path) {
  if (const passwd* pw = ::getpwnam("dynmx"); pw != nullptr)
    (void)!::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
}

/// Messages deposited at the ISP box and where each must end up.
class MailLedger {
 public:
  /// Put a message for `address` into the ISP box; `user` is the local user it must reach.
  void deposit(testbed::LoopbackWorld& w, const std::string& id, const std::string& address,
               const std::string& user) {
    auto s = w.dovecot->deliver("office", testbed::ispMessage(id, address));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
    expected_[id] = user;
  }
  /// Wait (bounded) until every deposited id reached the sink at least once.
  bool waitAll(const testbed::LoopbackWorld& w, std::chrono::milliseconds bound) const {
    return w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, expected_); }, bound);
  }
  /// Deposited ids not delivered exactly once to exactly their user (missing, duplicated,
  /// misrouted), each with a test failure that says how.
  long lost(const testbed::LoopbackWorld& w) const {
    std::map<std::string, std::multiset<std::string>> got;
    for (const auto& m : w.sink.messages())
      for (const auto& r : m.recipients) got[m.testId].insert(r.substr(0, r.find('@')));
    long n = 0;
    for (const auto& [id, user] : expected_) {
      if (got[id] != std::multiset<std::string>{user}) {
        ++n;
        ADD_FAILURE() << "message " << id << " should reach " << user << " once; got " << got[id].size()
                      << " deliveries";
      }
    }
    return n;
  }
  [[nodiscard]] std::size_t size() const { return expected_.size(); }
  [[nodiscard]] const std::map<std::string, std::string>& expected() const { return expected_; }

 private:
  std::map<std::string, std::string> expected_;
};

/// Did the switch journal record a switch to `to` after the first `skip` entries?
inline bool switchedToAfter(const Json& status, std::size_t skip, const std::string& to) {
  const Json& j = status["switches"];
  for (std::size_t i = skip; i < j.size(); ++i)
    if (j[i]["to"] == to) return true;
  return false;
}

}  // namespace dynmx::fault
