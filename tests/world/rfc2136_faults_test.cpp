// Fault class "rfc2136" in the senders' world: dynmx publishes the office's address by
// RFC 2136 straight into BIND's DDNS zone (DaemonSetup::rfc2136: no dyndns2 provider in
// the way), and every way the primary can refuse or miss that update happens while the
// senders keep sending (one message a second, by MX, through unbound).
//
// dynmx first runs healthy on direct. Then, as on a fresh install with a broken key, it is
// stopped, its state removed, the office's A record deleted, and it starts again with a
// wrong secret: its first publication meets BADSIG. The faults then follow one another in
// one multidrop episode, each while the last one still stops publication:
//   daemon-badsig       the key's secret differs from BIND's (present at the start);
//   daemon-badkey       a new key file names a key BIND does not know;
//   daemon-refused      BIND's update-policy no longer grants A (BIND restarted with a
//                       TXT-only grant), the right key again;
//   daemon-primary-down the grant back, the right key, and BIND down when dynmx starts
//                       afresh again: connection refused, retried after the back-off
//                       (1 minute); BIND back, the address published, mail back on direct.
//                       (Without the fresh start, the first version of this test met a
//                       back-off of 8 minutes: the streak of the old configuration's
//                       failures. A changed configuration now counts from 1 again,
//                       ScheduleTest.AChangedConfigurationStartsTheTransientBackoffOver.)
// A fatal answer stops publication until the account changes: each new key file is that
// change, so each fault is met by a fresh try. In each: mail on multidrop and never direct,
// status (JSON and text) names the fault, nothing is published, the dyndns2 provider gets
// nothing, and the senders' mail (no office record: their MX 10 has no address, so they use
// MX 20) is fetched from the ISP box and delivered once (primary-down: their Postfix defers
// while nobody answers for example.com, and delivers after). The world's final count: every
// copy once, none lost, left at the ISP or misdirected.
// (The updater's own outcomes, NOTAUTH and the over-size update over TCP among them, are
// Rfc2136Faults.Updater against a real named in tests/fault/rfc2136_faults_test.cpp.)
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "dns_fetchmail_support.hpp"
#include "fault_class.hpp"
#include "fault_world.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;

constexpr const char* kOtherSecret = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=";
constexpr auto kNamedBound = 60s;     // a new key file is read at the next detection pass (2 s)
constexpr auto kDeliveryBound = 90s;  // fetchmail polls every 10 s
constexpr auto kPublishBound = 150s;  // the connection-refused back-off is 1 minute
constexpr auto kReturnBound = 120s;   // hold-down 8 s, the way back's drain

/// BIND again with `grant` as what its DDNS key may update in the DDNS zone.
Status<> restartAuthorityGranting(World& w, const std::string& grant) {
  if (auto s = w.authorityDown(); !s.ok()) return s;
  const std::string conf = w.dir() + "/named/named.conf";
  std::string text = testbed::slurp(conf);
  // The DDNS zone's policy is the only `zonesub` grant (example.com grants dynmx-mx by name).
  const auto at = text.find(" zonesub ");
  if (at == std::string::npos) return fail("no zonesub grant in " + conf);
  text.replace(at + 9, text.find(';', at) - at - 9, grant);
  testbed::writeTextFile(conf, text, 0644);
  return w.authorityUp();
}

/// One fault of the episode.
struct PublishFault {
  std::string tag;
  std::function<void(World&)> inject;  ///< turns the previous fault into this one
  std::string named;                   ///< what status (JSON) must show while it lasts
  std::string printed;                 ///< what `dynmx status` must print ("" = named)
  bool authorityDown = false;          ///< the senders cannot resolve example.com meanwhile
};

void runPublishFault(fault::Scenario& s, World& w, const PublishFault& f, std::size_t journalBefore) {
  const double from = w.elapsed();
  f.inject(w);
  if (::testing::Test::HasFatalFailure()) return;
  Json st;
  ASSERT_TRUE(testbed::eventually(
      [&] {
        st = statusOf(w);
        return st["mode"]["current"] == "multidrop" && st.dump().find(f.named) != std::string::npos;
      },
      kNamedBound))
      << f.tag << ": status does not name " << f.named << ":\n"
      << st.dump(2) << "\n"
      << w.daemonLog();
  EXPECT_NE(st["health"], "ok") << st.dump(2);
  const auto text = w.statusText();
  const std::string printed = f.printed.empty() ? f.named : f.printed;
  EXPECT_NE(text.second.find(printed), std::string::npos) << text.second;
  std::cout << "[ named    ] " << f.tag << ": " << text.second.substr(0, text.second.find('\n', 200)) << std::endl;
  if (!f.authorityDown) {
    auto a = w.dig(kOfficeHost);
    ASSERT_TRUE(a.ok()) << a.error();
    EXPECT_EQ(*a, "") << f.tag << ": nothing may be published";
  }

  // The senders' mail of this fault: once their cached A record (10 s) has expired they
  // find no address for MX 10 and use MX 20; fetched from the ISP box, delivered once.
  if (!f.authorityDown) {
    EXPECT_TRUE(testbed::eventually([&] { return w.account(from).viaIsp > 0; }, kDeliveryBound))
        << f.tag << ": nothing came through the ISP\n"
        << w.account(from).toJson().dump(2) << "\n"
        << w.logs();
    const double seenAt = w.elapsed();
    Account a;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(from, seenAt);
          return a.copies > 0 && a.direct + a.viaIsp >= a.copies && a.atIsp == 0 && a.fetching == 0;
        },
        kDeliveryBound))
        << f.tag << ": mail not delivered on multidrop\n"
        << a.toJson().dump(2) << "\n"
        << w.logs();
    std::cout << "[ copies   ] " << f.tag << ": " << a.toJson().dump() << std::endl;
    EXPECT_GT(a.viaIsp, 0) << f.tag << ": nothing came through the ISP\n" << a.toJson().dump(2);
    EXPECT_EQ(a.misdirected, 0);
    for (const auto& p : a.problems) ADD_FAILURE() << f.tag << ": " << p;
    s.lost = a.lost + a.duplicates + a.misdirected;
  }
  ASSERT_TRUE(w.daemonAnswers()) << f.tag << ": the daemon died\n" << w.daemonLog();
  const Json during = statusOf(w);
  EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
  EXPECT_FALSE(fault::switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);
  EXPECT_EQ(w.providerRequests(), 0) << "an rfc2136 account never asks the dyndns2 provider";
}

