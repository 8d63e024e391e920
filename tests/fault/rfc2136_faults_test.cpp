// Fault class "rfc2136": the DNS UPDATE path fails in every way a primary can refuse or
// miss an update. Two worlds:
//   Updater — makeUpdater against a real named with TSIG: BADKEY (a key the server does not
//             know), BADSIG (the right name, a wrong secret), BADTIME (our clock skewed by
//             two hours), REFUSED (update-policy does not grant the type), NOTAUTH (a zone
//             the server is not authoritative for), the primary down (then a second server
//             up), and an over-size update that must go over TCP. Each outcome is asserted.
//   Daemon  — `dynmx run` with an rfc2136 account in the loopback world (real named,
//             dovecot, fetchmail): it starts with a wrong key (BADSIG); status must name
//             BADSIG, mail must go to multidrop and be delivered; the key is replaced, the
//             address is published, mail returns to direct, and no message is lost.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <string>

#include "dns_fetchmail_support.hpp"
#include "dynmx/dnsupdate.hpp"
#include "fault_class.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/named.hpp"
#include "testbed/ports.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using dnsupdate::Change;
using dnsupdate::RecordType;
using dnsupdate::RRset;
using dnsupdate::TsigKey;
using dnsupdate::UpdateMessage;
using dnsupdate::UpdateOutcome;
using dnsupdate::Verdict;
using testbed::eventually;
using testbed::LoopbackWorld;

constexpr const char* kOtherSecret = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=";

/// dig's answer, or a text saying why dig failed (never equal to an expected answer).
std::string digText(const testbed::Named& named, const std::string& name, const std::string& type = "A") {
  auto r = named.dig(name, type);
  return r.ok() ? *r : "dig failed: " + r.error();
}

UpdateOutcome sendOnce(dnsupdate::UpdaterConfig config, UpdateMessage m) {
  boost::asio::io_context io;
  auto updater = dnsupdate::makeUpdater(io, std::move(config));
  std::optional<UpdateOutcome> out;
  updater->send(std::move(m), [&](UpdateOutcome o) { out = std::move(o); });
  io.run();  // bounded by the updater's own timeouts
  EXPECT_TRUE(out.has_value()) << "the updater never answered";
  return out.value_or(UpdateOutcome{});
}

UpdateMessage publishA(const std::string& address, const std::string& zone = "example.test") {
  return UpdateMessage{
      zone, {}, {Change{Change::Kind::ReplaceRRset, RRset{"office." + zone, RecordType::A, 60, {address}}}}};
}

void expectOutcome(const UpdateOutcome& o, Verdict verdict, const std::string& rcode,
                   const std::string& words) {
  EXPECT_EQ(o.verdict, verdict) << toString(o.verdict) << " " << o.rcode << ": " << o.detail;
  EXPECT_EQ(o.rcode, rcode) << o.detail;
  EXPECT_NE(o.detail.find(words), std::string::npos) << o.detail;
  std::cout << "[ outcome  ] " << toString(o.verdict) << " " << o.rcode << (o.overTcp ? " (tcp)" : "") << ": "
            << o.detail << std::endl;
}

