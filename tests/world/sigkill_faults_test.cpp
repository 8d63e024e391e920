// Fault class "sigkill", the daemon part, in the senders' world: the real `dynmx run`
// (fresh starts and resumes, the office's record flipped so it switches and persists, MX
// steering on, so it publishes MX sets too), SIGKILLed after a random delay from a seeded
// PRNG, again and again, while the senders keep sending (one message a second). After every
// kill each file dynmx writes is either absent (never written yet) or one complete version
// with its mode, checked with the real loaders (`dynmx status --state`, the DDNS engine at
// the next start, `fetchmail --configdump`); the restart comes up, loads what the killed
// one left and clears its leftovers (temp files of interrupted writes). At the end a clean
// start returns to direct, and every copy the senders sent is delivered exactly once:
// nothing lost, nothing duplicated, nothing left at the ISP, nothing misdirected.
//
// The record flips between the office's address and 198.51.100.99, where nobody listens
// (no interface holds it): dynmx sees the mismatch and leaves direct, the senders cannot
// connect there and fall back to MX 20 (the ISP). (At the world's hijacker they would
// deliver to the hijacker.)
//
// The kill loop runs before the world's own first start of dynmx (DaemonSetup::beforeDaemon:
// every server is up, the senders already send); that start is then the final clean
// start, and World::start waits for it to reach direct. So the world pays the way back to
// direct of a steering world (the multidrop MX set's 30 s) once, not twice.
//
// Every kill is one scenario, so the summary line counts the kills. The forked writer's
// kill loop stays in tests/fault/sigkill_faults_test.cpp (SigkillFaults.WriterKillLoop);
// the class reports from both binaries (tests/fault/summary.sh sums them).
//
// DYNMX_FAULT_SEED sets the seed (printed either way) to replay a run;
// DYNMX_SIGKILL_ITERATIONS the number of kills.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "state_files.hpp"
#include "testbed/loopback_world.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;
using fault::Scenario;

constexpr const char* kNowhere = kNowhereAddress;

unsigned seed() {
  if (const char* s = std::getenv("DYNMX_FAULT_SEED"); s != nullptr && *s != '\0')
    return static_cast<unsigned>(std::stoul(s));
  return std::random_device{}();
}

// 16 kills, not the loopback world's 50: each costs 4-5 s (two starts of an ASan-built
// dynmx, a random delay of 1.75 s on average, the checks), and the CI budget (docs/world.md,
// "What it costs": this class and the files class together may not take longer than the
// loopback tests they replaced, 315 s) leaves this world about 130 s, of which building the
// world and the final way back to direct take about 60. The seeded delays still cover
// start-up, the first switch and the MX updates; SigkillFaults.WriterKillLoop kills the
// atomic writer itself 500 times.
int iterations() {
  if (const char* s = std::getenv("DYNMX_SIGKILL_ITERATIONS"); s != nullptr && *s != '\0')
    return std::stoi(s);
  return 16;
}

/// The office's dynmx files and the checks made on them after every kill.
class KilledDaemonFiles {
 public:
  explicit KilledDaemonFiles(const World& w) : w_(w) {
    if (const passwd* pw = ::getpwnam("nobody"); pw != nullptr) {
      nobodyUid_ = pw->pw_uid;
      nobodyGid_ = pw->pw_gid;
    }
  }
  [[nodiscard]] std::string stateDir() const { return w_.dir() + "/state"; }
  [[nodiscard]] std::string statePath() const { return stateDir() + "/state.json"; }
  [[nodiscard]] std::string ddnsStatePath() const { return stateDir() + "/ddns-state.json"; }
  [[nodiscard]] std::string rcDir() const { return w_.dir() + "/fm"; }
  [[nodiscard]] std::string rcPath() const { return rcDir() + "/fetchmailrc"; }

