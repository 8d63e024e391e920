// Fault class "dns" in the senders' world. Two worlds (two TESTs, side by side in ctest):
//
// AuthorityDown — the authoritative server goes down while the senders keep sending. BIND
// (192.0.2.53) serves both the DDNS zone dynmx verifies and example.com's MX the senders
// look up through unbound, so its outage is two faults at once, as it is on the internet
// when an office's DNS host fails:
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
// at the ISP. (The wrong answer at the real authority is the hijack of
// WorldEndToEnd.FailoverAndRecoveryWithoutLosingMail.)
//
// FakeAuthority — dynmx verifies at a fake authoritative server (dns_fake_server.cpp) while
// BIND keeps serving the truth to the senders and takes dynmx's MX updates: only dynmx's
// view of its name is broken. SERVFAIL, REFUSED, silence, the right answer without the AA
// bit, a wrong answer and a truncated UDP answer whose TCP connection is closed follow one
// another in one multidrop episode: each must be named in status on its own while mail stays
// on multidrop (never direct), the multidrop MX set published at BIND moves the senders to
// the ISP, and the mail sent during each fault is delivered once. Then the fake answers
// right again: direct, healthy, the ISP box empty. Last, a truncated UDP answer that TCP
// answers correctly: dynmx follows to TCP and stays on direct.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns_fake_server.hpp"
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

constexpr auto kNamedBound = 30s;    // verification every second, failing max 2 s
constexpr auto kReturnBound = 120s;  // hold-down 8 s, the multidrop MX set's TTL 30 s, the drain

