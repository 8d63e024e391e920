// Fault class "sigkill": SIGKILL at random moments while something writes its files, many
// times over. Never a torn or empty file: every file a killed writer leaves is either
// absent (never written yet) or one complete version, and the leftovers of interrupted
// writes (temp files) do not pile up.
//
//   writer-kill-NNN a forked child writing large alternating versions with
//                   writeFileAtomic, killed at random moments, 500 times.
// Every kill is one scenario, so the summary line counts the kills. The real `dynmx run`
// killed at random moments (daemon-kill-NN) runs in the senders' world:
// tests/world/sigkill_faults_test.cpp (WorldSigkillFaults.DaemonKillLoop); the class
// reports from both binaries and tests/fault/summary.sh sums them.
//
// DYNMX_FAULT_SEED sets the seed (printed either way) to replay a run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "dynmx/atomic_file.hpp"
#include "fault_class.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;

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
