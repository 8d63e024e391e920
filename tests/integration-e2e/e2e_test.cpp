// dynmx end to end, with real parts: BIND9 holds the zone, the loopback dyndns2 provider
// pushes our updates into it, dovecot is the ISP's domain box, the real fetchmail fetches,
// a sink records every delivery, and `dynmx run` coordinates. The story:
//   1. fresh start: multidrop (safe) → the waiting mail is fetched → hold-down → drain →
//      direct, nothing left at the ISP;
//   2. a hijack of the record (nsupdate) → ddns.mismatch → multidrop, status WARNING,
//      new mail at the ISP is delivered;
//   3. recovery with mail still waiting at the ISP → hold-down → drain → direct;
//   4. SIGKILL and restart: same mode, no extra provider request;
//   5. an invalid policy on SIGHUP: still running on the old one, errors in status.
// Every wait is on an observable event (status, sink, box) with a bounded timeout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "dynmx/process.hpp"
#include "testbed/dovecot.hpp"
#include "testbed/mail_sink.hpp"
#include "testbed/named.hpp"
#include "testbed/ports.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kHost = "office.example.test";
constexpr const char* kAddress = "203.0.113.7";
constexpr const char* kHijacker = "198.51.100.66";

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

/// Poll a condition until it holds or the bound passes (each check is an observation of
/// the system, not a guess at how long something takes).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

std::string message(const std::string& id, const std::string& rcpt) {
  return "Delivered-To: office@isp.example\r\n"
         "X-Original-To: " + rcpt + "\r\n"
         "Delivered-To: " + rcpt + "\r\n"
         "From: sender@example.net\r\n"
         "To: " + rcpt + "\r\n"
         "Subject: " + id + "\r\n"
         "Message-ID: <" + id + "@example.net>\r\n"
         "X-Test-Id: " + id + "\r\n"
         "\r\n"
         "body of " + id + "\r\n";
}

struct World {
  TempDir dir{"e2e"};
  std::unique_ptr<Named> named;
  std::unique_ptr<Dovecot> dovecot;
  MailSink sink;
  std::unique_ptr<ServerProcess> provider;
  int providerPort = 0;
  std::unique_ptr<ServerProcess> daemon;
  std::string policyPath;
  std::string goodPolicy;
  int daemonStarts = 0;

  void start() {
    ::chmod(dir.path().c_str(), 0755);  // fetchmail runs as nobody and must reach its home
    auto n = Named::start(dir);
    ASSERT_TRUE(n.ok()) << n.error();
    named = std::move(*n);
    auto d = Dovecot::start(dir);
    ASSERT_TRUE(d.ok()) << d.error();
    dovecot = std::move(*d);
    ASSERT_TRUE(dovecot->addUser("office", "isp-secret-E2E").ok());

    writeTextFile(dir.path() + "/accounts", std::string("office:ddns-secret-E2E:") + kHost + "\n", 0600);
    providerPort = freePort();
    auto p = ServerProcess::start(
        {DYNDNS2D_BINARY, "--port", std::to_string(providerPort), "--accounts", dir.path() + "/accounts", "--log",
         dir.path() + "/provider.log", "--public-ip", kAddress, "--nsupdate-server",
         "127.0.0.1:" + std::to_string(named->port()), "--nsupdate-key", named->keyFile(), "--zone", named->zone(),
         "--nsupdate-sync", "--ttl", "1"},
        dir.path() + "/provider.out");
    ASSERT_TRUE(p.ok()) << p.error();
    provider = std::move(*p);
    ASSERT_TRUE(provider->waitForPort(providerPort, 20s).ok());

    writeTextFile(dir.path() + "/isp.password", "isp-secret-E2E\n", 0600);
    writeTextFile(dir.path() + "/ddns.password", "ddns-secret-E2E\n", 0600);
    ::mkdir((dir.path() + "/fm").c_str(), 0755);
    policyPath = dir.path() + "/dynmx.toml";
    goodPolicy = policyText();
    writeTextFile(policyPath, goodPolicy, 0644);
  }

