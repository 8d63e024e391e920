// Fault class "fetchmail" in the senders' world: the fetching side breaks while the
// senders' mail reaches the office only through the ISP box. dynmx steers example.com's
// MX (rfc2136), so on multidrop the published MX set is the ISP's and the senders' Postfix
// delivers there. Two worlds (two TESTs, so ctest runs them side by side), each with the
// four faults in turn while the senders keep sending (one message a second):
//   Multidrop  — `mode = "multidrop"`;
//   AutoHijack — `mode = "auto"`, the office's record hijacked first (dynmx leaves direct
//                for multidrop before the stream starts); back to direct at the end once
//                the record is ours again.
// The faults: auth-failure (a wrong ISP password), isp-down (the ISP's mailbox store down:
// dovecot stopped, the ISP's Postfix defers and queues; then both back), binary-missing
// (`[fetchmail] binary` does not exist: the rc cannot be validated), crashing (a wrapper
// that validates with the real fetchmail but dies of SIGSEGV when polling).
// Each scenario: inject, see status name the problem (and the health say how bad), see that
// nothing the senders sent after that got through before the restore, restore, see every
// copy the senders sent from the injection to the restore delivered exactly once
// to the right user, the status healthy again and the daemon alive throughout. The world's
// final count: nothing lost, nothing duplicated, nothing left at the ISP, nothing at the
// hijacker. Each TEST reports the class's summary line (tests/fault/fault_class.hpp).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>

#include "dns_fetchmail_support.hpp"
#include "fault_class.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;
using fault::replaced;

constexpr auto kNamedBound = 60s;      // status names a fault (fetchmail polls every 10 s)
constexpr auto kDeliveryBound = 150s;  // mail after a restore (a crash back-off may be pending)
constexpr const char* kMultidropMx = "10 mx.isp.example.";

/// `policy` with another fetchmail binary.
std::string withBinary(const std::string& policy, const std::string& binary) {
  return replaced(policy, "[fetchmail]\n", "[fetchmail]\nbinary = \"" + binary + "\"\n");
}

bool hasHealthReason(const Json& status, const std::string& code) {
  for (const auto& r : status["health_reasons"])
    if (r["code"] == code) return true;
  return false;
}

bool hasFetchmailReason(const Json& status) {
  for (const auto& r : status["health_reasons"])
    if (r["code"].get<std::string>().rfind("fetchmail.", 0) == 0) return true;
  return false;
}

Json statusOf(const World& w) {
  auto s = w.status();
  return s ? *s : Json::object();
}

/// Occurrences of `what` in `text`.
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// What one fetchmail fault looks like.
struct FetchmailFault {
  std::function<void()> inject;
  /// True once status names the fault (and says how bad it is).
  std::function<bool(const Json&)> named;
  std::string namedWhat;  ///< for the failure message
  /// Checked while the fault lasts, after it is named (optional).
  std::function<void()> during;
  std::function<void()> restore;
  /// Under `auto` with the record hijacked: DDNS is failing throughout (health at least a
  /// WARNING), so only fetchmail's own health is compared.
  bool hijacked = false;
};

