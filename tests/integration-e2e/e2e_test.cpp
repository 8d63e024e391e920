// dynmx end to end, with real parts: BIND9 holds the zone, the loopback dyndns2 provider
// pushes our updates into it, dovecot is the ISP's domain box, the real fetchmail fetches,
// a sink records every delivery, and `dynmx run` coordinates. Here: the sweep of the ISP
// box while direct. The failover story (hijack → multidrop → recovery, SIGKILL, an invalid
// policy on SIGHUP) runs in the senders' world with mail sent by real senders:
// tests/world/world_e2e_test.cpp, WorldEndToEnd.FailoverAndRecoveryWithoutLosingMail.
// Every wait is on an observable event (status, sink, box) with a bounded timeout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "testbed/loopback_world.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

std::string message(const std::string& id, const std::string& rcpt) { return ispMessage(id, rcpt); }

/// Each test id reached exactly the expected local users, exactly once.
void expectDeliveredExactlyOnce(const MailSink& sink, const std::map<std::string, std::string>& expected) {
  std::map<std::string, std::multiset<std::string>> got;
  for (const auto& m : sink.messages())
    for (const auto& r : m.recipients) got[m.testId].insert(r.substr(0, r.find('@')));
  for (const auto& [id, user] : expected) {
    EXPECT_EQ(got[id], std::multiset<std::string>{user}) << id;
  }
}

// Mail is direct, and a sender used the ISP's backup MX anyway (our server did not answer
// for a moment: no switch was ever due). With fetchmail.sweep_interval the daemon fetches
// it while staying direct: delivered once, the ISP box empty, no switch in the journal.
TEST(EndToEnd, DirectModeSweepDeliversWhatTheBackupMxTook) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "e2e-sweep");
  ASSERT_TRUE(w.start().ok());
  const std::string marker = "poll_interval = \"10s\"\n";
  const auto at = w.goodPolicy.find(marker);
  ASSERT_NE(at, std::string::npos);
  const std::string policy =
      w.goodPolicy.substr(0, at + marker.size()) + "sweep_interval = \"10s\"\n" + w.goodPolicy.substr(at + marker.size());
  writeTextFile(w.policyPath, policy, 0644);
  {
    auto started = w.startDaemon();
    ASSERT_TRUE(started.ok()) << started.error();
  }
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  const auto switchesBefore = w.status()->second["switches"].size();

  std::map<std::string, std::string> late = {{"S1", "alice"}, {"S2", "carol"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("S1", "alice@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("S2", "carol@example.com")).ok());
  ASSERT_TRUE(w.sink.waitFor([&](const auto& m) { return allDelivered(m, late); }, 60s))
      << "the sweep never fetched what waited at the ISP\n" << w.daemon->log();
  expectDeliveredExactlyOnce(w.sink, late);
  EXPECT_TRUE(eventually([&] { return w.dovecot->count("office") == 0; }, 30s));
  auto st = w.status();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->second["mode"]["current"], "direct");
  EXPECT_EQ(st->second["switches"].size(), switchesBefore) << "a sweep is not a switch";
  // The sweep reports once its last poll saw the box empty (after the delivery).
  EXPECT_TRUE(eventually([&] { return w.daemon->log().find("swept the ISP mailbox while direct") != std::string::npos; },
                         30s))
      << w.daemon->log();
  w.daemon->stop(20s);
}

}  // namespace
}  // namespace dynmx::testbed
