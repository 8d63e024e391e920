// Secret hygiene: unique secret strings go into every secret input (ISP password file and
// inline password, DDNS password files and inline password, a wrong DDNS password that the
// provider refuses, a --password-file override); every CLI command runs at every log level
// against the loopback dyndns2 provider and a real named; everything dynmx printed or wrote
// (except the fetchmail rc itself, which must hold the ISP password) is grepped for the
// secrets. Expect zero hits. Secret files readable by group/other are refused.
//
// Each case runs in its own network namespace with a veth "wan0" holding 203.0.113.7, as
// the DDNS integration tests do, so address detection reads a real interface.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dynmx/process.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/named.hpp"
#include "testbed/ports.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx {
namespace {

using namespace std::chrono_literals;
using namespace nlohmann::literals;
namespace fs = std::filesystem;

constexpr const char* kAddress = "203.0.113.7";
const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};

std::string randomTag() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

bool ip(std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), "ip");
  auto r = runProcess({.argv = args, .timeout = 10s});
  if (!r.succeeded()) error = r.error + r.err;
  return r.succeeded();
}

/// Everything dynmx printed, with where it came from.
struct Captured {
  std::string label;
  std::string text;
};

class SecretHygiene : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
    std::string err;
    ASSERT_TRUE(ip({"link", "set", "lo", "up"}, err)) << err;
    // A veth pair (the dummy module may be missing); both ends up so the link reads as up.
    ASSERT_TRUE(ip({"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"}, err)) << err;
    ASSERT_TRUE(ip({"addr", "add", std::string(kAddress) + "/32", "dev", "wan0"}, err)) << err;
    ASSERT_TRUE(ip({"link", "set", "wan1", "up"}, err)) << err;
    ASSERT_TRUE(ip({"link", "set", "wan0", "up"}, err)) << err;
    const char* bin = std::getenv("DYNMX_BINARY");
    ASSERT_NE(bin, nullptr) << "DYNMX_BINARY not set";
    dynmx_ = bin;

    const std::string tag = randomTag();
    ispFile_ = "S3CRET-isp-" + tag;
    ispInline_ = "S3CRET-ispinline-" + tag;
    ispOverride_ = "S3CRET-ispoverride-" + tag;
    ddnsFile_ = "S3CRET-ddns-" + tag;
    ddnsInline_ = "S3CRET-ddnsinline-" + tag;
    ddnsWrong_ = "S3CRET-ddnswrong-" + tag;
    secrets_ = {ispFile_, ispInline_, ispOverride_, ddnsFile_, ddnsInline_, ddnsWrong_};

    in_ = dir_.subdir("in", 0700);
    out_ = dir_.subdir("out", 0755);
    testbed::writeTextFile(in_ + "/isp.password", ispFile_ + "\n", 0600);
    testbed::writeTextFile(in_ + "/isp-override.password", ispOverride_ + "\n", 0600);
    testbed::writeTextFile(in_ + "/ddns.password", ddnsFile_ + "\n", 0600);
    testbed::writeTextFile(in_ + "/ddns-wrong.password", ddnsWrong_ + "\n", 0600);
    // Started as root, `dynmx run` becomes the daemon user: the password files are its own.
    testbed::giveToDaemonUser({in_, in_ + "/isp.password", in_ + "/isp-override.password", in_ + "/ddns.password",
                               in_ + "/ddns-wrong.password"});
  }

  void TearDown() override {
    if (daemon_) daemon_->stop();
    if (dyndns2d_) dyndns2d_->stop();
    if (named_) named_->stop();
  }

  void startServers() {
    metricsPort_ = testbed::freePort();
    auto n = testbed::Named::start(dir_);
    ASSERT_TRUE(n.ok()) << n.error();
    named_ = std::move(*n);
    // The provider knows the right passwords; "wrong" has another one than our file.
    testbed::writeTextFile(dir_.file("accounts"),
                           "office:" + ddnsFile_ + ":office.example.test\n"
                           "inline:" + ddnsInline_ + ":inline.example.test\n"
                           "wrong:the-right-one:wrong.example.test\n",
                           0600);
    auto d = testbed::ServerProcess::start(
        {DYNDNS2D_BINARY, "--port", "0", "--accounts", dir_.file("accounts"), "--nsupdate-server",
         "127.0.0.1:" + std::to_string(named_->port()), "--nsupdate-key", named_->keyFile(),
         "--zone", "example.test", "--nsupdate-sync", "--ttl", "60"},
        dir_.file("dyndns2d.log"));
    ASSERT_TRUE(d.ok()) << d.error();
    dyndns2d_ = std::move(*d);
    ASSERT_TRUE(dyndns2d_->waitForLog("LISTENING", 10s)) << dyndns2d_->log();
    std::istringstream line(dyndns2d_->log().substr(dyndns2d_->log().find("LISTENING")));
    std::string word, addr;
    line >> word >> addr >> port_;
    ASSERT_GT(port_, 0);
  }

  /// A policy using password files (`inline_ = false`) or inline passwords.
  std::string writePolicy(const std::string& name, bool inlineSecrets) {
    const std::string state = dir_.subdir("state-" + name, 0700);
    const std::string fm = out_ + "/fm-" + name;
    rcFiles_.insert(fm + "/fetchmailrc");
    std::string p =
        "[mail]\nmode = \"auto\"\ndomains = [\"example.test\"]\n\n"
        "[link]\ntype = \"dedicated\"\ninterface = \"wan0\"\n\n"
        "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = 1\ntls = \"none\"\n"
        "user = \"example.test\"\n" +
        (inlineSecrets ? "password = \"" + ispInline_ + "\"\n"
                       : "password_file = \"" + in_ + "/isp.password\"\n") +
        "timeout = \"5s\"\n\n"
        "[envelope]\nheader = \"X-Original-To\"\n\n"
        "[users]\nwildcard = true\npostmaster = \"postmaster\"\n\n"
        "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = 2\n\n"
        "[fetchmail]\nbinary = \"/usr/bin/fetchmail\"\nrc_path = \"" + fm + "/fetchmailrc\"\n"
        "user = \"fetchmail\"\nhome = \"" + fm + "\"\npoll_interval = \"1m\"\n\n"
        "[ddns]\nrequest_timeout = \"10s\"\ncheck_interval = \"1m\"\n"
        "[ddns.detect]\nipv4 = true\ninterface = \"wan0\"\n"
        "[ddns.verify]\nservers = [\"127.0.0.1:" + std::to_string(named_->port()) + "\"]\n"
        "timeout = \"3s\"\n\n"
        "[daemon]\nstate_dir = \"" + state + "\"\ncontrol_socket = \"" + state + "/control.sock\"\n"
        "log = \"stderr\"\nlog_level = \"info\"\nmetrics = \"127.0.0.1:" +
        std::to_string(metricsPort_) + "\"\n";
    auto account = [&](const std::string& n, const std::string& user, const std::string& secret,
                       const std::string& file, const std::string& host) {
      p += "\n[[ddns.account]]\nname = \"" + n + "\"\nprovider = \"custom\"\n"
           "url = \"http://127.0.0.1:" + std::to_string(port_) + "/nic/update\"\n"
           "allow_insecure_http = true\nusername = \"" + user + "\"\n" +
           (inlineSecrets ? "password = \"" + secret + "\"\n" : "password_file = \"" + file + "\"\n") +
           "hosts = [\"" + host + "\"]\n";
    };
    if (inlineSecrets) {
      account("inline", "inline", ddnsInline_, "", "inline.example.test");
    } else {
      account("office", "office", "", in_ + "/ddns.password", "office.example.test");
      account("wrong", "wrong", "", in_ + "/ddns-wrong.password", "wrong.example.test");
    }
    const std::string path = in_ + "/" + name + ".toml";
    testbed::writeTextFile(path, p, 0600);
    return path;
  }

  ProcessResult run(const std::string& label, std::vector<std::string> args,
                    const std::string& level = "info") {
    args.insert(args.begin(), dynmx_);
    // No command but `run` takes a log level; the environment asks every one anyway.
    auto r = runProcess({.argv = args,
                         .env = {{"SPDLOG_LEVEL", level}, {"DYNMX_LOG_LEVEL", level}},
                         .timeout = 120s});
    EXPECT_TRUE(r.started) << label << ": " << r.error;
    EXPECT_FALSE(r.timedOut) << label;
    EXPECT_EQ(r.signal, 0) << label << ": killed by a signal (sanitizer?)\n" << r.err;
    captured_.push_back({label + " [stdout]", r.out});
    captured_.push_back({label + " [stderr]", r.err});
    return r;
  }

  void control(const std::string& query) {
    auto r = runProcess({.argv = {"curl", "-sf", "http://127.0.0.1:" + std::to_string(port_) +
                                                     "/control?" + query},
                         .timeout = 10s});
    ASSERT_TRUE(r.succeeded()) << r.err << r.out;
  }

  /// Every one-shot command, at `level`.
  void everyCommand(const std::string& policy, const std::string& name, const std::string& level) {
    const std::string l = name + "@" + level + ": ";
    run(l + "check", {"check", "-c", policy}, level);
    run(l + "check -q", {"check", "-q", "-c", policy}, level);
    run(l + "render-fetchmail", {"render-fetchmail", "-c", policy}, level);
    const auto w = run(l + "render-fetchmail --write", {"render-fetchmail", "-c", policy, "--write"}, level);
    EXPECT_EQ(w.exitCode, 0) << w.out << w.err;
    const auto o = run(l + "render-fetchmail --write --password-file",
                       {"render-fetchmail", "-c", policy, "--write", "--password-file",
                        in_ + "/isp-override.password"},
                       level);
    EXPECT_EQ(o.exitCode, 0) << o.out << o.err;
    run(l + "explain", {"explain", "-c", policy}, level);
    run(l + "explain failing",
        {"explain", "-c", policy, "--ddns", "failing", "--ddns-code", "ddns.provider_fatal",
         "--ddns-for", "10m", "--current", "direct", "--current-for", "2h"},
        level);
    run(l + "update", {"update", "-c", policy}, level);
    run(l + "update --json", {"update", "-c", policy, "--json"}, level);
    run(l + "update --force", {"update", "-c", policy, "--force"}, level);
    run(l + "status", {"status", "-c", policy}, level);
    run(l + "status --json", {"status", "-c", policy, "--json"}, level);
  }

  /// `dynmx run` at `level`: start, force a pass, ask status over the socket, reload, stop.
  void daemonAt(const std::string& policy, const std::string& name, const std::string& level) {
    const std::string logPath = out_ + "/run-" + name + "-" + level + ".log";
    auto d = testbed::ServerProcess::start({dynmx_, "run", "-c", policy, "--log", "stderr",
                                            "--log-level", level},
                                           logPath);
    ASSERT_TRUE(d.ok()) << d.error();
    daemon_ = std::move(*d);
    // At warn/error the start-up line is not logged: the control socket appearing is the
    // event (the log wait only paces the loop).
    const std::string socket = dir_.file("state-" + name) + "/control.sock";
    bool up = false;
    for (int i = 0; i < 100 && !up && daemon_->running(); ++i) {
      up = fs::exists(socket);
      if (!up) daemon_->waitForLog("running (pid", 100ms);
    }
    ASSERT_TRUE(up) << daemon_->log();
    const auto st = run(name + "@" + level + ": status (daemon)", {"status", "-c", policy, "--json"}, level);
    if (level == "info") {
      // The secrets grep needs the socket path covered: the report must come from the daemon.
      const auto j = nlohmann::json::parse(st.out, nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(j.is_object() && j.value("/daemon/running"_json_pointer, false))
          << "`dynmx status` did not get the report from the running daemon (the daemon's "
             "\"status\" command must answer result 0; the health is in the arguments):\n"
          << st.out << st.err;
    }
    // The metrics page is output too.
    const auto m = runProcess({.argv = {"curl", "-s", "http://127.0.0.1:" + std::to_string(metricsPort_) + "/metrics"},
                               .timeout = 10s});
    EXPECT_NE(m.out.find("dynmx_"), std::string::npos) << m.out << m.err;
    captured_.push_back({name + "@" + level + ": metrics", m.out});
    ::kill(daemon_->pid(), SIGUSR1);  // a forced update pass
    if (level == "trace" || level == "debug" || level == "info") {
      EXPECT_TRUE(daemon_->waitForLog("SIGUSR1", 10s)) << daemon_->log();
    }
    ::kill(daemon_->pid(), SIGHUP);  // a policy reload
    run(name + "@" + level + ": status (daemon)", {"status", "-c", policy}, level);
    run(name + "@" + level + ": status --json (daemon)", {"status", "-c", policy, "--json"}, level);
    const auto stopped = daemon_->stop(10s);
    EXPECT_TRUE(stopped.exited);
    EXPECT_FALSE(stopped.killed) << "SIGTERM must be enough";
    captured_.push_back({name + "@" + level + ": run log", testbed::slurp(logPath)});
    daemon_.reset();
  }

  /// Grep what dynmx printed and every file it wrote (but the rc) for every secret.
  void expectNoSecretAnywhere(bool expectFiles = true) {
    std::size_t scannedFiles = 0;
    for (const auto& c : captured_)
      for (const auto& s : secrets_)
        EXPECT_EQ(c.text.find(s), std::string::npos) << c.label << " shows the secret " << s;
    for (const auto& root : written_) {
      if (!fs::exists(root)) continue;
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        const std::string path = e.path().string();
        if (rcFiles_.count(path)) continue;
        ++scannedFiles;
        const std::string text = testbed::slurp(path);
        for (const auto& s : secrets_)
          EXPECT_EQ(text.find(s), std::string::npos) << path << " holds the secret " << s;
      }
    }
    EXPECT_GT(captured_.size(), 10u);
    if (expectFiles) {
      EXPECT_GT(scannedFiles, 0u) << "dynmx wrote state files to scan";
    }
  }

  testbed::TempDir dir_{"sec"};
  std::unique_ptr<testbed::Named> named_;
  std::unique_ptr<testbed::ServerProcess> dyndns2d_;
  std::unique_ptr<testbed::ServerProcess> daemon_;
  std::string dynmx_;
  std::string in_;
  std::string out_;
  int port_ = 0;
  int metricsPort_ = 0;
  std::string ispFile_, ispInline_, ispOverride_, ddnsFile_, ddnsInline_, ddnsWrong_;
  std::vector<std::string> secrets_;
  std::set<std::string> rcFiles_;
  std::vector<std::string> written_;
  std::vector<Captured> captured_;
};

