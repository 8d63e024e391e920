// Fault class "dns": verification at the authoritative servers fails in every way a DNS
// server can fail. Here, FakeAuthority: dynmx verifies at a fake authoritative server
// (dns_fake_server.cpp): SERVFAIL, REFUSED, silence, the right answer without the AA bit,
// a wrong answer, and a truncated UDP answer that TCP either answers correctly (no switch)
// or refuses (switch). The real authority going down runs in the senders' world
// (tests/world/dns_faults_test.cpp, WorldDnsFaults.AuthorityDown), where the senders' MX
// lookups fail with it; the record hijacked at the real authority is the hijack of
// WorldEndToEnd.FailoverAndRecoveryWithoutLosingMail.
// Each scenario: inject, see multidrop with the problem named in status, deposit mail at
// the ISP, see it delivered, restore, see direct again (through the hold-down and a drain)
// with the ISP box empty and every message delivered exactly once, the daemon alive, and
// no provider request the fault does not justify.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "dns_fake_server.hpp"
#include "dns_fetchmail_support.hpp"
#include "fault_class.hpp"
#include "testbed/loopback_world.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using testbed::eventually;
using testbed::LoopbackWorld;

constexpr auto kModeBound = 90s;      // a switch: failing max / hold-down + drain, under ASan
constexpr auto kNamedBound = 30s;     // status catches up with an observed fault
constexpr auto kDeliveryBound = 60s;  // fetchmail polls every 10 s

/// The host row of the world's DDNS name (or null).
Json hostRow(const Json& status) {
  for (const auto& h : status["ddns"])
    if (h["host"] == testbed::kWorldHost) return h;
  return Json();
}

/// All the text status gives about the DDNS host and the mode: verification, health, reasons.
std::string ddnsText(const Json& status) {
  return hostRow(status).dump() + " " + status["ddns_health"].dump() + " " + status["mode"]["reasons"].dump();
}

/// What a scenario that makes direct unsafe looks like.
struct UnsafeFault {
  std::function<void()> inject;
  std::function<void()> restore;
  std::vector<std::string> named;    ///< texts status must all show while the fault lasts (lower case)
  std::string reasonCode;            ///< the mode reason code while the fault lasts
  long providerRequestsAllowed = 0;  ///< update requests the fault may justify
};

/// Run one fault that must put mail on multidrop until it is restored.
void runUnsafeFault(Scenario& s, LoopbackWorld& w, const std::string& tag, const UnsafeFault& f) {
  ASSERT_TRUE(w.waitForMode("direct", kModeBound)) << "precondition: direct before " << tag << "\n"
                                                   << w.daemon->log();
  MailLedger ledger;
  const std::size_t journalBefore = statusOf(w)["switches"].size();
  const long requestsBefore = w.providerRequests();

  f.inject();
  // Mail that reaches the ISP from the moment the fault begins.
  ledger.deposit(w, tag + "-1", "alice@example.com", "alice");
  ASSERT_TRUE(w.waitForMode("multidrop", kModeBound)) << tag << ": no switch to multidrop\n"
                                                      << statusOf(w).dump(2);

  // Status names the problem, and the health says something is wrong.
  Json named;
  EXPECT_TRUE(eventually(
      [&] {
        named = statusOf(w);
        std::string text = ddnsText(named);
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        return std::all_of(f.named.begin(), f.named.end(),
                           [&](const std::string& want) { return text.find(want) != std::string::npos; });
      },
      kNamedBound))
      << tag << ": status does not name \"" << f.named.front() << "\" (and the rest):\n"
      << named.dump(2);
  std::cout << "[ named    ] " << tag << ": " << hostRow(named)["verification"].dump() << std::endl;
  EXPECT_NE(named["mode"]["reasons"].dump().find(f.reasonCode), std::string::npos) << named["mode"].dump(2);
  EXPECT_EQ(hostRow(named)["verified"], false) << hostRow(named).dump(2);
  EXPECT_NE(named["health"], "ok") << named.dump(2);
  {
    const Json& last = named["switches"].back();
    EXPECT_EQ(last["to"], "multidrop");
    EXPECT_NE(last.dump().find(f.reasonCode), std::string::npos) << last.dump(2);
  }

  // More mail while on multidrop: fetched and delivered.
  ledger.deposit(w, tag + "-2", "Bob@Example.COM", "bob");
  ledger.deposit(w, tag + "-3", "stranger@example.com", "postmaster");
  EXPECT_TRUE(ledger.waitAll(w, kDeliveryBound)) << tag << ": mail not fetched on multidrop\n"
                                                 << w.daemon->log();

  // Still multidrop, never direct while the fault lasts, and the daemon answers.
  ASSERT_TRUE(daemonAnswers(w)) << tag << ": the daemon died\n" << w.daemon->log();
  Json during = statusOf(w);
  EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
  EXPECT_FALSE(switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);
  EXPECT_EQ(during["fetchmail"]["running"], true) << during["fetchmail"].dump(2);

  // The provider saw only what the fault justifies (a DNS fault is no reason to update).
  EXPECT_LE(w.providerRequests() - requestsBefore, f.providerRequestsAllowed) << tag;

  f.restore();
  EXPECT_TRUE(w.waitForMode("direct", kModeBound)) << tag << ": no return to direct\n" << statusOf(w).dump(2);
  Json after = statusOf(w);
  EXPECT_EQ(hostRow(after)["verified"], true) << hostRow(after).dump(2);
  EXPECT_EQ(after["health"], "ok") << after.dump(2);
  EXPECT_EQ(w.dovecot->count("office"), 0u) << tag << ": mail left at the ISP after the switch back";
  ASSERT_TRUE(daemonAnswers(w)) << tag << ": the daemon died\n" << w.daemon->log();
  s.lost = ledger.lost(w);
}