  /// Every file the daemon writes is absent or whole, with its mode.
  void check(const std::string& when) const {
    SCOPED_TRACE(when);
    struct stat st {};
    if (::stat(statePath().c_str(), &st) == 0) {
      EXPECT_GT(st.st_size, 0) << statePath() << " is empty";
      EXPECT_EQ(st.st_mode & 07777, 0640u) << statePath();
      std::string out;
      EXPECT_TRUE(loadStateFile(dynmxBinary(), w_.dir(), statePath(), &out))
          << statePath() << " does not load:\n"
          << out << "\n"
          << testbed::slurp(statePath());
    }
    if (::stat(ddnsStatePath().c_str(), &st) == 0) {
      EXPECT_GT(st.st_size, 0) << ddnsStatePath() << " is empty";
      EXPECT_EQ(st.st_mode & 07777, 0600u) << ddnsStatePath();
      EXPECT_TRUE(Json::accept(testbed::slurp(ddnsStatePath()))) << testbed::slurp(ddnsStatePath());
    }
    EXPECT_FALSE(std::filesystem::exists(ddnsStatePath() + ".broken"))
        << "the DDNS engine found its state file unreadable at some start";
    if (::stat(rcPath().c_str(), &st) == 0) {
      EXPECT_TRUE(S_ISREG(st.st_mode));
      EXPECT_EQ(st.st_mode & 07777, 0600u) << rcPath();
      EXPECT_EQ(st.st_uid, nobodyUid_) << rcPath() << " not handed to the fetchmail user";
      const std::string rc = testbed::slurp(rcPath());
      EXPECT_FALSE(rc.empty()) << rcPath() << " is empty";
      EXPECT_EQ(rc, referenceRc) << rcPath() << " differs from a complete render";
      const std::string home = rcDir() + "/home";
      auto dump = runProcess(
          {.argv = {"fetchmail", "--configdump", "--nosyslog", "-f", rcPath()},
           .env = {{"FETCHMAILHOME", home}, {"HOME", home}, {"FETCHMAILUSER", "nobody"}, {"LC_ALL", "C"}},
           .uid = nobodyUid_,
           .gid = nobodyGid_,
           .timeout = 30s});
      EXPECT_TRUE(dump.succeeded()) << "fetchmail --configdump rejects " << rcPath() << ": " << dump.err;
    }
  }

  /// Files left by interrupted writes, in the directories dynmx writes.
  [[nodiscard]] std::set<std::string> temps() const {
    auto t = tempsIn(stateDir());
    for (const auto& x : tempsIn(rcDir())) t.insert(x);
    return t;
  }

  std::string referenceRc;  ///< the rc a clean start installs

 private:
  const World& w_;
  uid_t nobodyUid_ = 65534;
  gid_t nobodyGid_ = 65534;
};

