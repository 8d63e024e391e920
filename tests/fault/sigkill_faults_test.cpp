// Fault class "sigkill": SIGKILL at random moments while dynmx writes its state and the
// fetchmail rc, many times over. Never a torn or empty file: every file a killed writer
// leaves is either absent (never written yet) or one complete version, with its mode, and
// the leftovers of interrupted writes (temp files) do not pile up.
//
//   daemon-kill-NN  the real `dynmx run` (fresh starts and resumes, the record flipped so
//                   it switches and persists), killed after a random delay from a seeded
//                   PRNG; then every file is checked with the real loaders (`dynmx status
//                   --state`, the DDNS engine at the next start, fetchmail --configdump),
//                   and the restart must come up. Mail deposited before the loop arrives
//                   exactly once by the end.
//   writer-kill-NNN a forked child writing large alternating versions with
//                   writeFileAtomic, killed at random moments, 500 times.
// Every kill is one scenario, so the summary line counts the kills.
//
// DYNMX_FAULT_SEED sets the seed (printed either way) to replay a run.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "dynmx/atomic_file.hpp"
#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/server_process.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testbed::LoopbackWorld;

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

unsigned seed() {
  if (const char* s = std::getenv("DYNMX_FAULT_SEED"); s != nullptr && *s != '\0')
    return static_cast<unsigned>(std::stoul(s));
  return std::random_device{}();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Temp files of interrupted atomic writes in `dir`.
std::set<std::string> tempsIn(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.insert(e.path().string());
  return out;
}

// ---------------------------------------------------------------------------------------
// The real daemon, killed at random moments.

class KilledDaemonWorld {
 public:
  KilledDaemonWorld() : w(dynmxBinary(), DYNDNS2D_BINARY, "kill") {}

  void start() {
    auto s = w.start();
    ASSERT_TRUE(s.ok()) << s.error();
    stateDir = w.dir.path() + "/state";
    statePath = stateDir + "/state.json";
    ddnsStatePath = stateDir + "/ddns-state.json";
    rcDir = w.dir.path() + "/fm";
    rcPath = rcDir + "/fetchmailrc";
    home = rcDir + "/home";
    if (const passwd* pw = ::getpwnam("nobody"); pw != nullptr) {
      nobodyUid = pw->pw_uid;
      nobodyGid = pw->pw_gid;
    }
  }

  /// Start `dynmx run` without waiting for anything: the kill may land anywhere in start-up.
  void launch(const std::string& tag) {
    auto p = testbed::ServerProcess::start({dynmxBinary(), "run", "-c", w.policyPath},
                                           w.dir.path() + "/dynmx." + tag + ".log");
    ASSERT_TRUE(p.ok()) << p.error();
    w.daemon = std::move(*p);
  }

  /// SIGKILL the daemon (only the daemon, as the OOM killer would) and reap it.
  void kill() {
    ASSERT_TRUE(w.daemon);
    ::kill(w.daemon->pid(), SIGKILL);
    w.daemon->stop();
  }

  /// Every file the daemon writes is absent or whole, with its mode.
  void checkFiles(const std::string& when) {
    SCOPED_TRACE(when);
    struct stat st {};
    if (::stat(statePath.c_str(), &st) == 0) {
      EXPECT_GT(st.st_size, 0) << statePath << " is empty";
      EXPECT_EQ(st.st_mode & 07777, 0640u) << statePath;
      // The real loader, as `dynmx status` uses it when no daemon answers.
      auto [code, out] = w.dynmx({"status", "--socket", w.dir.path() + "/nobody-here.sock", "--state", statePath,
                                  "--json"});
      bool loaded = false;
      try {
        Json j = Json::parse(out.substr(0, out.rfind('}') + 1));
        loaded = (j["mode"]["current"] == "direct" || j["mode"]["current"] == "multidrop") &&
                 j["health_reasons"].dump().find("no usable state file") == std::string::npos;
      } catch (const std::exception&) {
      }
      EXPECT_TRUE(loaded) << statePath << " does not load:\n" << out << "\n" << slurp(statePath);
    }
    if (::stat(ddnsStatePath.c_str(), &st) == 0) {
      EXPECT_GT(st.st_size, 0) << ddnsStatePath << " is empty";
      EXPECT_EQ(st.st_mode & 07777, 0600u) << ddnsStatePath;
      EXPECT_TRUE(Json::accept(slurp(ddnsStatePath))) << slurp(ddnsStatePath);
    }
    EXPECT_FALSE(std::filesystem::exists(ddnsStatePath + ".broken"))
        << "the DDNS engine found its state file unreadable at some start";
    if (::stat(rcPath.c_str(), &st) == 0) {
      EXPECT_TRUE(S_ISREG(st.st_mode));
      EXPECT_EQ(st.st_mode & 07777, 0600u) << rcPath;
      EXPECT_EQ(st.st_uid, nobodyUid) << rcPath << " not handed to the fetchmail user";
      const std::string rc = slurp(rcPath);
      EXPECT_FALSE(rc.empty()) << rcPath << " is empty";
      EXPECT_EQ(rc, referenceRc) << rcPath << " differs from a complete render";
      auto dump = runProcess({.argv = {"fetchmail", "--configdump", "--nosyslog", "-f", rcPath},
                              .env = {{"FETCHMAILHOME", home}, {"HOME", home}, {"FETCHMAILUSER", "nobody"},
                                      {"LC_ALL", "C"}},
                              .uid = nobodyUid,
                              .gid = nobodyGid,
                              .timeout = 30s});
      EXPECT_TRUE(dump.succeeded()) << "fetchmail --configdump rejects " << rcPath << ": " << dump.err;
    }
  }

  /// Files left by interrupted writes, in the directories dynmx writes.
  std::set<std::string> temps() const {
    auto t = tempsIn(stateDir);
    for (const auto& x : tempsIn(rcDir)) t.insert(x);
    return t;
  }

  LoopbackWorld w;
  std::string stateDir, statePath, ddnsStatePath, rcDir, rcPath, home, referenceRc;
  uid_t nobodyUid = 65534;
  gid_t nobodyGid = 65534;
};

int iterations() {
  if (const char* s = std::getenv("DYNMX_SIGKILL_ITERATIONS"); s != nullptr && *s != '\0') return std::stoi(s);
  return 50;
}

TEST(SigkillFaults, DaemonKillLoop) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  const unsigned s0 = seed();
  std::cout << "[ sigkill  ] daemon-kill-loop seed " << s0 << " (DYNMX_FAULT_SEED=" << s0 << " replays it)"
            << std::endl;
  std::mt19937 rng(s0);
  KilledDaemonWorld k;
  ASSERT_NO_FATAL_FAILURE(k.start());
  auto& w = k.w;
  FaultClass sigkill("sigkill");

  // A complete render to compare with: the rc a clean run installs.
  ASSERT_TRUE(w.setRecord("192.0.2.1").ok());
  {
    auto d = w.startDaemon();
    ASSERT_TRUE(d.ok()) << d.error();
  }
  ASSERT_TRUE(w.waitForMode("direct", 120s)) << w.daemon->log();
  k.referenceRc = slurp(k.rcPath);
  ASSERT_FALSE(k.referenceRc.empty());
  w.daemon->stop(20s);

  // Mail waiting at the ISP before the loop: it must arrive exactly once by the end,
  // whichever of the killed daemons fetches it.
  const std::map<std::string, std::string> mail = {{"K1", "alice"}, {"K2", "bob"}, {"K3", "carol"}};
  for (const auto& [id, user] : mail)
    ASSERT_TRUE(w.dovecot->deliver("office", testbed::ispMessage(id, user + "@example.com")).ok());

  const int n = iterations();
  std::uniform_int_distribution<int> delayMs(0, 3500);
  int midWrite = 0;  // kills that left a temp file: they landed inside a write
  for (int i = 1; i <= n; ++i) {
    const bool fresh = i % 3 == 1;
    const bool hijacked = i % 2 == 1;
    const int delay = delayMs(rng);
    char name[96];
    std::snprintf(name, sizeof name, "daemon-kill-%02d (%s, record %s, SIGKILL after %d ms)", i,
                  fresh ? "fresh" : "resume", hijacked ? "hijacked" : "ours", delay);
    sigkill.scenario(name, [&](Scenario&) {
      if (fresh) {
        std::filesystem::remove(k.statePath);
        std::filesystem::remove(k.ddnsStatePath);
        std::filesystem::remove(k.rcPath);
      }
      ASSERT_TRUE(w.setRecord(hijacked ? testbed::kWorldHijacker : testbed::kWorldAddress).ok());
      ASSERT_NO_FATAL_FAILURE(k.launch("killed-" + std::to_string(i)));
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));  // the fault's timing, not a wait
      ASSERT_NO_FATAL_FAILURE(k.kill());
      k.checkFiles("after the kill");
      const auto left = k.temps();
      if (!left.empty()) ++midWrite;

      // The restart comes up, loads what the killed one left, and clears its leftovers.
      auto d = w.startDaemon();
      ASSERT_TRUE(d.ok()) << d.error();
      EXPECT_TRUE(w.daemon->running());
      const std::string log = w.daemon->log();
      EXPECT_EQ(log.find("unreadable"), std::string::npos) << log;
      for (const auto& t : left) EXPECT_FALSE(std::filesystem::exists(t)) << t << " left over after the restart";
      ASSERT_NO_FATAL_FAILURE(k.kill());
      k.checkFiles("after killing the restarted daemon");
    });
  }
  std::cout << "[ sigkill  ] daemon: " << n << " random kills, " << midWrite
            << " left a temp file (killed inside a write)" << std::endl;

  sigkill.scenario("daemon-final-clean-start", [&](Scenario& s) {
    ASSERT_TRUE(w.setRecord(testbed::kWorldAddress).ok());
    auto d = w.startDaemon();
    ASSERT_TRUE(d.ok()) << d.error();
    EXPECT_TRUE(w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, mail); }, 120s))
        << w.daemon->log();
    EXPECT_TRUE(w.waitForMode("direct", 120s)) << w.daemon->log();
    EXPECT_EQ(w.dovecot->count("office"), 0u) << "nothing may stay at the ISP when back on direct";
    EXPECT_TRUE(k.temps().empty());
    s.lost = lostMessages(w.sink, mail);
    w.daemon->stop(20s);
    k.checkFiles("after a clean stop");
  });

  sigkill.report();
}