TEST(WorldRfc2136Faults, PublicationRefusedAndPrimaryDown) {
  World w(dynmxBinary(), dyndns2dBinary(), "wf21");
  DaemonSetup setup;
  setup.rfc2136 = true;
  auto started = w.start(setup);
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(testbed::eventually([&] { return steadyOn(statusOf(w), "direct"); }, kReturnBound)) << w.logs();
  EXPECT_EQ(w.providerRequests(), 0);
  const long requestsAtStart = w.providerRequests();
  w.startStream(1000ms);

  // The fresh install with a wrong secret: no state, no record, BADSIG at the first try.
  w.stopDaemon();
  std::filesystem::remove_all(w.dir() + "/state");
  ASSERT_TRUE(w.deleteRecord().ok());
  w.writeDdnsKey("", kOtherSecret);
  ASSERT_TRUE(w.restartDaemonWith(w.goodPolicy()).ok()) << w.daemonLog();
  const std::size_t journalBefore = statusOf(w)["switches"].size();
  const double episodeFrom = w.elapsed();

  FaultClass rfc("rfc2136");
  rfc.scenario("daemon-badsig", [&](fault::Scenario& s) {
    runPublishFault(s, w, {"daemon-badsig", [](World&) {}, "BADSIG"}, journalBefore);
  });
  rfc.scenario("daemon-badkey", [&](fault::Scenario& s) {
    runPublishFault(s, w, {"daemon-badkey", [](World& world) { world.writeDdnsKey("not-on-the-server"); }, "BADKEY"},
                    journalBefore);
  });
  rfc.scenario("daemon-refused", [&](fault::Scenario& s) {
    runPublishFault(s, w,
                    {"daemon-refused",
                     [](World& world) {
                       auto r = restartAuthorityGranting(world, "TXT");
                       ASSERT_TRUE(r.ok()) << r.error();
                       world.writeDdnsKey();
                     },
                     "REFUSED"},
                    journalBefore);
  });
  rfc.scenario("daemon-primary-down", [&](fault::Scenario& s) {
    // The grant back and the right key, but BIND down when dynmx starts afresh: the
    // loopback test's "primary down at start". Connection refused, retried after the first
    // failure's back-off (1 minute). The printed report names the engine's result code.
    runPublishFault(s, w,
                    {"daemon-primary-down",
                     [](World& world) {
                       auto r = restartAuthorityGranting(world, "A AAAA TXT MX");
                       ASSERT_TRUE(r.ok()) << r.error();
                       world.stopDaemon();
                       std::filesystem::remove_all(world.dir() + "/state");
                       world.writeDdnsKey();
                       ASSERT_TRUE(world.authorityDown().ok());
                       auto d = world.restartDaemonWith(world.goodPolicy());
                       ASSERT_TRUE(d.ok()) << d.error();
                     },
                     "connection-refused", "connect-error", true},
                    0);
    if (::testing::Test::HasFatalFailure()) return;

    // BIND back: the retry after the back-off publishes, mail returns to direct.
    const double restoredAt = w.elapsed();
    ASSERT_TRUE(w.authorityUp().ok());
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto a = w.dig(kOfficeHost);
          return a.ok() && *a == w.officeAddress();
        },
        kPublishBound))
        << "not published after the fix\n"
        << statusOf(w).dump(2);
    Json back;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          back = statusOf(w);
          return steadyOn(back, "direct") && back["health"] == "ok";
        },
        kReturnBound))
        << "not back to direct and healthy:\n"
        << back.dump(2) << "\n"
        << w.daemonLog();
    // Every copy of the episode: delivered once (what the senders deferred while BIND was
    // down among them), none misdirected.
    Account a;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(episodeFrom, restoredAt);
          return a.direct + a.viaIsp >= a.copies && a.atIsp == 0 && a.fetching == 0;
        },
        kDeliveryBound))
        << "mail of the episode not delivered\n"
        << a.toJson().dump(2) << "\n"
        << w.logs();
    std::cout << "[ copies   ] episode: " << a.toJson().dump() << std::endl;
    EXPECT_EQ(a.misdirected, 0);
    for (const auto& p : a.problems) ADD_FAILURE() << "episode: " << p;
    s.lost = a.lost + a.duplicates + a.misdirected;
  });
  rfc.report();

  expectFinalCount(w);
  EXPECT_EQ(w.providerRequests(), requestsAtStart);
}

}  // namespace
}  // namespace dynmx::world