TEST(Rfc2136Faults, Updater) {
  testbed::TempDir dir("f2136u");
  testbed::NamedOptions options;
  options.updateTypes = "A AAAA";  // no MX: an MX update is REFUSED
  auto started = testbed::Named::start(dir, options);
  ASSERT_TRUE(started.ok()) << started.error();
  auto& named = **started;
  auto loaded = dnsupdate::loadKeyFile(named.keyFile());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const TsigKey key = *loaded;
  dnsupdate::UpdaterConfig base;
  base.servers = {{"127.0.0.1", named.port()}};
  base.key = key;
  base.timeout = 3s;

  FaultClass rfc("rfc2136");

  rfc.scenario("badkey", [&](Scenario&) {
    auto c = base;
    c.key.name = "unknown-key";
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Fatal, "BADKEY",
                  "does not know key 'unknown-key'");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("badsig", [&](Scenario&) {
    auto c = base;
    c.key.secret = kOtherSecret;
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Fatal, "BADSIG", "secret differs");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("badtime", [&](Scenario&) {
    auto c = base;
    c.signingClock = [] {
      return std::chrono::time_point_cast<Duration>(Clock::now()) - std::chrono::hours(2);
    };
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::BackOff, "BADTIME", "clock");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("refused", [&](Scenario&) {
    UpdateMessage mx{"example.test",
                     {},
                     {Change{Change::Kind::ReplaceRRset,
                             RRset{"example.test", RecordType::MX, 60, {"10 mx.isp.example."}}}}};
    expectOutcome(sendOnce(base, mx), Verdict::Fatal, "REFUSED", "update-policy");
    EXPECT_EQ(digText(named, "example.test", "MX"), "");
  });

  rfc.scenario("notauth", [&](Scenario&) {
    expectOutcome(sendOnce(base, publishA("203.0.113.7", "other.test")), Verdict::Fatal, "NOTAUTH",
                  "not authoritative");
  });

  rfc.scenario("primary-down", [&](Scenario&) {
    // Nothing listens on a fresh port: the loopback UDP send is refused (ICMP), no timeout.
    auto c = base;
    const int dead = testbed::freePort();
    c.servers = {{"127.0.0.1", dead}};
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Retry, "connection-refused",
                  "primary is down");
    // With a second server configured, the update goes there.
    c.servers = {{"127.0.0.1", dead}, {"127.0.0.1", named.port()}};
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Applied, "NOERROR", "applied");
    EXPECT_EQ(digText(named, "office.example.test"), "203.0.113.7");
  });

  rfc.scenario("oversize-tcp", [&](Scenario&) {
    UpdateMessage big = publishA("203.0.113.10");
    for (int i = 11; i < 60; ++i) big.changes[0].rrset.records.push_back("203.0.113." + std::to_string(i));
    const auto o = sendOnce(base, big);
    expectOutcome(o, Verdict::Applied, "NOERROR", "applied");
    EXPECT_TRUE(o.overTcp) << "a message over 512 bytes must go over TCP";
    auto answer = named.dig("office.example.test");
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(std::count(answer->begin(), answer->end(), '\n') + 1, 50) << *answer;
  });

  rfc.report();
}

/// The world's policy with its dyndns2 account replaced by an rfc2136 one.
std::string rfc2136Policy(const LoopbackWorld& w, const std::string& keyFile) {
  const std::string& p = w.goodPolicy;
  const auto from = p.find("[[ddns.account]]");
  const auto to = p.find("[daemon]");
  EXPECT_NE(from, std::string::npos);
  EXPECT_NE(to, std::string::npos);
  return p.substr(0, from) + "[[ddns.account]]\nname = \"office\"\nprovider = \"rfc2136\"\nkey_file = \"" +
         keyFile + "\"\nzone = \"" + w.named->zone() +
         "\"\nserver = \"127.0.0.1:" + std::to_string(w.named->port()) + "\"\nttl = 1\nhosts = [\"" +
         testbed::kWorldHost + "\"]\n" + p.substr(to);
}

void writeKey(const std::string& path, const LoopbackWorld& w, const std::string& secret) {
  // A new file each time (new inode and mtime): the engine then tries again.
  ::unlink(path.c_str());
  testbed::writeTextFile(path,
                         "key \"" + w.named->keyName() + "\" {\n\talgorithm " + w.named->keyAlgorithm() +
                             ";\n\tsecret \"" + secret + "\";\n};\n",
                         0600);
  giveToDaemonUser(path);
}

/// named again on its own config and port (stopped first if running).
class NamedRestarts {
 public:
  void restart(LoopbackWorld& w, const std::string& grantTypes = "") {
    stop(w);
    const std::string conf = w.dir.path() + "/named/named.conf";
    if (!grantTypes.empty()) {
      std::string text = testbed::slurp(conf);
      const auto at = text.find(" zonesub ");
      ASSERT_NE(at, std::string::npos) << text;
      text.replace(at + 9, text.find(';', at) - at - 9, grantTypes);
      testbed::writeTextFile(conf, text, 0644);
    }
    auto p = testbed::ServerProcess::start({"named", "-g", "-4", "-n", "1", "-c", conf},
                                           w.dir.path() + "/named/named." + std::to_string(++n_) + ".log");
    ASSERT_TRUE(p.ok()) << p.error();
    current_ = std::move(*p);
    ASSERT_TRUE(current_->waitForPort(w.named->port(), 20s).ok()) << current_->log();
    ASSERT_TRUE(eventually([&] { return w.named->dig(w.named->zone(), "SOA").ok(); }, 20s))
        << current_->log();
  }
  void stop(LoopbackWorld& w) {
    w.named->stop();
    if (current_) current_->stop();
  }

  NamedRestarts() = default;
  NamedRestarts(const NamedRestarts&) = delete;
  NamedRestarts& operator=(const NamedRestarts&) = delete;
  ~NamedRestarts() {
    if (current_) current_->stop();
  }

 private:
  std::unique_ptr<testbed::ServerProcess> current_;
  int n_ = 0;
};

/// A fault present when `dynmx run` starts, so its first publication meets it.
struct StartupFault {
  std::string tag;
  std::function<void(LoopbackWorld&, const std::string& keyFile, NamedRestarts&)> inject;
  std::function<void(LoopbackWorld&, const std::string& keyFile, NamedRestarts&)> restore;
  std::string named;                        ///< what status must name while the fault lasts
  std::chrono::seconds publishBound = 60s;  ///< from the restore to the published record
};

void runStartupFault(Scenario& s, const StartupFault& f) {
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "f2136" + f.tag.substr(0, 3));
  NamedRestarts restarts;  // destroyed first: a restarted named stops before the world's dir goes
  ASSERT_TRUE(w.start().ok());
  // No record yet: dynmx's first publication is guarded by "the A RRset does not exist".
  auto del = w.named->nsupdate(std::string("update delete ") + testbed::kWorldHost + " A\n");
  ASSERT_TRUE(del.succeeded()) << del.out << del.err;
  const std::string keyFile = w.dir.path() + "/dynmx.key";
  writeKey(keyFile, w, w.named->keySecret());
  testbed::writeTextFile(w.policyPath, rfc2136Policy(w, keyFile), 0644);
  auto check = w.dynmx({"check", "-c", w.policyPath});
  ASSERT_EQ(check.first, 0) << check.second;

  f.inject(w, keyFile, restarts);
  ASSERT_TRUE(w.startDaemon().ok());
  MailLedger ledger;
  ledger.deposit(w, f.tag + "-1", "alice@example.com", "alice");
  ASSERT_TRUE(w.waitForMode("multidrop", 90s)) << f.tag << "\n" << statusOf(w).dump(2) << w.daemon->log();
  Json st;
  EXPECT_TRUE(eventually(
      [&] {
        st = statusOf(w);
        return st.dump().find(f.named) != std::string::npos;
      },
      30s))
      << f.tag << ": status does not name " << f.named << ":\n"
      << st.dump(2);
  auto text = w.statusText();
  // The printed report names the engine's result code ("connect-error" for a refused
  // connection to the primary); the JSON above carries the transport's own word.
  const std::string printed = f.named == "connection-refused" ? "connect-error" : f.named;
  EXPECT_NE(text.second.find(printed), std::string::npos) << text.second;
  std::cout << "[ named    ] " << f.tag << ": " << text.second << std::endl;
  if (auto a = w.named->dig(testbed::kWorldHost); a.ok()) {  // a stopped primary answers nothing
    EXPECT_EQ(*a, "") << f.tag << ": nothing may be published";
  }
  ledger.deposit(w, f.tag + "-2", "Bob@Example.COM", "bob");
  ledger.deposit(w, f.tag + "-3", "stranger@example.com", "postmaster");
  EXPECT_TRUE(ledger.waitAll(w, 60s)) << f.tag << ": mail not fetched on multidrop\n" << w.daemon->log();
  ASSERT_TRUE(daemonAnswers(w)) << w.daemon->log();

  // The admin fixes it: the next try publishes, mail returns to direct.
  f.restore(w, keyFile, restarts);
  EXPECT_TRUE(eventually([&] { return digText(*w.named, testbed::kWorldHost) == testbed::kWorldAddress; },
                         f.publishBound))
      << f.tag << ": not published after the fix\n"
      << statusOf(w).dump(2);
  EXPECT_TRUE(w.waitForMode("direct", 120s)) << f.tag << "\n" << statusOf(w).dump(2);
  EXPECT_EQ(w.dovecot->count("office"), 0u) << f.tag << ": mail left at the ISP after the switch back";
  ASSERT_TRUE(daemonAnswers(w)) << w.daemon->log();
  s.lost = ledger.lost(w);
  w.daemon->stop(20s);
}

