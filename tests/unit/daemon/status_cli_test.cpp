// `dynmx status` against the built binary: the exit code is the health, whether the
// daemon answers on its socket or only a state file is left.
#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>

#include "dynmx/process.hpp"
#include "dynmx/status/control.hpp"
#include "dynmx/status/health.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/state.hpp"
#include "fixtures.hpp"
#include "server_harness.hpp"

namespace dynmx::status {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class StatusCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("DYNMX_BINARY");
    if (!bin || !fs::exists(bin)) GTEST_SKIP() << "DYNMX_BINARY not built";
    binary_ = bin;
    char tmpl[] = "/tmp/dynmx-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/control.sock";
    state_ = dir_ + "/state.json";
  }
  void TearDown() override {
    if (server_) io_.call([this] {
      server_.reset();
      return 0;
    });
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  ProcessResult run(std::vector<std::string> extra) {
    ProcessSpec spec;
    spec.argv = {binary_, "status", "--socket", socket_, "--state", state_};
    spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
    spec.timeout = 20s;
    return runProcess(spec);
  }

  void serve(Report report) {
    ASSERT_TRUE(io_.call([this, report] {
                     CommandTable t;
                     t.add("status", [report](const ControlRequest&) { return ControlReply{0, "", toJson(report)}; });
                     server_ = std::make_unique<ControlServer>(io_.io(), socket_, std::move(t));
                     return server_->start();
                   })
                    .ok());
  }

  std::string binary_;
  std::string dir_;
  std::string socket_;
  std::string state_;
  test::IoThread io_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(StatusCli, NoDaemonNoStateIsUnknown) {
  auto r = run({});
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("dynmx: UNKNOWN: ", 0), 0u) << r.out;
}

TEST_F(StatusCli, NoDaemonUsesTheStateFileAndSaysSo) {
  ASSERT_TRUE(saveState(state_, test::directHealthy()).ok());
  auto r = run({});
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("dynmx: CRITICAL: mail via direct since 2026-11-23T10:00:00Z (daemon.not_running: daemon died "
                        "or was killed (no clean stop recorded); last known state from " + state_ + ", written at ", 0),
            0u)
      << r.out;
}

TEST_F(StatusCli, NoDaemonAfterACleanStopSaysWhen) {
  Report last = test::directHealthy();
  last.daemon.running = false;
  last.daemon.stoppedAt = test::at("2026-11-23T11:30:00Z");
  ASSERT_TRUE(saveState(state_, last).ok());
  auto r = run({});
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("dynmx: CRITICAL: mail via direct since 2026-11-23T10:00:00Z (daemon.not_running: daemon "
                        "stopped cleanly at 2026-11-23T11:30:00Z; last known state from " + state_ + ")\n", 0),
            0u)
      << r.out;
  auto j = run({"--json"});
  EXPECT_EQ(j.exitCode, 2);
  EXPECT_NE(j.out.find("\"stopped_at\": \"2026-11-23T11:30:00Z\""), std::string::npos) << j.out;
}

TEST_F(StatusCli, NoDaemonJson) {
  Report critical = test::multidropMismatch();
  critical.ddns.hosts[0].fatal = "badauth";
  ASSERT_TRUE(saveState(state_, critical).ok());
  auto r = run({"--json"});
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  auto back = reportFromJson(std::string_view(r.out));
  ASSERT_TRUE(back.ok()) << back.error() << r.out;
  EXPECT_FALSE(back->daemon.running);
  EXPECT_EQ(back->health, Health::Critical);
}

TEST_F(StatusCli, GarbageStateIsUnknown) {
  std::ofstream(state_) << "{\"mode\": ";
  auto r = run({});
  EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("no usable state"), std::string::npos) << r.out;
}

TEST_F(StatusCli, AsksTheDaemonFirst) {
  ASSERT_TRUE(saveState(state_, test::directHealthy()).ok());  // must be ignored: the daemon answers
  Report live = test::multidropMismatch();
  computeHealth(live);
  serve(live);
  auto r = run({});
  EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("dynmx: WARNING: mail via multidrop since 2026-11-23T10:00:00Z (ddns.mismatch: ", 0), 0u)
      << r.out;
  EXPECT_EQ(r.out.find("daemon not running"), std::string::npos);
}

TEST_F(StatusCli, ExitCodeFollowsTheDaemonsHealth) {
  for (Health h : {Health::Ok, Health::Warning, Health::Critical, Health::Unknown}) {
    Report live = test::directHealthy();
    live.health = h;
    serve(live);
    auto r = run({"--json"});
    EXPECT_EQ(r.exitCode, static_cast<int>(h)) << toString(h) << r.err;
    io_.call([this] {
      server_.reset();
      return 0;
    });
  }
}

}  // namespace
}  // namespace dynmx::status