TEST_F(SecretHygiene, EveryCommandAtEveryLogLevelKeepsTheSecretsOut) {
  startServers();
  const std::string files = writePolicy("files", false);
  const std::string inl = writePolicy("inline", true);
  written_ = {out_, dir_.file("state-files"), dir_.file("state-inline")};

  for (const auto& level : kLevels) {
    everyCommand(files, "files", level);
    everyCommand(inl, "inline", level);
  }
  // Provider faults: 911, garbage, HTTP 500, a hanging provider; and the "wrong" account
  // gets badauth throughout.
  for (const std::string q : {"mode=code&code=911", "mode=garbage", "mode=http&status=500",
                              "mode=code&code=badauth", "mode=normal"}) {
    control(q);
    run("files@" + q + ": update --force", {"update", "-c", files, "--force"}, "trace");
    run("inline@" + q + ": update --force", {"update", "-c", inl, "--force"}, "trace");
  }
  for (const auto& level : kLevels) {
    daemonAt(files, "files", level);
    daemonAt(inl, "inline", level);
  }
  run("files: status after the daemon", {"status", "-c", files, "--json"});

  // The rc did get the password: the test would notice a renderer that dropped it.
  bool rcHasIsp = false;
  for (const auto& rc : rcFiles_) {
    const std::string text = testbed::slurp(rc);
    rcHasIsp = rcHasIsp || text.find(ispFile_) != std::string::npos ||
               text.find(ispInline_) != std::string::npos ||
               text.find(ispOverride_) != std::string::npos;
  }
  EXPECT_TRUE(rcHasIsp) << "the rc file holds the ISP password (it is the one exception)";
  expectNoSecretAnywhere();
}