/// The common course of a fetchmail fault.
void runFetchmailFault(fault::Scenario& s, World& w, const std::string& tag, const FetchmailFault& f) {
  // Precondition: multidrop, fetchmail running, all well.
  ASSERT_TRUE(testbed::eventually(
      [&] {
        Json st = statusOf(w);
        return st["mode"]["current"] == "multidrop" && st["fetchmail"]["running"] == true &&
               (f.hijacked ? !hasFetchmailReason(st) : st["health"] == "ok");
      },
      kNamedBound))
      << "precondition for " << tag << ":\n"
      << statusOf(w).dump(2);
  const std::size_t journalBefore = statusOf(w)["switches"].size();
  const long requestsBefore = w.providerRequests();
  const double from = w.elapsed();

  f.inject();
  if (::testing::Test::HasFatalFailure()) return;
  Json named;
  ASSERT_TRUE(testbed::eventually(
      [&] {
        named = statusOf(w);
        return !named.empty() && f.named(named);
      },
      kNamedBound))
      << tag << ": status does not name " << f.namedWhat << ":\n"
      << named.dump(2) << "\n"
      << w.daemonLog();
  std::cout << "[ named    ] " << tag << ": " << named["health"].dump() << " "
            << named["health_reasons"].dump() << std::endl;
  // The senders keep sending while the fault lasts (their mail waits at the ISP).
  const double namedAt = w.elapsed();
  ASSERT_TRUE(testbed::eventually([&] { return w.account(namedAt).messages >= 2; }, 15s))
      << ::testing::PrintToString(w.feederErrors());
  if (f.during) f.during();

  // While the fault lasts: alive, multidrop (the safe mode), never direct.
  ASSERT_TRUE(w.daemonAnswers()) << tag << ": the daemon died\n" << w.daemonLog();
  Json during = statusOf(w);
  EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
  EXPECT_EQ(during["mode"]["wanted"], "multidrop") << during["mode"].dump(2);
  EXPECT_FALSE(fault::switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);

  // The fault really holds the mail back: nothing sent since it was named got through.
  {
    const Account held = w.account(namedAt, w.elapsed());
    EXPECT_EQ(held.direct + held.viaIsp, 0) << tag << ": mail got through during the fault\n"
                                            << held.toJson().dump(2);
  }
  const double restoredAt = w.elapsed();
  f.restore();
  if (::testing::Test::HasFatalFailure()) return;
  // Every copy sent during the fault reaches its user.
  Account a;
  EXPECT_TRUE(testbed::eventually(
      [&] {
        a = w.account(from, restoredAt);
        return a.direct + a.viaIsp >= a.copies && a.fetching == 0;
      },
      kDeliveryBound))
      << tag << ": mail sent during the fault not delivered after the restore\n"
      << a.toJson().dump(2) << "\n"
      << statusOf(w).dump(2) << "\n"
      << w.logs();
  // Healthy again: the fault is no longer named once fetchmail works.
  Json after;
  EXPECT_TRUE(testbed::eventually(
      [&] {
        after = statusOf(w);
        return (f.hijacked ? !hasFetchmailReason(after) : after["health"] == "ok") &&
               after["fetchmail"]["running"] == true;
      },
      kNamedBound))
      << tag << ": status still unhealthy after the restore:\n"
      << after.dump(2);
  ASSERT_TRUE(w.daemonAnswers()) << tag << ": the daemon died\n" << w.daemonLog();
  if (!f.hijacked) {
    EXPECT_EQ(w.providerRequests(), requestsBefore)
        << tag << ": a fetchmail fault is no reason to update DDNS";
  }
  a = w.account(from, restoredAt);
  std::cout << "[ copies   ] " << tag << ": " << a.toJson().dump() << std::endl;
  EXPECT_GT(a.copies, 0) << tag << ": the senders sent nothing during the fault";
  EXPECT_EQ(a.misdirected, 0) << a.toJson().dump(2);
  for (const auto& p : a.problems) ADD_FAILURE() << tag << ": " << p;
  s.lost = a.lost + a.duplicates + a.misdirected;
}

/// The four faults on `w`, reported as fault class "fetchmail".
void runFetchmailFaults(World& w, bool hijacked, const std::string& prefix) {
  const std::string policy = w.goodPolicy();
  const std::string passwordFile = w.dir() + "/isp.password";
  FaultClass fm("fetchmail");
  auto password = [&](const std::string& text) {
    testbed::writeTextFile(passwordFile, text + "\n", 0600);
    fault::giveToDaemonUser(passwordFile);
    auto s = w.reloadPolicy(policy);  // the password lives in the rc: a reload re-renders it
    ASSERT_TRUE(s.ok()) << s.error();
  };
  auto reloadGood = [&] {
    auto s = w.reloadPolicy(policy);
    ASSERT_TRUE(s.ok()) << s.error();
  };
  auto restartWith = [&](const std::string& text) {
    auto s = w.restartDaemonWith(text);
    ASSERT_TRUE(s.ok()) << s.error();
  };

  fm.scenario(prefix + "auth-failure", [&](fault::Scenario& s) {
    FetchmailFault f;
    f.hijacked = hijacked;
    f.inject = [&] { password("not-the-isp-password"); };
    f.namedWhat = "the authentication failure (exit 3, CRITICAL)";
    f.named = [](const Json& st) {
      return st["fetchmail"]["last_exit"] == 3 && hasHealthReason(st, "fetchmail.authfail") &&
             st["health"] == "critical" && st["mode"]["current"] == "multidrop";
    };
    f.restore = [&] { password("isp-secret-W"); };
    runFetchmailFault(s, w, prefix + "auth-failure", f);
    EXPECT_EQ(w.daemonLog().find("not-the-isp-password"), std::string::npos) << "a password in the log";
  });

  fm.scenario(prefix + "isp-down", [&](fault::Scenario& s) {
    FetchmailFault f;
    f.hijacked = hijacked;
    std::size_t deferredBefore = 0;
    f.inject = [&] {
      deferredBefore = occurrences(w.isp().maillog(), "status=deferred");
      auto down = w.ispDown();
      ASSERT_TRUE(down.ok()) << down.error();
    };
    f.namedWhat = "the unreachable ISP (exit 2)";
    f.named = [](const Json& st) {
      const std::string error =
          st["fetchmail"]["last_error"].is_string() ? st["fetchmail"]["last_error"].get<std::string>() : "";
      return st["fetchmail"]["last_exit"] == 2 && error.find("SOCKET") != std::string::npos &&
             hasHealthReason(st, "fetchmail.error") && st["health"] != "ok";
    };
    f.during = [&] {
      // The ISP's Postfix took the senders' mail and keeps it queued: deferred, not bounced.
      EXPECT_TRUE(testbed::eventually(
          [&] {
            return occurrences(w.isp().maillog(), "status=deferred") > deferredBefore &&
                   !w.isp().queueEmpty();
          },
          30s))
          << w.isp().queueListing() << w.logs();
    };
    f.restore = [&] {
      auto up = w.ispUp();
      ASSERT_TRUE(up.ok()) << up.error();
    };
    runFetchmailFault(s, w, prefix + "isp-down", f);
    EXPECT_EQ(w.isp().maillog().find("status=bounced"), std::string::npos) << "the ISP bounced mail";
  });

  fm.scenario(prefix + "binary-missing", [&](fault::Scenario& s) {
    FetchmailFault f;
    f.hijacked = hijacked;
    f.inject = [&] { restartWith(withBinary(policy, "/nonexistent/fetchmail")); };
    f.namedWhat = "the rc that cannot be validated (fetchmail.rc_failed, CRITICAL)";
    f.named = [](const Json& st) {
      return hasHealthReason(st, "fetchmail.rc_failed") && st["health"] == "critical" &&
             st["mode"]["reasons"].dump().find("/nonexistent/fetchmail") != std::string::npos &&
             st["fetchmail"]["running"] == false;
    };
    f.restore = reloadGood;
    runFetchmailFault(s, w, prefix + "binary-missing", f);
  });

  fm.scenario(prefix + "crashing", [&](fault::Scenario& s) {
    // Validation (--configdump) runs the real fetchmail; every poll dies of SIGSEGV at once.
    // fetchmail runs as nobody: 0755.
    const std::string wrapper = w.dir() + "/fetchmail-segv";
    testbed::writeTextFile(wrapper,
                           "#!/bin/sh\n"
                           "for a in \"$@\"; do\n"
                           "  case \"$a\" in --configdump) exec /usr/bin/fetchmail \"$@\";; esac\n"
                           "done\n"
                           "ulimit -c 0\n"
                           "kill -SEGV $$\n",
                           0755);
    FetchmailFault f;
    f.hijacked = hijacked;
    f.inject = [&] { restartWith(withBinary(policy, wrapper)); };
    f.namedWhat = "the crash (signal 11, restarts, fetchmail.failing CRITICAL)";
    f.named = [](const Json& st) {
      const std::string error =
          st["fetchmail"]["last_error"].is_string() ? st["fetchmail"]["last_error"].get<std::string>() : "";
      return error.find("signal 11") != std::string::npos && st["fetchmail"]["restarts"].get<long>() >= 3 &&
             st["health"] == "critical" &&
             (hasHealthReason(st, "fetchmail.failing") || hasHealthReason(st, "fetchmail.not_running"));
    };
    f.restore = reloadGood;
    runFetchmailFault(s, w, prefix + "crashing", f);
  });

  fm.report();
}