// ---------------------------------------------------------------------------------------
// A forked writer, killed at random moments.

/// Large versions that differ in length and content, each complete only with its last line.
std::vector<std::string> versions() {
  std::vector<std::string> out;
  const std::size_t sizes[] = {1u << 20, 96u << 10, 3u << 20, 512u << 10};
  for (std::size_t v = 0; v < std::size(sizes); ++v) {
    std::string text = "{\"version\": " + std::to_string(v) + ", \"fill\": \"";
    text.append(sizes[v], static_cast<char>('a' + v));
    text += "\"}\nend of version " + std::to_string(v) + "\n";
    out.push_back(std::move(text));
  }
  return out;
}

TEST(SigkillFaults, WriterKillLoop) {
  const unsigned s0 = seed();
  std::cout << "[ sigkill  ] writer-kill-loop seed " << s0 << " (DYNMX_FAULT_SEED=" << s0 << " replays it)"
            << std::endl;
  std::mt19937 rng(s0);
  testbed::TempDir dir("kill-writer");
  const std::string path = dir.path() + "/state.json";
  const auto all = versions();
  const AtomicWriteOptions options{.mode = 0640};
  ASSERT_TRUE(writeFileAtomic(path, all[0], options).ok());
  FaultClass sigkill("sigkill");

  constexpr int kKills = 500;
  std::uniform_int_distribution<int> delayUs(0, 40000);
  int midWrite = 0;
  std::map<std::size_t, int> seen;
  for (int kill = 1; kill <= kKills; ++kill) {
    const int delay = delayUs(rng);
    char name[64];
    std::snprintf(name, sizeof name, "writer-kill-%03d (after %d us)", kill, delay);
    sigkill.scenario(name, [&](Scenario&) {
      const std::size_t start = static_cast<std::size_t>(kill) % all.size();
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        for (std::size_t v = start;; ++v) (void)writeFileAtomic(path, all[v % all.size()], options);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(delay));  // the fault's timing, not a wait
      ::kill(pid, SIGKILL);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer died on its own";

      struct stat st {};
      ASSERT_EQ(::stat(path.c_str(), &st), 0) << "the file is gone";
      EXPECT_EQ(st.st_mode & 07777, 0640u);
      const std::string text = slurp(path);
      auto match = std::find(all.begin(), all.end(), text);
      EXPECT_NE(match, all.end()) << "torn file of " << text.size() << " bytes";
      if (match != all.end()) ++seen[static_cast<std::size_t>(match - all.begin())];
      if (!tempsIn(dir.path()).empty()) ++midWrite;
      // What a restart does: clear the dead writer's temp files, and only those.
      removeStaleTemps(path);
      EXPECT_TRUE(tempsIn(dir.path()).empty());
      EXPECT_TRUE(std::filesystem::exists(path));
    });
  }
  std::cout << "[ sigkill  ] writer: " << kKills << " kills, " << midWrite << " inside a write (temp file left);"
            << " versions found:";
  for (const auto& [v, count] : seen) std::cout << " v" << v << "×" << count;
  std::cout << std::endl;
  EXPECT_GT(midWrite, 0) << "no kill landed inside a write: the timing does not cover the window";
  sigkill.report();
}

}  // namespace
}  // namespace dynmx::fault