TEST_F(SecretHygiene, SecretFilesReadableByGroupOrOtherAreRefused) {
  startServers();
  const std::string policy = writePolicy("files", false);
  written_ = {out_, dir_.file("state-files")};
  for (const std::string file : {"isp.password", "ddns.password"}) {
    for (unsigned mode : {0640u, 0604u, 0644u, 0660u}) {
      const std::string path = in_ + "/" + file;
      ASSERT_EQ(::chmod(path.c_str(), mode), 0);
      const std::string label = file + " mode " + std::to_string(mode);
      const auto check = run(label + ": check", {"check", "-c", policy});
      EXPECT_NE(check.exitCode, 0) << label;
      EXPECT_NE(check.out.find(path) + check.err.find(path), 2 * std::string::npos)
          << label << ": the refusal names the file\n" << check.out << check.err;
      EXPECT_NE((check.out + check.err).find("group/other"), std::string::npos) << check.out << check.err;
      const auto update = run(label + ": update", {"update", "-c", policy});
      EXPECT_NE(update.exitCode, 0) << label << update.out;
      if (file == "isp.password") {
        const auto w = run(label + ": render --write", {"render-fetchmail", "-c", policy, "--write"});
        EXPECT_NE(w.exitCode, 0) << label << ": a readable ISP password file is refused";
      }
      const auto r = run(label + ": run", {"run", "-c", policy, "--log", "stderr"});
      EXPECT_NE(r.exitCode, 0) << label << ": the daemon refuses to start";
    }
    ASSERT_EQ(::chmod((in_ + "/" + file).c_str(), 0600), 0);
  }
  // The override file for render-fetchmail is checked too.
  ASSERT_EQ(::chmod((in_ + "/isp-override.password").c_str(), 0644), 0);
  const auto w = run("override 0644: render --write",
                     {"render-fetchmail", "-c", policy, "--write", "--password-file",
                      in_ + "/isp-override.password"});
  EXPECT_NE(w.exitCode, 0) << "a readable --password-file is refused";
  expectNoSecretAnywhere(/*expectFiles=*/false);
}

