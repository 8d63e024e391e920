// dynmx end to end, with real parts: BIND9 holds the zone, the loopback dyndns2 provider
// pushes our updates into it, dovecot is the ISP's domain box, the real fetchmail fetches,
// a sink records every delivery, and `dynmx run` coordinates. The story:
//   1. fresh start: multidrop (safe) → the waiting mail is fetched → hold-down → drain →
//      direct, nothing left at the ISP;
//   2. a hijack of the record (nsupdate) → ddns.mismatch → multidrop, status WARNING,
//      new mail at the ISP is delivered;
//   3. recovery with mail still waiting at the ISP → hold-down → drain → direct;
//   4. SIGKILL and restart: same mode, no extra provider request;
//   5. an invalid policy on SIGHUP: still running on the old one, errors in status.
// Every wait is on an observable event (status, sink, box) with a bounded timeout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dynmx/process.hpp"
#include "testbed/loopback_world.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kHost = kWorldHost;
constexpr const char* kAddress = kWorldAddress;
constexpr const char* kHijacker = kWorldHijacker;

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

TEST(EndToEnd, FailoverAndRecoveryWithoutLosingMail) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "e2e");
  ASSERT_TRUE(w.start().ok());
  ASSERT_TRUE(w.setRecord("192.0.2.1").ok());  // a stale record until dynmx publishes ours

  // 1. Mail waiting at the ISP before dynmx ever ran.
  std::map<std::string, std::string> batch1 = {{"A1", "alice"}, {"A2", "bob"}, {"A3", "postmaster"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("A1", "alice@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("A2", "bob@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("A3", "nobody-here@example.com")).ok());
  {
    auto started = w.startDaemon();
    ASSERT_TRUE(started.ok()) << started.error();
  }
  ASSERT_TRUE(w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch1); }, 60s)) << w.daemon->log();
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  auto journal = w.status()->second["switches"];
  ASSERT_EQ(journal.size(), 1u) << journal.dump(2);
  EXPECT_EQ(journal[0]["from"], "multidrop") << "a fresh start is on the safe side until the hold-down";
  EXPECT_EQ(journal[0]["to"], "direct");
  expectDeliveredExactlyOnce(w.sink, batch1);
  EXPECT_EQ(w.dovecot->count("office"), 0u);
  auto published = w.named->dig(kHost);
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(*published, kAddress);
  auto healthy = w.status();
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->first, 0) << healthy->second.dump(2);
  EXPECT_EQ(healthy->second["health"], "ok");

  // 2. Hijack: the record now points at a stranger.
  ASSERT_TRUE(w.setRecord(kHijacker).ok());
  ASSERT_TRUE(w.waitForMode("multidrop", 60s)) << w.daemon->log();
  auto hijacked = w.status();
  ASSERT_TRUE(hijacked);
  EXPECT_EQ(hijacked->first, 1) << "WARNING while on multidrop because of a failure";
  std::string reasons = hijacked->second["mode"]["reasons"].dump();
  EXPECT_NE(reasons.find("ddns"), std::string::npos) << reasons;
  std::map<std::string, std::string> batch2 = {{"B1", "carol"}, {"B2", "alice"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("B1", "carol@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("B2", "Alice@Example.COM")).ok());
  ASSERT_TRUE(w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch2); }, 60s)) << w.daemon->log();
  expectDeliveredExactlyOnce(w.sink, batch2);

  // 3. Recovery while mail is still waiting at the ISP: the drain must fetch it.
  std::map<std::string, std::string> batch3 = {{"C1", "bob"}, {"C2", "carol"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("C1", "bob@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("C2", "carol@example.com")).ok());
  ASSERT_TRUE(w.setRecord(kAddress).ok());
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  EXPECT_TRUE(allDelivered(w.sink.messages(), batch3));
  expectDeliveredExactlyOnce(w.sink, batch3);
  EXPECT_EQ(w.dovecot->count("office"), 0u) << "nothing left at the ISP after the switch back";
  auto back = w.status();
  ASSERT_TRUE(back);
  EXPECT_GE(back->second["switches"].size(), 3u);
  EXPECT_EQ(w.sink.count(), batch1.size() + batch2.size() + batch3.size()) << "no duplicates, nothing extra";

  // 4. SIGKILL, restart: same mode, no new provider request.
  const std::string firstLog = w.daemon->log();  // the failover and the recovery
  const long requestsBefore = w.providerRequests();
  ::kill(w.daemon->pid(), SIGKILL);
  w.daemon->stop();
  {
    auto started = w.startDaemon();
    ASSERT_TRUE(started.ok()) << started.error();
  }
  EXPECT_EQ(w.status()->second["mode"]["current"], "direct");
  // Resuming direct with the record verified within the grace period: never a WARNING.
  std::vector<std::string> healthSeen;
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        if (s) healthSeen.push_back(s->second["health"].get<std::string>() + " " + s->second["health_reasons"].dump());
        return s && s->second["ddns_health"]["state"] == "healthy";
      },
      30s));
  for (const auto& h : healthSeen) EXPECT_EQ(h.rfind("ok ", 0), 0u) << h;
  EXPECT_EQ(w.status()->second["mode"]["current"], "direct");
  EXPECT_EQ(w.providerRequests(), requestsBefore) << "a restart re-sends nothing";

  // 5. SIGHUP with an invalid policy: keeps running on the old one; status shows why.
  writeTextFile(w.policyPath, w.goodPolicy + "\n[mail]\nmdoe = \"direct\"\n", 0644);
  ::kill(w.daemon->pid(), SIGHUP);
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        return s && !s->second["daemon"]["policy_errors"].empty();
      },
      30s))
      << w.daemon->log();
  auto rejected = w.status();
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->second["mode"]["current"], "direct");
  EXPECT_NE(rejected->second["daemon"]["policy_errors"].dump().find("dynmx.toml:"), std::string::npos);
  EXPECT_EQ(rejected->first, 1) << "pending policy errors are a WARNING";
  {
    // `dynmx status -c` with the broken file still reaches the daemon via its [daemon] paths.
    auto r = runProcess({.argv = {dynmxBinary(), "status", "-c", w.policyPath, "--json"}, .timeout = 20s});
    EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("using its [daemon] paths"), std::string::npos) << r.err;
    bool running = false;
    try {
      running = nlohmann::json::parse(r.out)["daemon"]["running"].get<bool>();
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << "\n" << r.out;
    }
    EXPECT_TRUE(running) << r.out;
  }
  writeTextFile(w.policyPath, w.goodPolicy, 0644);
  ::kill(w.daemon->pid(), SIGHUP);
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        return s && s->second["daemon"]["policy_errors"].empty();
      },
      30s));

  // Clean shutdown: the state file says when the daemon stopped. (The socket stays here: it
  // lies in the test's own directory, which the daemon user may not write; see stop_cli_test.)
  w.daemon->stop(20s);
  {
    std::ifstream in(w.dir.path() + "/state/state.json");
    const Json state = Json::parse(in, nullptr, false);
    ASSERT_FALSE(state.is_discarded());
    EXPECT_TRUE(state["daemon"]["stopped_at"].is_string()) << state["daemon"].dump();
    EXPECT_EQ(state["daemon"]["running"], false);
  }
  // The secrets never reached the log.
  const std::string log = w.daemon->log();
  if (const char* keep = std::getenv("DYNMX_E2E_LOG")) writeTextFile(keep, firstLog + log, 0644);
  // Nor did a recipient address at info or above (the world logs at debug).
  std::istringstream lines(firstLog + log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" debug ") != std::string::npos || line.find(" trace ") != std::string::npos) continue;
    for (const char* rcpt : {"alice@", "bob@", "carol@", "nobody-here@", "Alice@"})
      EXPECT_EQ(line.find(rcpt), std::string::npos) << line;
  }
  EXPECT_EQ((firstLog + log).find("isp-secret-E2E"), std::string::npos);
  EXPECT_EQ((firstLog + log).find("ddns-secret-E2E"), std::string::npos);
}

}  // namespace
}  // namespace dynmx::testbed
