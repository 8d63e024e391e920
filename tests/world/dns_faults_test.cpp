// Fault class "dns" in the senders' world: the authoritative server goes down while the
// senders keep sending. BIND (192.0.2.53) serves both the DDNS zone dynmx verifies and
// example.com's MX the senders look up through unbound, so its outage is two faults at
// once, as it is on the internet when an office's DNS host fails:
//   - dynmx can neither verify its name nor steer the MX: it must leave direct (the name is
//     unverifiable), say why in status (no authoritative answer, the server refusing the
//     connection) and that the office is exposed (the multidrop MX set cannot be published),
//     and send the provider nothing the fault does not justify;
//   - the senders use what their resolver cached (the direct MX set, the office's A record)
//     until it expires, then cannot resolve example.com's MX at all: their Postfix defers
//     and queues, and delivers once BIND answers again.
// Then BIND comes back from its own config (its journals keep every update made before):
// dynmx verifies again, waits out the hold-down and returns to direct. Every copy the
// senders sent during the outage is delivered exactly once, none to a stranger, none left
// at the ISP. (The wrong-answer case of the loopback test is the hijack of
// WorldEndToEnd.FailoverAndRecoveryWithoutLosingMail; the fake authority's failures,
// SERVFAIL, REFUSED, silence, no AA, truncation, stay in tests/fault/dns_faults_test.cpp.)
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "dns_fetchmail_support.hpp"
#include "fault_class.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;

constexpr auto kNamedBound = 30s;    // verification every second, failing max 2 s
constexpr auto kReturnBound = 120s;  // hold-down 8 s, the multidrop MX set's TTL 30 s, the drain

Json statusOf(const World& w) {
  auto s = w.status();
  return s ? *s : Json::object();
}

/// Everything status says about the DDNS host, the mode and the exposure, lower-cased.
std::string ddnsText(const Json& st) {
  std::string text = st["ddns"].dump() + " " + st["ddns_health"].dump() + " " + st["mode"]["reasons"].dump() +
                     " " + st["exposure"].dump();
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool directAndSteady(const Json& st) {
  return st["mode"]["current"] == "direct" && !st["mode"]["switching"].get<bool>() && st["mode"]["step"].is_null();
}

TEST(WorldDnsFaults, AuthorityDown) {
  World w(dynmxBinary(), dyndns2dBinary(), "wfdn");
  auto started = w.start({"auto", "dedicated", "", true, false});
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(testbed::eventually([&] { return directAndSteady(statusOf(w)); }, kReturnBound)) << w.logs();
  w.startStream(1000ms);
  std::this_thread::sleep_for(3s);  // the senders cache the direct MX set and the office's A

  FaultClass dns("dns");
  dns.scenario("authority-down", [&](fault::Scenario& s) {
    const std::size_t journalBefore = statusOf(w)["switches"].size();
    const long requestsBefore = w.providerRequests();
    const double from = w.elapsed();
    ASSERT_TRUE(w.authorityDown().ok());

    // dynmx: multidrop, and status says why and that the office is exposed.
    Json named;
    ASSERT_TRUE(testbed::eventually(
        [&] {
          named = statusOf(w);
          const std::string text = ddnsText(named);
          return named["mode"]["current"] == "multidrop" && text.find("no authoritative answer") != std::string::npos &&
                 text.find("connection-refused") != std::string::npos && named["exposure"]["exposed"] == true;
        },
        kNamedBound))
        << "status does not name the authority's outage:\n"
        << named.dump(2) << "\n"
        << w.daemonLog();
    std::cout << "[ named    ] authority-down: " << named["health"].dump() << " " << named["health_reasons"].dump()
              << std::endl;
    EXPECT_NE(named["health"], "ok") << named.dump(2);
    EXPECT_NE(named["mode"]["reasons"].dump().find("ddns.resolution_failing"), std::string::npos)
        << named["mode"].dump(2);
    EXPECT_NE(named["exposure"]["text"].get<std::string>().find("example.com"), std::string::npos)
        << named["exposure"].dump(2);

    // The senders' caches expire (the A record's 10 s, the direct set's 30 s): then they
    // cannot resolve example.com's MX and their Postfix defers, never bounces.
    const double downAt = w.elapsed();
    ASSERT_TRUE(testbed::eventually(
        [&] { return w.senders().maillog().find("status=deferred") != std::string::npos; }, 60s))
        << w.senders().maillog();
    ASSERT_TRUE(testbed::eventually([&] { return w.elapsed() >= downAt + 35; }, 40s));
    EXPECT_EQ(w.senders().maillog().find("status=bounced"), std::string::npos) << w.senders().maillog();
    {
      // What the senders sent after their caches had certainly expired reached nobody yet.
      const Account held = w.account(downAt + 32, w.elapsed());
      EXPECT_GT(held.messages, 0);
      EXPECT_EQ(held.direct + held.viaIsp + held.misdirected, 0)
          << "mail got through while nobody could resolve example.com's MX\n"
          << held.toJson().dump(2);
    }
    ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
    Json during = statusOf(w);
    EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
    EXPECT_FALSE(fault::switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);
    EXPECT_EQ(w.providerRequests(), requestsBefore) << "an unreachable authority is no reason to update DDNS";

    // BIND again: dynmx verifies, publishes the multidrop set it could not, and returns to
    // direct after the hold-down; the senders' queues drain.
    const double restoredAt = w.elapsed();
    ASSERT_TRUE(w.authorityUp().ok());
    Json back;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          back = statusOf(w);
          return directAndSteady(back) && back["health"] == "ok";
        },
        kReturnBound))
        << "not back to direct and healthy after the authority returned:\n"
        << back.dump(2) << "\n"
        << w.daemonLog();
    EXPECT_EQ(w.providerRequests(), requestsBefore) << "the address never changed";
    Account a;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(from, restoredAt);
          return a.direct + a.viaIsp >= a.copies;
        },
        kReturnBound))
        << "mail sent during the outage not delivered\n"
        << a.toJson().dump(2) << "\n"
        << w.logs();
    std::cout << "[ copies   ] authority-down: " << a.toJson().dump() << std::endl;
    EXPECT_GT(a.copies, 0);
    EXPECT_EQ(a.misdirected, 0);
    for (const auto& p : a.problems) ADD_FAILURE() << "authority-down: " << p;
    s.lost = a.lost + a.duplicates + a.misdirected;
  });
  dns.report();

  auto drained = w.drain(150s);
  ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << w.logs();
  const Account a = w.account();
  std::cout << a.toJson().dump() << std::endl;
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.atIsp, 0);
  EXPECT_EQ(a.misdirected, 0);
  EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
  ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
}

}  // namespace
}  // namespace dynmx::world