/// The multidrop MX set is verified at BIND (before the senders ever resolved example.com).
void waitForMultidropMx(World& w) {
  ASSERT_TRUE(testbed::eventually(
      [&] {
        auto mx = w.dig(kMailDomain, "MX");
        if (!mx.ok() || *mx != kMultidropMx) return false;
        const Json st = statusOf(w);
        for (const auto& m : st["mx"])
          if (m["wanted"] == "multidrop" && m["verified"] == true) return true;
        return false;
      },
      60s))
      << statusOf(w).dump(2) << w.logs();
}

/// The world's final count after the faults: every copy once, none left, none astray.
void expectFinalCount(World& w) {
  auto drained = w.drain(150s);
  ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << w.logs();
  const Account a = w.account();
  std::cout << a.toJson().dump() << std::endl;
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.atIsp, 0);
  EXPECT_EQ(a.misdirected, 0) << "the multidrop MX set was published before the senders resolved";
  EXPECT_GT(a.viaIsp, 0);
  EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
  ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
}

TEST(WorldFetchmailFaults, Multidrop) {
  World w(dynmxBinary(), dyndns2dBinary(), "wffm");
  auto started = w.start({"multidrop", "dedicated", "", true, false});
  ASSERT_TRUE(started.ok()) << started.error();
  waitForMultidropMx(w);
  if (HasFatalFailure()) return;
  w.startStream(1000ms);
  runFetchmailFaults(w, false, "");
  expectFinalCount(w);
  const Account a = w.account();
  EXPECT_EQ(a.viaIsp, a.copies) << "on multidrop every copy comes through the ISP";
}

// The auto variant: dynmx is on direct, the record is hijacked, dynmx leaves for multidrop
// and publishes the multidrop MX set; then fetchmail breaks in each way in turn. Once the
// record is ours again dynmx returns to direct with the ISP box drained.
TEST(WorldFetchmailFaults, AutoHijack) {
  World w(dynmxBinary(), dyndns2dBinary(), "wffh");
  auto started = w.start({"auto", "dedicated", "", true, false});
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(w.setRecord(kHijackAddress).ok());
  waitForMultidropMx(w);
  if (HasFatalFailure()) return;
  w.startStream(1000ms);
  runFetchmailFaults(w, true, "auto-hijack-");
  ASSERT_TRUE(w.setRecord(kOfficeAddress).ok());
  EXPECT_TRUE(testbed::eventually(
      [&] {
        Json st = statusOf(w);
        return st["mode"]["current"] == "direct" && !st["mode"]["switching"].get<bool>();
      },
      90s))
      << w.logs();
  expectFinalCount(w);
}

}  // namespace
}  // namespace dynmx::world