TEST(Rfc2136Faults, Daemon) {
  ASSERT_EQ(::geteuid(), 0u)
      << "the daemon-level rfc2136 faults need root (dovecot mail users, fetchmail as nobody)";
  FaultClass rfc("rfc2136");

  // A wrong secret: BADSIG stops updates; a new key file lifts the stop.
  rfc.scenario("daemon-badsig", [&](Scenario& s) {
    runStartupFault(
        s,
        {"badsig",
         [](LoopbackWorld& w, const std::string& k, NamedRestarts&) { writeKey(k, w, kOtherSecret); },
         [](LoopbackWorld& w, const std::string& k, NamedRestarts&) { writeKey(k, w, w.named->keySecret()); },
         "BADSIG"});
  });

  // A key name the server does not know: BADKEY.
  rfc.scenario("daemon-badkey", [&](Scenario& s) {
    runStartupFault(
        s,
        {"badkey",
         [](LoopbackWorld& w, const std::string& k, NamedRestarts&) {
           ::unlink(k.c_str());
           testbed::writeTextFile(k,
                                  "key \"not-on-the-server\" { algorithm hmac-sha256; secret \"" +
                                      w.named->keySecret() + "\"; };\n",
                                  0600);
           giveToDaemonUser(k);
         },
         [](LoopbackWorld& w, const std::string& k, NamedRestarts&) { writeKey(k, w, w.named->keySecret()); },
         "BADKEY"});
  });

  // The update-policy does not grant A: REFUSED stops the host; the admin adds the grant and
  // replaces the key file (a stop lasts until the account changes).
  rfc.scenario("daemon-refused", [&](Scenario& s) {
    runStartupFault(
        s, {"refused", [](LoopbackWorld& w, const std::string&, NamedRestarts& r) { r.restart(w, "TXT"); },
            [](LoopbackWorld& w, const std::string& k, NamedRestarts& r) {
              r.restart(w, "A AAAA TXT MX");
              writeKey(k, w, w.named->keySecret());
            },
            "REFUSED"});
  });

  // The primary is down when the daemon starts: connection refused, retried with back-off
  // (1 minute after the first failure), published once named is back.
  rfc.scenario("daemon-primary-down", [&](Scenario& s) {
    runStartupFault(
        s, {"primary-down", [](LoopbackWorld& w, const std::string&, NamedRestarts&) { w.named->stop(); },
            [](LoopbackWorld& w, const std::string&, NamedRestarts& r) { r.restart(w); },
            "connection-refused", 150s});
  });
  rfc.report();
}

}  // namespace
}  // namespace dynmx::fault
