// Fault class "fetchmail": the fetching side breaks while mail must come from the ISP box.
// The policy forces `mode = "multidrop"`, so every message reaches us only through
// fetchmail. Three worlds (three TESTs, so ctest can run them side by side):
//   Server  — auth-failure (a wrong ISP password), isp-down (dovecot stopped, then started
//             again on the same ports from its own config);
//   Binary  — binary-missing (`[fetchmail] binary` does not exist: the rc cannot be
//             validated), crashing (a wrapper that validates with the real fetchmail but
//             dies of SIGSEGV in daemon mode);
//   AutoHijack — under `mode = "auto"`: the record hijacked (dynmx leaves direct), then
//             auth-failure on top; back to direct once the record is ours again.
// Each scenario: inject, see status name the problem (and the health say how bad), deposit
// mail at the ISP during the fault, restore, see every message delivered exactly once to the
// right user, the ISP box empty, the status healthy again and the daemon alive throughout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <string>

#include "dns_fetchmail_support.hpp"
#include "fault_class.hpp"
#include "testbed/loopback_world.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using testbed::eventually;
using testbed::LoopbackWorld;

constexpr auto kNamedBound = 60s;      // status names a fault (fetchmail polls every 10 s)
constexpr auto kDeliveryBound = 120s;  // mail after a restore (a crash back-off may be pending)

/// The world's policy with the mail mode forced to multidrop: fetchmail is the only way in.
std::string multidropPolicy(const LoopbackWorld& w) {
  return replaced(w.goodPolicy, "[mail]\nmode = \"auto\"", "[mail]\nmode = \"multidrop\"");
}

/// `policy` with another fetchmail binary.
std::string withBinary(const std::string& policy, const std::string& binary) {
  return replaced(policy, "[fetchmail]\n", "[fetchmail]\nbinary = \"" + binary + "\"\n");
}

bool hasHealthReason(const Json& status, const std::string& code) {
  for (const auto& r : status["health_reasons"])
    if (r["code"] == code) return true;
  return false;
}

/// Write the policy and reload it (SIGHUP); wait until the daemon took it (no errors).
void reloadWith(LoopbackWorld& w, const std::string& policy) {
  auto reloads = [&] {
    const std::string log = w.daemon->log();
    std::size_t n = 0;
    for (auto at = log.find("policy reloaded"); at != std::string::npos;
         at = log.find("policy reloaded", at + 1))
      ++n;
    return n;
  };
  const std::size_t before = reloads();
  testbed::writeTextFile(w.policyPath, policy, 0644);
  ::kill(w.daemon->pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return reloads() > before; }, 30s)) << w.daemon->log();
}

/// Stop the daemon (SIGTERM, it persists its state) and start it on `policy`.
void restartWith(LoopbackWorld& w, const std::string& policy) {
  w.daemon->stop(20s);
  testbed::writeTextFile(w.policyPath, policy, 0644);
  auto s = w.startDaemon();
  ASSERT_TRUE(s.ok()) << s.error();
}

/// What one fetchmail fault looks like.
struct FetchmailFault {
  std::function<void()> inject;
  /// True once status names the fault (and says how bad it is).
  std::function<bool(const Json&)> named;
  std::string namedWhat;  ///< for the failure message
  std::function<void()> restore;
  /// Under `auto` with the record hijacked: DDNS is failing throughout (health at least a
  /// WARNING, dynmx may re-send its update), so only fetchmail's own health is compared.
  bool hijacked = false;
};

bool hasFetchmailReason(const Json& status) {
  for (const auto& r : status["health_reasons"])
    if (r["code"].get<std::string>().rfind("fetchmail.", 0) == 0) return true;
  return false;
}