  std::string policyText() const {
    const std::string d = dir.path();
    const std::string src = "http://127.0.0.1:" + std::to_string(providerPort);
    return "[mail]\nmode = \"auto\"\ndomains = [\"example.com\"]\n"
           "[link]\ntype = \"dedicated\"\ninterface = \"lo\"\n"
           "[health]\nddns_failing_max = \"2s\"\nlink_down_max = \"2s\"\nhold_down = \"4s\"\n"
           "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = " + std::to_string(dovecot->pop3Port()) +
           "\ntls = \"none\"\nuser = \"office\"\npassword_file = \"" + d + "/isp.password\"\ntimeout = \"20s\"\n"
           "[envelope]\nheader = \"X-Original-To\"\nskip = 0\n"
           "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
           "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(sink.port()) + "\n"
           "[fetchmail]\nrc_path = \"" + d + "/fm/fetchmailrc\"\nhome = \"" + d + "/fm/home\"\nuser = \"nobody\"\n"
           "poll_interval = \"10s\"\n"
           "[ddns]\nenabled = true\ncheck_interval = \"2s\"\nrequest_timeout = \"10s\"\n"
           "[ddns.detect]\nipv4 = true\nweb_sources = [\"" + src + "/ip\"]\nagreement = \"first\"\ntimeout = \"5s\"\n"
           "[ddns.verify]\nservers = [\"127.0.0.1:" + std::to_string(named->port()) + "\"]\ninterval = \"1s\"\n"
           "timeout = \"2s\"\n"
           "[[ddns.account]]\nname = \"office\"\nprovider = \"custom\"\nurl = \"" + src + "/nic/update\"\n"
           "allow_insecure_http = true\nusername = \"office\"\npassword_file = \"" + d + "/ddns.password\"\n"
           "hosts = [\"" + kHost + "\"]\n"
           "[daemon]\nstate_dir = \"" + d + "/state\"\ncontrol_socket = \"" + d + "/ctl.sock\"\nlog = \"stderr\"\n"
           "log_level = \"debug\"\n";
  }

  void startDaemon() {
    auto p = ServerProcess::start({dynmxBinary(), "run", "-c", policyPath},
                                  dir.path() + "/dynmx." + std::to_string(++daemonStarts) + ".log");
    ASSERT_TRUE(p.ok()) << p.error();
    daemon = std::move(*p);
    ASSERT_TRUE(eventually([&] { return status().has_value(); }, 30s)) << daemon->log();
  }

  /// `dynmx status --json` → (exit code, report), nullopt if the daemon did not answer.
  std::optional<std::pair<int, Json>> status() const {
    // Explicit paths: while step 5 leaves an invalid policy on disk, the CLI cannot read them from it.
    auto r = runProcess({.argv = {dynmxBinary(), "status", "--socket", dir.path() + "/ctl.sock", "--state",
                                  dir.path() + "/state/state.json", "--json"},
                         .timeout = 20s});
    if (!r.started || r.timedOut) return std::nullopt;
    try {
      Json j = Json::parse(r.out);
      if (!j["daemon"]["running"].get<bool>()) return std::nullopt;
      return std::make_pair(r.exitCode, j);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  std::string mode() const {
    auto s = status();
    return s ? s->second["mode"]["current"].get<std::string>() : "";
  }

  bool waitForMode(const std::string& want, std::chrono::milliseconds bound) const {
    return eventually(
        [&] {
          auto s = status();
          return s && s->second["mode"]["current"] == want && !s->second["mode"]["switching"].get<bool>();
        },
        bound);
  }

  long providerRequests() const {
    auto r = runProcess({.argv = {"curl", "-s", "http://127.0.0.1:" + std::to_string(providerPort) + "/stats"},
                         .timeout = 10s});
    return Json::parse(r.out)["requests"].get<long>();
  }

  void setRecord(const std::string& address) const {
    auto r = named->nsupdate(std::string("update delete ") + kHost + " A\nupdate add " + kHost + " 1 A " +
                             address + "\n");
    ASSERT_TRUE(r.succeeded()) << r.err;
  }
};

/// Each test id reached exactly the expected local users, exactly once.
void expectDeliveredExactlyOnce(const MailSink& sink, const std::map<std::string, std::string>& expected) {
  std::map<std::string, std::multiset<std::string>> got;
  for (const auto& m : sink.messages())
    for (const auto& r : m.recipients) got[m.testId].insert(r.substr(0, r.find('@')));
  for (const auto& [id, user] : expected) {
    EXPECT_EQ(got[id], std::multiset<std::string>{user}) << id;
  }
}

bool allDelivered(const std::vector<SinkMessage>& messages, const std::map<std::string, std::string>& expected) {
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.testId);
  for (const auto& [id, user] : expected)
    if (ids.count(id) == 0) return false;
  return true;
}

TEST(EndToEnd, FailoverAndRecoveryWithoutLosingMail) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  World w;
  w.start();
  if (::testing::Test::HasFatalFailure()) return;
  w.setRecord("192.0.2.1");  // a stale record until dynmx publishes ours

