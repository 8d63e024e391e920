// How the daemon ends, as `dynmx status` then tells it: the real `dynmx run` (a direct-only
// policy with a static address: no network, no fetchmail) is stopped cleanly or killed, and
// the printed report says which and when, CRITICAL either way. A clean stop also removes
// the control socket. As root (CI) the daemon becomes the `dynmx` user, as in production.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dynmx/process.hpp"

namespace dynmx {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class StopCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("DYNMX_BINARY");
    ASSERT_NE(bin, nullptr) << "DYNMX_BINARY is set by the test harness";
    binary_ = bin;
    char tmpl[] = "/tmp/dynmx-stop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);       // the daemon user must reach its state dir below
    socket_ = dir_ + "/run/ctl.sock";  // run/ does not exist: the daemon creates it
    policy_ = dir_ + "/dynmx.toml";
    std::ofstream(policy_) << "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n"
                              "[link]\ntype = \"dedicated\"\n"
                              "[ddns]\nenabled = false\nstatic_address = \"203.0.113.7\"\n"
                              "[daemon]\nstate_dir = \"" +
                                  dir_ + "/state\"\ncontrol_socket = \"" + socket_ + "\"\n";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  /// Start `dynmx run` and wait until it answers on its socket.
  void startDaemon() {
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string log = dir_ + "/dynmx.log";
      std::freopen(log.c_str(), "w", stderr);
      ::execl(binary_.c_str(), binary_.c_str(), "run", "-c", policy_.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (status({}).exitCode == 0) return;
      std::this_thread::sleep_for(50ms);  // bounded wait for the daemon's first answer
    }
    FAIL() << "dynmx run did not answer; log:\n" << log();
  }

  int stopDaemon(int sig) {
    ::kill(pid_, sig);
    int ws = 0;
    ::waitpid(pid_, &ws, 0);
    pid_ = 0;
    return ws;
  }

  ProcessResult status(std::vector<std::string> extra) const {
    ProcessSpec spec;
    spec.argv = {binary_, "status", "-c", policy_};
    spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
    spec.timeout = 20s;
    return runProcess(spec);
  }

  std::string log() const {
    std::ifstream in(dir_ + "/dynmx.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string binary_;
  std::string dir_;
  std::string socket_;
  std::string policy_;
  pid_t pid_ = 0;
};

TEST_F(StopCli, ACleanStopRemovesTheSocketAndStatusSaysWhen) {
  startDaemon();
  ASSERT_TRUE(fs::exists(socket_));
  const int ws = stopDaemon(SIGTERM);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << log();
  EXPECT_FALSE(fs::exists(socket_)) << "the control socket is removed on a clean stop\n" << log();

  auto text = status({});
  EXPECT_EQ(text.exitCode, 2) << text.out << text.err;
  EXPECT_EQ(text.out.rfind("dynmx: CRITICAL: mail via direct since ", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("(daemon.not_running: daemon stopped cleanly at "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\ndaemon:     stopped cleanly at "), std::string::npos) << text.out;
  auto json = status({"--json"});
  EXPECT_EQ(json.exitCode, 2);
  const auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_TRUE(j["daemon"]["stopped_at"].is_string()) << json.out;
  EXPECT_EQ(j["health"], "critical");
}

TEST_F(StopCli, ADaemonThatWasKilledIsCriticalAndSaysSo) {
  startDaemon();
  stopDaemon(SIGKILL);
  auto text = status({});
  EXPECT_EQ(text.exitCode, 2) << text.out << text.err;
  EXPECT_NE(
      text.out.find("(daemon.not_running: daemon died or was killed (no clean stop recorded); last known "
                    "state from " +
                    dir_ + "/state/state.json, written at "),
      std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("\ndaemon:     not running (died or killed)"), std::string::npos) << text.out;
  auto json = status({"--json"});
  const auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_TRUE(j["daemon"]["stopped_at"].is_null()) << json.out;
  EXPECT_EQ(j["health"], "critical");
}

}  // namespace
}  // namespace dynmx