TEST(WorldSigkillFaults, DaemonKillLoop) {
  const unsigned s0 = seed();
  std::cout << "[ sigkill  ] daemon-kill-loop seed " << s0 << " (DYNMX_FAULT_SEED=" << s0 << " replays it)"
            << std::endl;
  std::mt19937 rng(s0);
  World w(dynmxBinary(), dyndns2dBinary(), "wfsk");
  KilledDaemonFiles k(w);
  FaultClass sigkill("sigkill");
  const int n = iterations();
  int midWrite = 0;  // kills that left a temp file: they landed inside a write

  DaemonSetup setup{"auto", "dedicated", "", true, false};
  setup.beforeDaemon = [&](World& world) -> Status<> {
    // A complete render to compare with: the rc a clean start installs (without a state
    // file dynmx starts on multidrop and installs it at once).
    if (auto s = world.launchDaemon(true); !s.ok()) return s;
    const bool installed = testbed::eventually(
        [&] {
          auto st = world.status();
          return st && (*st)["fetchmail"]["running"] == true;
        },
        60s);
    if (!installed) return fail("the first start did not install the rc:\n" + world.daemonLog());
    k.referenceRc = testbed::slurp(k.rcPath());
    if (k.referenceRc.empty()) return fail("the first start installed an empty rc");
    world.stopDaemon();
    world.startStream(1000ms);

    std::uniform_int_distribution<int> delayMs(0, 3500);
    for (int i = 1; i <= n; ++i) {
      const bool fresh = i % 3 == 1;
      const bool hijacked = i % 2 == 1;
      const int delay = delayMs(rng);
      char name[96];
      std::snprintf(name, sizeof name, "daemon-kill-%02d (%s, record %s, SIGKILL after %d ms)", i,
                    fresh ? "fresh" : "resume", hijacked ? "pointed away" : "ours", delay);
      sigkill.scenario(name, [&](Scenario&) {
        if (fresh) {
          std::filesystem::remove(k.statePath());
          std::filesystem::remove(k.ddnsStatePath());
          std::filesystem::remove(k.rcPath());
        }
        ASSERT_TRUE(world.setRecord(hijacked ? kNowhere : kOfficeAddress).ok());
        auto launched = world.launchDaemon(false);
        ASSERT_TRUE(launched.ok()) << launched.error();
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));  // the fault's timing, not a wait
        world.killDaemon();
        k.check("after the kill");
        const auto left = k.temps();
        if (!left.empty()) ++midWrite;

        // The restart comes up, loads what the killed one left, and clears its leftovers.
        auto restarted = world.launchDaemon(true);
        ASSERT_TRUE(restarted.ok()) << restarted.error();
        EXPECT_TRUE(world.daemonAnswers());
        const std::string log = world.lastDaemonLog();
        EXPECT_EQ(log.find("unreadable"), std::string::npos) << log;
        for (const auto& t : left)
          EXPECT_FALSE(std::filesystem::exists(t)) << t << " left over after the restart";
        world.killDaemon();
        k.check("after killing the restarted daemon");
      });
    }
    std::cout << "[ sigkill  ] daemon: " << n << " random kills, " << midWrite
              << " left a temp file (killed inside a write)" << std::endl;
    // The final clean start (World::start's own) finds the record ours.
    return world.setRecord(kOfficeAddress);
  };
  const double loopStartedAt = 0;  // the stream starts with the loop
  auto started = w.start(setup);
  const double finalStartAt = w.elapsed();

  sigkill.scenario("daemon-final-clean-start", [&](Scenario& s) {
    // World::start started dynmx once more and waited until it was back on direct.
    ASSERT_TRUE(started.ok()) << started.error();
    auto st = w.status();
    ASSERT_TRUE(st);
    EXPECT_TRUE((*st)["mode"]["current"] == "direct" && !(*st)["mode"]["switching"].get<bool>())
        << st->dump(2);
    EXPECT_EQ(w.ispBox().count("office"), 0u) << "nothing may stay at the ISP when back on direct";
    EXPECT_TRUE(k.temps().empty()) << ::testing::PrintToString(k.temps());
    EXPECT_EQ(w.lastDaemonLog().find("unreadable"), std::string::npos) << w.lastDaemonLog();
    // Every copy the senders sent during the kill loop reaches its user exactly once.
    Account a;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(loopStartedAt, finalStartAt);
          return a.direct + a.viaIsp >= a.copies;
        },
        120s))
        << a.toJson().dump(2) << "\n"
        << w.logs();
    a = w.account(loopStartedAt, finalStartAt);
    std::cout << "[ copies   ] kill loop: " << a.toJson().dump() << std::endl;
    EXPECT_GT(a.copies, 0);
    EXPECT_EQ(a.misdirected, 0);
    for (const auto& p : a.problems) ADD_FAILURE() << p;
    s.lost = a.lost + a.duplicates + a.misdirected;

    // The world's final count, then a clean stop.
    auto drained = w.drain(150s);
    ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << w.logs();
    const Account all = w.account();
    std::cout << all.toJson().dump() << std::endl;
    EXPECT_EQ(all.lost, 0) << ::testing::PrintToString(all.problems);
    EXPECT_EQ(all.duplicates, 0) << ::testing::PrintToString(all.problems);
    EXPECT_EQ(all.atIsp, 0);
    EXPECT_EQ(all.misdirected, 0) << "nobody listens where the record pointed";
    EXPECT_GT(all.viaIsp, 0);
    EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
    ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
    w.stopDaemon();
    EXPECT_TRUE(k.temps().empty());
    k.check("after a clean stop");
  });
  sigkill.report();
}

}  // namespace
}  // namespace dynmx::world