/// Everything status says about the DDNS host, the mode and the exposure, lower-cased.
std::string ddnsText(const Json& st) {
  std::string text = st["ddns"].dump() + " " + st["ddns_health"].dump() + " " + st["mode"]["reasons"].dump() +
                     " " + st["exposure"].dump();
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool directAndSteady(const Json& st) { return steadyOn(st, "direct"); }

TEST(WorldDnsFaults, AuthorityDown) {
  World w(dynmxBinary(), dyndns2dBinary(), "wfdn");
  auto started = w.start({"auto", "dedicated", "", true, false});
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(testbed::eventually([&] { return directAndSteady(statusOf(w)); }, kReturnBound)) << w.logs();
  w.startStream(1000ms);
  // The senders have resolved (and cached) the direct MX set and the office's A record.
  ASSERT_TRUE(testbed::eventually([&] { return w.account().direct > 0; }, 60s)) << w.logs();

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
          return a.direct + a.viaIsp >= a.copies && a.fetching == 0;
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
  expectFinalCount(w);
}


/// The host row of the office's name (or null).
Json officeRow(const Json& st) {
  for (const auto& h : st["ddns"])
    if (h["host"] == kOfficeHost) return h;
  return Json();
}

/// One way the fake authority breaks dynmx's view of its name.
struct ViewFault {
  std::string tag;
  fault::FakeDnsBehaviour behaviour;
  std::vector<std::string> named;  ///< texts status must all show while it lasts (lower case);
                                   ///< the last one is this fault's own, gone with the next
  std::string reasonCode;          ///< the mode reason while it lasts
  bool overTcp = false;            ///< a truncated UDP answer: dynmx must have tried TCP
};

TEST(WorldDnsFaults, FakeAuthority) {
  using Udp = fault::FakeDnsBehaviour::Udp;
  using Tcp = fault::FakeDnsBehaviour::Tcp;
  fault::FakeDnsBehaviour good;
  good.address = kOfficeAddress;
  auto fakeStarted = fault::FakeDnsServer::start(good);
  ASSERT_TRUE(fakeStarted.ok()) << fakeStarted.error();
  fault::FakeDnsServer& fake = **fakeStarted;

  World w(dynmxBinary(), dyndns2dBinary(), "wffa");
  DaemonSetup setup;
  setup.mxSteering = true;
  setup.verifyServers = {"127.0.0.1:" + std::to_string(fake.port())};
  auto started = w.start(setup);
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(testbed::eventually([&] { return directAndSteady(statusOf(w)); }, kReturnBound)) << w.logs();
  ASSERT_GT(fake.udpQueries(), 0) << "dynmx does not ask the fake server";
  w.startStream(1000ms);

  auto behaviour = [](Udp udp, Tcp tcp, const std::string& address) {
    fault::FakeDnsBehaviour b;
    b.udp = udp;
    b.tcp = tcp;
    b.address = address;
    return b;
  };
  const std::vector<ViewFault> faults = {
      {"servfail", behaviour(Udp::ServFail, Tcp::Answer, kOfficeAddress), {"no authoritative answer", ": servfail"}, "ddns."},
      {"refused", behaviour(Udp::Refused, Tcp::Answer, kOfficeAddress), {"no authoritative answer", ": refused"}, "ddns."},
      {"silent", behaviour(Udp::Silent, Tcp::Close, kOfficeAddress), {"no authoritative answer", ": timeout"}, "ddns."},
      // The right address from a server that does not claim authority (a cache, a
      // forwarder, a misconfigured secondary): no proof that the zone says so.
      {"answer-without-aa", behaviour(Udp::NoAa, Tcp::Answer, kOfficeAddress), {"answer without the aa bit"}, "ddns."},
      {"truncated-udp-tcp-closed", behaviour(Udp::Truncate, Tcp::Close, kOfficeAddress), {"no authoritative answer"}, "ddns.",
       true},
      // The fake says the name points elsewhere: dynmx may tell the provider once (which
      // pushes the same address into BIND); the senders never see the wrong answer.
      {"wrong-answer-fake", behaviour(Udp::Answer, Tcp::Answer, kHijackAddress),
       {std::string("resolves to ") + kHijackAddress}, "ddns.mismatch"},
  };

  FaultClass dns("dns");
  const std::size_t journalBefore = statusOf(w)["switches"].size();
  const long requestsBefore = w.providerRequests();
  const double episodeFrom = w.elapsed();
  std::optional<double> steeredAt;  // the multidrop MX set verified at BIND
  std::string previous;             // the previous fault's own text: gone once this one is seen
  for (const auto& f : faults) {
    dns.scenario(f.tag, [&](fault::Scenario& s) {
      const double from = w.elapsed();
      const long tcpBefore = fake.tcpConnections();
      fake.set(f.behaviour);
      Json named;
      ASSERT_TRUE(testbed::eventually(
          [&] {
            named = statusOf(w);
            const std::string text = ddnsText(named);
            if (named["mode"]["current"] != "multidrop") return false;
            if (!previous.empty() && text.find(previous) != std::string::npos) return false;
            if (f.overTcp && fake.tcpConnections() <= tcpBefore) return false;
            for (const auto& want : f.named)
              if (text.find(want) == std::string::npos) return false;
            return true;
          },
          kNamedBound))
          << f.tag << ": not on multidrop with \"" << f.named.front() << "\" (and the rest) named:\n"
          << named.dump(2) << "\n"
          << w.daemonLog();
      std::cout << "[ named    ] " << f.tag << ": " << officeRow(named)["verification"].dump() << std::endl;
      EXPECT_NE(named["mode"]["reasons"].dump().find(f.reasonCode), std::string::npos) << named["mode"].dump(2);
      EXPECT_EQ(officeRow(named)["verified"], false) << officeRow(named).dump(2);
      EXPECT_NE(named["health"], "ok") << named.dump(2);
      if (journalBefore < named["switches"].size()) {
        const Json& first = named["switches"][journalBefore];
        EXPECT_EQ(first["to"], "multidrop") << first.dump(2);
      }
      previous = f.named.back();
      if (!steeredAt) {
        // The first fault: dynmx steers the senders to the ISP (BIND takes the update), and
        // once their cached direct set (30 s) expires, their mail comes through the ISP box.
        ASSERT_TRUE(testbed::eventually([&] { return multidropMxVerified(w); }, 60s)) << statusOf(w).dump(2);
        steeredAt = w.elapsed();
        EXPECT_TRUE(testbed::eventually([&] { return w.account(*steeredAt + kMxTtlSeconds + 2).viaIsp > 0; }, 90s))
            << "the senders never came through the ISP\n"
            << w.account(*steeredAt).toJson().dump(2);
      }

      // The mail sent since this fault began is delivered once (through the ISP box once
      // the senders' cached direct MX set expired), none misdirected.
      const double namedAt = w.elapsed();
      Account a;
      EXPECT_TRUE(testbed::eventually(
          [&] {
            a = w.account(from, namedAt);
            return a.direct + a.viaIsp >= a.copies && a.atIsp == 0 && a.fetching == 0;
          },
          90s))
          << f.tag << ": mail not delivered on multidrop\n"
          << a.toJson().dump(2) << "\n"
          << w.logs();
      std::cout << "[ copies   ] " << f.tag << ": " << a.toJson().dump() << std::endl;
      EXPECT_EQ(a.misdirected, 0);
      for (const auto& p : a.problems) ADD_FAILURE() << f.tag << ": " << p;

      // Still multidrop, never direct since the episode began; fetchmail runs; the daemon
      // answers; the provider saw only what a wrong answer justifies.
      ASSERT_TRUE(w.daemonAnswers()) << f.tag << ": the daemon died\n" << w.daemonLog();
      const Json during = statusOf(w);
      EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
      EXPECT_FALSE(fault::switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);
      EXPECT_EQ(during["fetchmail"]["running"], true) << during["fetchmail"].dump(2);
      EXPECT_LE(w.providerRequests() - requestsBefore, f.reasonCode == "ddns.mismatch" ? 1 : 0) << f.tag;
      s.lost = a.lost + a.duplicates + a.misdirected;
    });
  }

  dns.scenario("fake-answers-right-again", [&](fault::Scenario& s) {
    const double restoredAt = w.elapsed();
    fake.set(good);
    Json back;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          back = statusOf(w);
          return directAndSteady(back) && back["health"] == "ok";
        },
        kReturnBound))
        << "not back to direct and healthy:\n"
        << back.dump(2) << "\n"
        << w.daemonLog();
    EXPECT_EQ(officeRow(back)["verified"], true) << officeRow(back).dump(2);
    Account a;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(episodeFrom, restoredAt);
          return a.direct + a.viaIsp >= a.copies && a.atIsp == 0 && a.fetching == 0;
        },
        kReturnBound))
        << "mail of the episode not delivered, or left at the ISP\n"
        << a.toJson().dump(2) << "\n"
        << w.logs();
    std::cout << "[ copies   ] episode: " << a.toJson().dump() << std::endl;
    // The senders really moved: what they sent once the multidrop set was verified and
    // their cached direct set (30 s) had expired came through the ISP, none direct.
    ASSERT_TRUE(steeredAt.has_value());
    const Account moved = w.account(*steeredAt + kMxTtlSeconds + 2, restoredAt);
    EXPECT_GT(moved.viaIsp, 0) << moved.toJson().dump(2);
    EXPECT_EQ(moved.direct, 0) << "senders still delivered directly while steered\n" << moved.toJson().dump(2);
    EXPECT_EQ(a.misdirected, 0);
    for (const auto& p : a.problems) ADD_FAILURE() << "episode: " << p;
    s.lost = a.lost + a.duplicates + a.misdirected;
  });

  dns.scenario("truncated-udp-tcp-answers", [&](fault::Scenario&) {
    // TC=1 over UDP, the true answer over TCP: dynmx must follow to TCP, verify, stay direct.
    const std::size_t switchesBefore = statusOf(w)["switches"].size();
    const long tcpBefore = fake.tcpAnswers();
    fake.set(behaviour(Udp::Truncate, Tcp::Answer, kOfficeAddress));
    // Verification runs every second; enough TCP answers to outlast ddns_failing_max (2 s)
    // several times over.
    ASSERT_TRUE(testbed::eventually([&] { return fake.tcpAnswers() >= tcpBefore + 8; }, 60s))
        << "dynmx did not retry over TCP (tcp answers " << fake.tcpAnswers() - tcpBefore << ")";
    const Json st = statusOf(w);
    ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
    EXPECT_EQ(st["mode"]["current"], "direct") << st["mode"].dump(2);
    EXPECT_FALSE(fault::switchedToAfter(st, switchesBefore, "multidrop")) << st["switches"].dump(2);
    EXPECT_EQ(officeRow(st)["verified"], true) << officeRow(st).dump(2);
    EXPECT_EQ(st["ddns_health"]["state"], "healthy") << st["ddns_health"].dump(2);
    EXPECT_EQ(st["health"], "ok") << st.dump(2);
    fake.set(good);
  });
  dns.report();
  expectFinalCount(w);
}

}  // namespace
}  // namespace dynmx::world