/// The common course of a fetchmail fault.
void runFetchmailFault(Scenario& s, LoopbackWorld& w, const std::string& tag, const FetchmailFault& f) {
  // Precondition: multidrop, fetchmail running, all well.
  ASSERT_TRUE(eventually(
      [&] {
        Json st = statusOf(w);
        return st["mode"]["current"] == "multidrop" && st["fetchmail"]["running"] == true &&
               (f.hijacked ? !hasFetchmailReason(st) : st["health"] == "ok");
      },
      kNamedBound))
      << "precondition for " << tag << ":\n"
      << statusOf(w).dump(2);
  MailLedger ledger;
  const std::size_t journalBefore = statusOf(w)["switches"].size();
  const long requestsBefore = w.providerRequests();

  f.inject();
  ledger.deposit(w, tag + "-1", "carol@example.com", "carol");
  Json named;
  ASSERT_TRUE(eventually(
      [&] {
        named = statusOf(w);
        return !named.empty() && f.named(named);
      },
      kNamedBound))
      << tag << ": status does not name " << f.namedWhat << ":\n"
      << named.dump(2) << "\n"
      << w.daemon->log();
  std::cout << "[ named    ] " << tag << ": " << named["health"].dump() << " "
            << named["health_reasons"].dump() << std::endl;
  ledger.deposit(w, tag + "-2", "alice@example.com", "alice");
  ledger.deposit(w, tag + "-3", "nobody-here@example.com", "postmaster");

  // While the fault lasts: alive, multidrop (the safe mode), never direct.
  ASSERT_TRUE(daemonAnswers(w)) << tag << ": the daemon died\n" << w.daemon->log();
  Json during = statusOf(w);
  EXPECT_EQ(during["mode"]["current"], "multidrop") << during["mode"].dump(2);
  EXPECT_EQ(during["mode"]["wanted"], "multidrop") << during["mode"].dump(2);
  EXPECT_FALSE(switchedToAfter(during, journalBefore, "direct")) << during["switches"].dump(2);

  f.restore();
  EXPECT_TRUE(ledger.waitAll(w, kDeliveryBound)) << tag << ": mail not delivered after the restore\n"
                                                 << statusOf(w).dump(2) << "\n"
                                                 << w.daemon->log();
  // Healthy again: the fault is no longer named once fetchmail works.
  Json after;
  EXPECT_TRUE(eventually(
      [&] {
        after = statusOf(w);
        return (f.hijacked ? !hasFetchmailReason(after) : after["health"] == "ok") &&
               after["fetchmail"]["running"] == true;
      },
      kNamedBound))
      << tag << ": status still unhealthy after the restore:\n"
      << after.dump(2);
  EXPECT_TRUE(eventually([&] { return w.dovecot->count("office") == 0; }, kNamedBound))
      << tag << ": " << w.dovecot->count("office") << " messages left at the ISP";
  ASSERT_TRUE(daemonAnswers(w)) << tag << ": the daemon died\n" << w.daemon->log();
  if (!f.hijacked) {
    EXPECT_EQ(w.providerRequests(), requestsBefore) << tag << ": a fetchmail fault is no reason to update DDNS";
  }
  s.lost = ledger.lost(w);
}

/// Start the world on the forced-multidrop policy and see one message come through.
void startMultidropWorld(LoopbackWorld& w) {
  ASSERT_TRUE(w.start().ok());
  testbed::writeTextFile(w.policyPath, multidropPolicy(w), 0644);
  auto s = w.startDaemon();
  ASSERT_TRUE(s.ok()) << s.error();
  MailLedger first;
  first.deposit(w, "first", "bob@example.com", "bob");
  ASSERT_TRUE(first.waitAll(w, kDeliveryBound)) << w.daemon->log();
  EXPECT_EQ(first.lost(w), 0);
}

TEST(FetchmailFaults, Server) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "ffm-s");
  startMultidropWorld(w);
  if (HasFatalFailure()) return;
  const std::string policy = multidropPolicy(w);
  const std::string passwordFile = w.dir.path() + "/isp.password";
  FaultClass fm("fetchmail");
  std::unique_ptr<testbed::ServerProcess> dovecot;  // restarted on its old ports

  fm.scenario("auth-failure", [&](Scenario& s) {
    FetchmailFault f;
    f.inject = [&] {
      testbed::writeTextFile(passwordFile, "not-the-isp-password\n", 0600);
      giveToDaemonUser(passwordFile);
      reloadWith(w, policy);  // the password lives in the rc: a reload re-renders it
    };
    f.namedWhat = "the authentication failure (exit 3, CRITICAL)";
    f.named = [](const Json& st) {
      return st["fetchmail"]["last_exit"] == 3 && hasHealthReason(st, "fetchmail.authfail") &&
             st["health"] == "critical";
    };
    f.restore = [&] {
      testbed::writeTextFile(passwordFile, "isp-secret-E2E\n", 0600);
      giveToDaemonUser(passwordFile);
      reloadWith(w, policy);
    };
    runFetchmailFault(s, w, "auth-failure", f);
    EXPECT_EQ(w.daemon->log().find("not-the-isp-password"), std::string::npos) << "a password in the log";
  });

  fm.scenario("isp-down", [&](Scenario& s) {
    FetchmailFault f;
    f.inject = [&] { w.dovecot->stop(); };
    f.namedWhat = "the unreachable ISP (exit 2)";
    f.named = [](const Json& st) {
      const std::string error =
          st["fetchmail"]["last_error"].is_string() ? st["fetchmail"]["last_error"].get<std::string>() : "";
      return st["fetchmail"]["last_exit"] == 2 && error.find("SOCKET") != std::string::npos &&
             hasHealthReason(st, "fetchmail.error") && st["health"] != "ok";
    };
    f.restore = [&] {
      // dovecot again, from the config it wrote: same ports, users and maildirs.
      const std::string root = w.dir.path() + "/dovecot";
      auto p = testbed::ServerProcess::start({"dovecot", "-F", "-c", root + "/dovecot.conf"},
                                             root + "/restarted.log");
      ASSERT_TRUE(p.ok()) << p.error();
      dovecot = std::move(*p);
      ASSERT_TRUE(dovecot->waitForPort(w.dovecot->pop3Port(), 20s).ok()) << dovecot->log();
    };
    runFetchmailFault(s, w, "isp-down", f);
  });

  fm.report();
  ASSERT_TRUE(daemonAnswers(w));
  w.daemon->stop(20s);
}