  // 1. Mail waiting at the ISP before dynmx ever ran.
  std::map<std::string, std::string> batch1 = {{"A1", "alice"}, {"A2", "bob"}, {"A3", "postmaster"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("A1", "alice@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("A2", "bob@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("A3", "nobody-here@example.com")).ok());
  w.startDaemon();
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch1); }, 60s)) << w.daemon->log();
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  auto journal = w.status()->second["switches"];
  ASSERT_EQ(journal.size(), 1u) << journal.dump(2);
  EXPECT_EQ(journal[0]["from"], "multidrop") << "a fresh start is on the safe side until the hold-down";
  EXPECT_EQ(journal[0]["to"], "direct");
  expectDeliveredExactlyOnce(w.sink, batch1);
  EXPECT_EQ(w.dovecot->count("office"), 0u);
  auto published = w.named->dig(kHost);
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(*published, kAddress);
  auto healthy = w.status();
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->first, 0) << healthy->second.dump(2);
  EXPECT_EQ(healthy->second["health"], "ok");

  // 2. Hijack: the record now points at a stranger.
  w.setRecord(kHijacker);
  ASSERT_TRUE(w.waitForMode("multidrop", 60s)) << w.daemon->log();
  auto hijacked = w.status();
  ASSERT_TRUE(hijacked);
  EXPECT_EQ(hijacked->first, 1) << "WARNING while on multidrop because of a failure";
  std::string reasons = hijacked->second["mode"]["reasons"].dump();
  EXPECT_NE(reasons.find("ddns"), std::string::npos) << reasons;
  std::map<std::string, std::string> batch2 = {{"B1", "carol"}, {"B2", "alice"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("B1", "carol@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("B2", "Alice@Example.COM")).ok());
  ASSERT_TRUE(w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch2); }, 60s)) << w.daemon->log();
  expectDeliveredExactlyOnce(w.sink, batch2);

  // 3. Recovery while mail is still waiting at the ISP: the drain must fetch it.
  std::map<std::string, std::string> batch3 = {{"C1", "bob"}, {"C2", "carol"}};
  ASSERT_TRUE(w.dovecot->deliver("office", message("C1", "bob@example.com")).ok());
  ASSERT_TRUE(w.dovecot->deliver("office", message("C2", "carol@example.com")).ok());
  w.setRecord(kAddress);
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  EXPECT_TRUE(allDelivered(w.sink.messages(), batch3));
  expectDeliveredExactlyOnce(w.sink, batch3);
  EXPECT_EQ(w.dovecot->count("office"), 0u) << "nothing left at the ISP after the switch back";
  auto back = w.status();
  ASSERT_TRUE(back);
  EXPECT_GE(back->second["switches"].size(), 3u);
  EXPECT_EQ(w.sink.count(), batch1.size() + batch2.size() + batch3.size()) << "no duplicates, nothing extra";

  // 4. SIGKILL, restart: same mode, no new provider request.
  const long requestsBefore = w.providerRequests();
  ::kill(w.daemon->pid(), SIGKILL);
  w.daemon->stop();
  w.startDaemon();
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(w.mode(), "direct");
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        return s && s->second["ddns_health"]["state"] == "healthy";
      },
      30s));
  EXPECT_EQ(w.mode(), "direct");
  EXPECT_EQ(w.providerRequests(), requestsBefore) << "a restart re-sends nothing";

  // 5. SIGHUP with an invalid policy: keeps running on the old one; status shows why.
  writeTextFile(w.policyPath, w.goodPolicy + "\n[mail]\nmdoe = \"direct\"\n", 0644);
  ::kill(w.daemon->pid(), SIGHUP);
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        return s && !s->second["daemon"]["policy_errors"].empty();
      },
      30s))
      << w.daemon->log();
  auto rejected = w.status();
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->second["mode"]["current"], "direct");
  EXPECT_NE(rejected->second["daemon"]["policy_errors"].dump().find("dynmx.toml:"), std::string::npos);
  EXPECT_EQ(rejected->first, 1) << "pending policy errors are a WARNING";
  writeTextFile(w.policyPath, w.goodPolicy, 0644);
  ::kill(w.daemon->pid(), SIGHUP);
  ASSERT_TRUE(eventually(
      [&] {
        auto s = w.status();
        return s && s->second["daemon"]["policy_errors"].empty();
      },
      30s));

  // Clean shutdown.
  w.daemon->stop(20s);
  // The secrets never reached the log.
  const std::string log = w.daemon->log();
  EXPECT_EQ(log.find("isp-secret-E2E"), std::string::npos);
  EXPECT_EQ(log.find("ddns-secret-E2E"), std::string::npos);
}

}  // namespace
}  // namespace dynmx::testbed
