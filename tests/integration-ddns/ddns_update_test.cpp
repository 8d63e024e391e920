// `dynmx update` end to end: the real binary against the loopback dyndns2 server and a real
// BIND9 `named`. Each case runs in its own network namespace (ctest runs every case as its
// own process) holding a veth "wan0" with the documentation address 203.0.113.7, so address
// detection reads a real interface and nothing outside the test is touched.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>

#include <csignal>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dynmx/ddns/state.hpp"
#include "dynmx/file_lock.hpp"
#include "dynmx/process.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/named.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kAddress = "203.0.113.7";
constexpr const char* kZone = "example.test";

bool ip(std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), "ip");
  auto r = runProcess({.argv = args, .timeout = 10s});
  if (!r.succeeded()) error = r.error + r.err;
  return r.succeeded();
}

std::string host(int account, int i) {
  return "h" + std::to_string(i) + ".a" + std::to_string(account) + "." + kZone;
}

class DdnsUpdate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
    std::string err;
    ASSERT_TRUE(ip({"link", "set", "lo", "up"}, err)) << err;
    ASSERT_TRUE(ip({"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"}, err)) << err;
    ASSERT_TRUE(ip({"addr", "add", std::string(kAddress) + "/32", "dev", "wan0"}, err)) << err;
    ASSERT_TRUE(ip({"link", "set", "wan0", "up"}, err)) << err;
    // Both ends up: a veth without carrier reads as down, and a record naming the address
    // of a down link is stale, not verified.
    ASSERT_TRUE(ip({"link", "set", "wan1", "up"}, err)) << err;
    const char* bin = std::getenv("DYNMX_BINARY");
    ASSERT_NE(bin, nullptr) << "DYNMX_BINARY not set";
    dynmx_ = bin;
  }

  void TearDown() override {
    if (daemon_) daemon_->stop();
    if (dyndns2d_) dyndns2d_->stop();
    if (named_) named_->stop();
  }

  // Start named and the dyndns2 server with `accounts` × `perAccount` hosts; account 0's
  // password is wrong in the policy when `badAuthAccount0`.
  void startServers(int accounts, int perAccount, bool badAuthAccount0 = false) {
    auto n = testbed::Named::start(dir_);
    ASSERT_TRUE(n.ok()) << n.error();
    named_ = std::move(*n);

    std::string accountsText;
    std::string policy =
        "[mail]\nmode = \"direct\"\ndomains = [\"" + std::string(kZone) + "\"]\n\n"
        "[daemon]\nstate_dir = \"" + dir_.subdir("state", 0700) + "\"\ncontrol_socket = \"" +
        dir_.file("state") + "/control.sock\"\n\n"
        "[fetchmail]\nrc_path = \"" + dir_.file("fm") + "/fetchmailrc\"\nhome = \"" + dir_.file("fm") +
        "\"\n\n"
        "[ddns]\nrequest_timeout = \"20s\"\n"
        "[ddns.detect]\nipv4 = true\ninterface = \"wan0\"\n"
        "[ddns.verify]\nservers = [\"127.0.0.1:" + std::to_string(named_->port()) + "\"]\n"
        "timeout = \"3s\"\n";
    for (int a = 0; a < accounts; ++a) {
      const std::string user = "user" + std::to_string(a);
      const std::string pw = "pw-" + std::to_string(a) + "-Zq9";
      std::string hosts;
      for (int i = 0; i < perAccount; ++i) hosts += (i ? "," : "") + host(a, i);
      accountsText += user + ":" + pw + ":" + hosts + "\n";
      const std::string pwFile = dir_.file("pw" + std::to_string(a));
      testbed::writeTextFile(pwFile, (a == 0 && badAuthAccount0) ? "wrong-password\n" : pw + "\n",
                             0600);
      testbed::giveToDaemonUser({pwFile});  // `dynmx run` reads it as the daemon user
      policy += "\n[[ddns.account]]\nname = \"acct" + std::to_string(a) +
                "\"\nprovider = \"custom\"\nurl = \"http://127.0.0.1:@PORT@/nic/update\"\n"
                "allow_insecure_http = true\nusername = \"" + user + "\"\npassword_file = \"" +
                pwFile + "\"\nhosts = [";
      for (int i = 0; i < perAccount; ++i) policy += std::string(i ? ", " : "") + "\"" + host(a, i) + "\"";
      policy += "]\n";
    }
    testbed::writeTextFile(dir_.file("accounts"), accountsText, 0600);

    auto d = testbed::ServerProcess::start(
        {DYNDNS2D_BINARY, "--port", "0", "--accounts", dir_.file("accounts"), "--log",
         dir_.file("requests.jsonl"), "--nsupdate-server",
         "127.0.0.1:" + std::to_string(named_->port()), "--nsupdate-key", named_->keyFile(),
         "--zone", kZone, "--nsupdate-sync", "--ttl", "60"},
        dir_.file("dyndns2d.log"));
    ASSERT_TRUE(d.ok()) << d.error();
    dyndns2d_ = std::move(*d);
    ASSERT_TRUE(dyndns2d_->waitForLog("LISTENING", 10s)) << dyndns2d_->log();
    std::istringstream in(dyndns2d_->log().substr(dyndns2d_->log().find("LISTENING")));
    std::string word, addr;
    in >> word >> addr >> port_;
    ASSERT_GT(port_, 0);
    for (std::size_t p; (p = policy.find("@PORT@")) != std::string::npos;)
      policy.replace(p, 6, std::to_string(port_));
    policyFile_ = dir_.file("dynmx.toml");
    testbed::writeTextFile(policyFile_, policy, 0600);
  }

  ProcessResult update(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{dynmx_, "update", "-c", policyFile_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return runProcess({.argv = argv, .timeout = 120s});
  }

  // The server's request log: one JSON object per update request.
  std::vector<json> requests() {
    std::vector<json> out;
    std::ifstream in(dir_.file("requests.jsonl"));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

  ddns::StateStore state() {
    auto s = ddns::parseState(testbed::slurp(dir_.file("state/ddns-state.json")));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
    return s.ok() ? *s : ddns::StateStore{};
  }

  void control(const std::string& query) {
    auto r = runProcess({.argv = {"curl", "-sf", "http://127.0.0.1:" + std::to_string(port_) +
                                                     "/control?" + query},
                         .timeout = 10s});
    ASSERT_TRUE(r.succeeded()) << r.err << r.out;
  }

  // `dynmx run` on the same policy; returns once its control socket answers.
  void startDaemon() {
    auto d = testbed::ServerProcess::start({dynmx_, "run", "-c", policyFile_, "--log", "stderr",
                                            "--log-level", "debug"},
                                           dir_.file("daemon.log"));
    ASSERT_TRUE(d.ok()) << d.error();
    daemon_ = std::move(*d);
    ASSERT_TRUE(daemon_->waitForLog("running (pid", 20s)) << daemon_->log();
  }

  testbed::TempDir dir_{"ddns"};
  std::unique_ptr<testbed::ServerProcess> daemon_;
  std::unique_ptr<testbed::Named> named_;
  std::unique_ptr<testbed::ServerProcess> dyndns2d_;
  std::string dynmx_;
  std::string policyFile_;
  int port_ = 0;
};

TEST_F(DdnsUpdate, FiveHundredHostsInTwentyFiveAccountsThenNothingToSend) {
  startServers(25, 20);
  const ProcessResult first = update();
  EXPECT_EQ(first.exitCode, 0) << first.out << first.err;

  const auto log = requests();
  EXPECT_LE(log.size(), 25u);
  std::set<std::string> seen;
  for (const auto& r : log) {
    EXPECT_EQ(r.at("myip"), kAddress);
    EXPECT_EQ(r.at("ua").get<std::string>().rfind("dynmx/", 0), 0u);
    for (const auto& h : r.at("hostnames")) seen.insert(h.get<std::string>());
    for (const auto& a : r.at("answer")) EXPECT_EQ(a.get<std::string>().rfind("good", 0), 0u);
  }
  EXPECT_EQ(seen.size(), 500u);
  for (int a = 0; a < 25; ++a)
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(seen.count(host(a, i))) << host(a, i);
  // named holds what the provider pushed, and dynmx verified it there.
  auto dig = named_->dig(host(24, 19));
  ASSERT_TRUE(dig.ok());
  EXPECT_EQ(*dig, kAddress);
  EXPECT_NE(first.out.find("health: healthy"), std::string::npos) << first.out;
  // No password in the output.
  EXPECT_EQ(first.out.find("-Zq9"), std::string::npos);
  EXPECT_EQ(first.err.find("-Zq9"), std::string::npos);

  // (b) Second run, address unchanged: zero requests.
  const ProcessResult second = update({"--json"});
  EXPECT_EQ(second.exitCode, 0) << second.out << second.err;
  EXPECT_EQ(requests().size(), log.size());
  const json report = json::parse(second.out);
  EXPECT_EQ(report.at("requests_sent"), 0);
  EXPECT_EQ(report.at("hosts").size(), 500u);
  EXPECT_EQ(report.at("hosts")[0].at("result"), "skip: unchanged");
}

TEST_F(DdnsUpdate, After911TheBackoffDeadlineIsPersistedAndHonoured) {
  startServers(2, 3);
  control("mode=code&code=911");
  const auto before = std::chrono::system_clock::now();
  const ProcessResult first = update();
  EXPECT_NE(first.exitCode, 0) << first.out;
  EXPECT_NE(first.out.find("911"), std::string::npos) << first.out;
  const std::size_t sent = requests().size();
  EXPECT_EQ(sent, 2u);

  const ddns::StateStore s = state();
  ASSERT_EQ(s.hosts.size(), 6u);
  for (const auto& [key, h] : s.hosts) {
    ASSERT_TRUE(h.retryNotBefore.has_value()) << key.second;
    EXPECT_GE(*h.retryNotBefore,
              std::chrono::time_point_cast<Duration>(before) + std::chrono::minutes(30))
        << key.second;
  }

  control("mode=normal");
  const ProcessResult second = update({"--force"});
  EXPECT_NE(second.exitCode, 0) << second.out;
  EXPECT_EQ(requests().size(), sent);
  EXPECT_NE(second.out.find("retry after"), std::string::npos) << second.out;
}

// Issue 12 item 1: one writer of ddns-state.json. While the daemon runs, `dynmx update` has
// the daemon run the pass, so a 911 it meets is the daemon's own back-off: neither a forced
// pass (SIGUSR1) nor a second update sends again. (Before, update wrote the file beside the
// daemon, and the daemon, blind to the 911, sent again at once.)
TEST_F(DdnsUpdate, A911MetByUpdateIsHonouredByTheRunningDaemon) {
  startServers(1, 2);
  startDaemon();
  // The daemon's first pass publishes 203.0.113.7 (one request for both hosts).
  for (int i = 0; i < 200 && requests().empty(); ++i) daemon_->waitForLog("\x01never", 50ms);
  ASSERT_EQ(requests().size(), 1u) << daemon_->log();

  control("mode=code&code=911");
  std::string err;
  ASSERT_TRUE(ip({"addr", "add", "203.0.113.8/32", "dev", "wan0"}, err)) << err;
  ASSERT_TRUE(ip({"addr", "del", std::string(kAddress) + "/32", "dev", "wan0"}, err)) << err;
  const ProcessResult first = update();
  EXPECT_NE(first.out.find("911"), std::string::npos) << first.out << first.err << daemon_->log();
  const std::size_t after911 = requests().size();
  EXPECT_EQ(after911, 2u) << "exactly one request met the 911";

  ::kill(daemon_->pid(), SIGUSR1);  // a forced pass in the daemon
  control("mode=normal");
  const ProcessResult second = update({"--force", "--json"});  // queued behind it
  const json report = json::parse(second.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << second.out << second.err;
  EXPECT_EQ(report["requests_sent"], 0) << second.out;
  EXPECT_EQ(requests().size(), after911) << "nothing may be sent within 30 minutes of a 911\n"
                                         << daemon_->log();
  // The one writer persisted the back-off.
  for (const auto& [key, h] : state().hosts) EXPECT_TRUE(h.retryNotBefore.has_value()) << key.second;
}

// Issue 12 item 1: run as root without a daemon, `dynmx update` takes the state lock and
// leaves the state file to the daemon user, who must read (and replace) it.
TEST_F(DdnsUpdate, RootRunUpdateLeavesTheStateToTheDaemonUser) {
  ASSERT_EQ(::geteuid(), 0u) << "this test checks what a root-run update leaves behind";
  startServers(1, 1);
  const ProcessResult r = update();
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(dir_.file("state/ddns-state.json").c_str(), &st), 0);
  const passwd* daemonUser = ::getpwnam("dynmx");
  ASSERT_NE(daemonUser, nullptr) << "the daemon user dynmx must exist (scripts/deps.sh)";
  EXPECT_EQ(st.st_uid, daemonUser->pw_uid) << "a root-owned 0600 state file locks the daemon out";
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The lock is exclusive: while something holds it, update refuses to write.
  auto held = FileLock::tryAcquire(dir_.file("state/ddns-state.lock"));
  ASSERT_TRUE(held.ok()) << held.error();
  const ProcessResult blocked = update({"--force"});
  EXPECT_NE(blocked.exitCode, 0);
  // Whoever holds the lock and does not answer on the control socket: update refuses to
  // write the state beside it.
  EXPECT_NE(blocked.err.find("not writing the DDNS state beside it"), std::string::npos) << blocked.err;
}

// Issue 12 item 7: SIGUSR1 is re-armed every time (it once was re-armed only once: five
// signals gave two passes). Each signal is sent after the previous one was handled.
TEST_F(DdnsUpdate, EverySigusr1IsHandled) {
  startServers(1, 1);
  startDaemon();
  const auto count = [&] {
    std::size_t n = 0;
    const std::string log = daemon_->log();
    for (auto at = log.find("SIGUSR1: forced update pass"); at != std::string::npos;
         at = log.find("SIGUSR1: forced update pass", at + 1))
      ++n;
    return n;
  };
  for (std::size_t i = 1; i <= 5; ++i) {
    ::kill(daemon_->pid(), SIGUSR1);
    for (int t = 0; t < 200 && count() < i; ++t) daemon_->waitForLog("\x01never", 50ms);
    ASSERT_EQ(count(), i) << "signal " << i << " was not handled\n" << daemon_->log();
  }
}

// Issue 12 item 7: a SIGHUP that changes [daemon] keys, which only a restart applies, says
// so in the log and in the status instead of ignoring them.
TEST_F(DdnsUpdate, ReloadThatChangesDaemonKeysSaysARestartIsNeeded) {
  startServers(1, 1);
  startDaemon();
  std::string text = testbed::slurp(policyFile_);
  const auto at = text.find("[daemon]\n");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + 9, "log_level = \"warn\"\n");
  // The daemon re-reads it as its own user; the policy holds no secret (password files do).
  testbed::writeTextFile(policyFile_, text, 0644);
  ::kill(daemon_->pid(), SIGHUP);
  ASSERT_TRUE(daemon_->waitForLog("only after a restart", 10s)) << daemon_->log();
  EXPECT_NE(daemon_->log().find("daemon.log_level"), std::string::npos) << daemon_->log();
  const ProcessResult st =
      runProcess({.argv = {dynmx_, "status", "-c", policyFile_, "--json"}, .timeout = 30s});
  const json j = json::parse(st.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << st.out << st.err;
  EXPECT_EQ(j.value("/daemon/restart_needed"_json_pointer, json::array()),
            json::array({"daemon.log_level"}))
      << st.out;
}

TEST_F(DdnsUpdate, BadAuthDisablesTheAccountAcrossRuns) {
  startServers(2, 2, /*badAuthAccount0=*/true);
  const ProcessResult first = update();
  EXPECT_NE(first.exitCode, 0) << first.out;
  EXPECT_EQ(requests().size(), 2u);
  EXPECT_NE(first.out.find("badauth"), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find("wrong-password"), std::string::npos);

  // A new process (a restart) sends nothing for the banned account, and says why.
  const ProcessResult second = update({"--force"});
  EXPECT_NE(second.exitCode, 0) << second.out;
  // Nothing at all: account 0 is banned, and account 1's forced re-send waits for the
  // provider's minimum interval after its update a moment ago (issue 12, item 10).
  EXPECT_EQ(requests().size(), 2u);
  EXPECT_NE(second.out.find("skip: backoff"), std::string::npos) << second.out;  // min interval
  EXPECT_NE(second.out.find("fatal: badauth"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("ddns.provider_fatal"), std::string::npos) << second.out;
}

TEST_F(DdnsUpdate, HijackedRecordIsReportedAsMismatch) {
  startServers(1, 2);
  const ProcessResult first = update();
  ASSERT_EQ(first.exitCode, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("health: healthy"), std::string::npos) << first.out;

  // Someone else changes the record at the authoritative server (TTL 0: no grace).
  const std::string victim = host(0, 1);
  auto r = named_->nsupdate("update delete " + victim + " A\nupdate add " + victim +
                            " 0 A 198.51.100.66\n");
  ASSERT_TRUE(r.succeeded()) << r.err << r.out;
  auto dig = named_->dig(victim);
  ASSERT_TRUE(dig.ok());
  ASSERT_EQ(*dig, "198.51.100.66");

  const ProcessResult second = update();
  EXPECT_NE(second.exitCode, 0) << second.out;
  EXPECT_EQ(requests().size(), 1u);  // the address did not change: nothing re-sent
  EXPECT_NE(second.out.find("ddns.mismatch"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find(victim + " resolves to 198.51.100.66 at 127.0.0.1:" +
                            std::to_string(named_->port()) + ", expected " + kAddress),
            std::string::npos)
      << second.out;
}

}  // namespace
}  // namespace dynmx