TEST(FetchmailFaults, Binary) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "ffm-b");
  startMultidropWorld(w);
  if (HasFatalFailure()) return;
  const std::string policy = multidropPolicy(w);
  FaultClass fm("fetchmail");

  fm.scenario("binary-missing", [&](Scenario& s) {
    FetchmailFault f;
    f.inject = [&] { restartWith(w, withBinary(policy, "/nonexistent/fetchmail")); };
    f.namedWhat = "the rc that cannot be validated (fetchmail.rc_failed, CRITICAL)";
    f.named = [](const Json& st) {
      return hasHealthReason(st, "fetchmail.rc_failed") && st["health"] == "critical" &&
             st["mode"]["reasons"].dump().find("/nonexistent/fetchmail") != std::string::npos &&
             st["fetchmail"]["running"] == false;
    };
    f.restore = [&] { reloadWith(w, policy); };
    runFetchmailFault(s, w, "binary-missing", f);
  });

  fm.scenario("crashing", [&](Scenario& s) {
    // Validation (--configdump) runs the real fetchmail; every poll dies of SIGSEGV at once.
    // fetchmail runs as nobody: 0755.
    const std::string wrapper = w.dir.path() + "/fetchmail-segv";
    testbed::writeTextFile(wrapper,
                           "#!/bin/sh\n"
                           "for a in \"$@\"; do\n"
                           "  case \"$a\" in --configdump) exec /usr/bin/fetchmail \"$@\";; esac\n"
                           "done\n"
                           "ulimit -c 0\n"
                           "kill -SEGV $$\n",
                           0755);
    FetchmailFault f;
    f.inject = [&] { restartWith(w, withBinary(policy, wrapper)); };
    f.namedWhat = "the crash (signal 11, restarts, fetchmail.failing CRITICAL)";
    f.named = [](const Json& st) {
      const std::string error =
          st["fetchmail"]["last_error"].is_string() ? st["fetchmail"]["last_error"].get<std::string>() : "";
      return error.find("signal 11") != std::string::npos && st["fetchmail"]["restarts"].get<long>() >= 3 &&
             st["health"] == "critical" &&
             (hasHealthReason(st, "fetchmail.failing") || hasHealthReason(st, "fetchmail.not_running"));
    };
    f.restore = [&] { reloadWith(w, policy); };
    runFetchmailFault(s, w, "crashing", f);
  });

  fm.report();
  ASSERT_TRUE(daemonAnswers(w));
  w.daemon->stop(20s);
}

// The same fault under `mode = "auto"`: dynmx is on direct, the record is hijacked, dynmx
// leaves for multidrop, and then fetchmail breaks (a wrong ISP password). Mail deposited
// during both faults must arrive exactly once after the password is fixed, and once the
// record is ours again dynmx returns to direct with the ISP box drained.
TEST(FetchmailFaults, AutoHijack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "ffm-h");
  ASSERT_TRUE(w.start().ok());
  {
    auto s = w.startDaemon();
    ASSERT_TRUE(s.ok()) << s.error();
  }
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  ASSERT_TRUE(w.setRecord(testbed::kWorldHijacker).ok());
  ASSERT_TRUE(w.waitForMode("multidrop", 60s)) << w.daemon->log();
  const std::string passwordFile = w.dir.path() + "/isp.password";
  FaultClass fm("fetchmail");
  fm.scenario("auto-hijack-auth-failure", [&](Scenario& s) {
    FetchmailFault f;
    f.hijacked = true;
    f.inject = [&] {
      testbed::writeTextFile(passwordFile, "not-the-isp-password\n", 0600);
      giveToDaemonUser(passwordFile);
      reloadWith(w, w.goodPolicy);
    };
    f.namedWhat = "the authentication failure (exit 3, CRITICAL) while hijacked";
    f.named = [](const Json& st) {
      return st["fetchmail"]["last_exit"] == 3 && hasHealthReason(st, "fetchmail.authfail") &&
             st["health"] == "critical" && st["mode"]["current"] == "multidrop";
    };
    f.restore = [&] {
      testbed::writeTextFile(passwordFile, "isp-secret-E2E\n", 0600);
      giveToDaemonUser(passwordFile);
      reloadWith(w, w.goodPolicy);
    };
    runFetchmailFault(s, w, "auto-hijack-auth-failure", f);
    // The record is ours again: back to direct after the hold-down, nothing left at the ISP.
    ASSERT_TRUE(w.setRecord(testbed::kWorldAddress).ok());
    EXPECT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
    EXPECT_EQ(w.dovecot->count("office"), 0u);
  });
  fm.report();
  ASSERT_TRUE(daemonAnswers(w));
  w.daemon->stop(20s);
}

}  // namespace
}  // namespace dynmx::fault