TEST(DnsFaults, FakeAuthority) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "fdns-f");
  ASSERT_TRUE(w.start().ok());
  FakeDnsBehaviour good;
  good.address = testbed::kWorldAddress;
  auto started = FakeDnsServer::start(good);
  ASSERT_TRUE(started.ok()) << started.error();
  FakeDnsServer& fake = **started;
  // Verification asks the fake server instead of named.
  const std::string policy =
      replaced(w.goodPolicy, "servers = [\"127.0.0.1:" + std::to_string(w.named->port()) + "\"]",
               "servers = [\"127.0.0.1:" + std::to_string(fake.port()) + "\"]");
  testbed::writeTextFile(w.policyPath, policy, 0644);
  ASSERT_TRUE(w.startDaemon().ok());
  ASSERT_TRUE(w.waitForMode("direct", kModeBound)) << w.daemon->log();
  ASSERT_GT(fake.udpQueries(), 0) << "dynmx does not ask the fake server";

  FaultClass dns("dns");
  auto fault = [&](FakeDnsBehaviour::Udp udp, FakeDnsBehaviour::Tcp tcp, const std::string& address) {
    return [&fake, udp, tcp, address] {
      FakeDnsBehaviour b;
      b.udp = udp;
      b.tcp = tcp;
      b.address = address;
      fake.set(b);
    };
  };
  auto restore = [&] { fake.set(good); };
  using Udp = FakeDnsBehaviour::Udp;
  using Tcp = FakeDnsBehaviour::Tcp;

  dns.scenario("servfail", [&](Scenario& s) {
    runUnsafeFault(s, w, "servfail",
                   {fault(Udp::ServFail, Tcp::Answer, testbed::kWorldAddress),
                    restore,
                    {"no authoritative answer", ": servfail"},
                    "ddns.",
                    0});
  });
  dns.scenario("refused", [&](Scenario& s) {
    runUnsafeFault(s, w, "refused",
                   {fault(Udp::Refused, Tcp::Answer, testbed::kWorldAddress),
                    restore,
                    {"no authoritative answer", ": refused"},
                    "ddns.",
                    0});
  });
  dns.scenario("silent", [&](Scenario& s) {
    runUnsafeFault(s, w, "silent",
                   {fault(Udp::Silent, Tcp::Close, testbed::kWorldAddress),
                    restore,
                    {"no authoritative answer", ": timeout"},
                    "ddns.",
                    0});
  });
  // The right address, from a server that does not claim authority (a cache, a forwarder,
  // a misconfigured secondary): no proof that the zone says so. Mail leaves direct and
  // status names the missing AA bit.
  dns.scenario("answer-without-aa", [&](Scenario& s) {
    runUnsafeFault(s, w, "answer-without-aa",
                   {fault(Udp::NoAa, Tcp::Answer, testbed::kWorldAddress),
                    restore,
                    {"answer without the aa bit"},
                    "ddns.",
                    0});
  });
  dns.scenario("wrong-answer-fake", [&](Scenario& s) {
    runUnsafeFault(s, w, "wrong-answer-fake",
                   {fault(Udp::Answer, Tcp::Answer, testbed::kWorldHijacker),
                    restore,
                    {std::string("resolves to ") + testbed::kWorldHijacker},
                    "ddns.mismatch",
                    1});
  });

  dns.scenario("truncated-udp-tcp-answers", [&](Scenario& s) {
    // TC=1 over UDP, the true answer over TCP: dynmx must follow to TCP, verify, stay direct.
    ASSERT_TRUE(w.waitForMode("direct", kModeBound)) << w.daemon->log();
    const std::size_t journalBefore = statusOf(w)["switches"].size();
    const long tcpBefore = fake.tcpAnswers();
    fault(Udp::Truncate, Tcp::Answer, testbed::kWorldAddress)();
    // Verification runs every second; enough TCP answers to outlast ddns_failing_max (2 s)
    // several times over. Then the truth is visible in status.
    ASSERT_TRUE(eventually([&] { return fake.tcpAnswers() >= tcpBefore + 8; }, kModeBound))
        << "dynmx did not retry over TCP (tcp answers " << fake.tcpAnswers() - tcpBefore << ")";
    Json st = statusOf(w);
    ASSERT_TRUE(daemonAnswers(w)) << w.daemon->log();
    EXPECT_EQ(st["mode"]["current"], "direct") << st["mode"].dump(2);
    EXPECT_FALSE(switchedToAfter(st, journalBefore, "multidrop")) << st["switches"].dump(2);
    EXPECT_EQ(hostRow(st)["verified"], true) << hostRow(st).dump(2);
    EXPECT_EQ(st["ddns_health"]["state"], "healthy") << st["ddns_health"].dump(2);
    EXPECT_EQ(st["health"], "ok") << st.dump(2);
    EXPECT_EQ(w.dovecot->count("office"), 0u);
    restore();
    s.lost = 0;  // on direct no mail goes through the ISP box (checked empty above)
  });

  dns.scenario("truncated-udp-tcp-closed", [&](Scenario& s) {
    runUnsafeFault(s, w, "truncated-udp-tcp-closed",
                   {fault(Udp::Truncate, Tcp::Close, testbed::kWorldAddress),
                    restore,
                    {"no authoritative answer"},
                    "ddns.",
                    0});
  });

  dns.report();
  ASSERT_TRUE(daemonAnswers(w));
  w.daemon->stop(20s);
}

}  // namespace
}  // namespace dynmx::fault