TEST_F(SecretHygiene, SyntaxErrorsOnPasswordLinesHideTheSecret) {
  startServers();
  const std::string good = testbed::slurp(writePolicy("inline", true));
  written_ = {out_, dir_.file("state-inline")};
  // Break the inline ISP password line in ways a parser may quote back.
  const std::vector<std::pair<std::string, std::string>> breaks = {
      {"\"" + ispInline_ + "\"", "\"" + ispInline_},            // unterminated string
      {"\"" + ispInline_ + "\"", "\"" + ispInline_ + "\\q\""},  // bad escape
      {"\"" + ispInline_ + "\"", ispInline_},                   // bare word
      {"\"" + ispInline_ + "\"", "\"" + ispInline_ + "\" x"},   // trailing junk
      {"\"" + ddnsInline_ + "\"", "[\"" + ddnsInline_ + "\"]"}, // wrong type
      {"\"" + ddnsInline_ + "\"", "\"" + ddnsInline_ + "\x01\""},  // control character
  };
  int i = 0;
  for (const auto& [from, to] : breaks) {
    std::string text = good;
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), to);
    const std::string path = in_ + "/broken" + std::to_string(i++) + ".toml";
    testbed::writeTextFile(path, text, 0600);
    for (const auto& level : kLevels) {
      const auto c = run(path + "@" + level + ": check", {"check", "-c", path}, level);
      EXPECT_NE(c.exitCode, 0) << to;
      run(path + "@" + level + ": render", {"render-fetchmail", "-c", path}, level);
      run(path + "@" + level + ": run", {"run", "-c", path, "--log-level", level}, level);
    }
  }
  expectNoSecretAnywhere(/*expectFiles=*/false);
}

}  // namespace
}  // namespace dynmx
