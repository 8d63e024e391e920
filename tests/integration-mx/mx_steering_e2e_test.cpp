// MX steering end to end: two real named instances (a primary that accepts TSIG-signed
// updates and a secondary fed by NOTIFY + zone transfer), the real Coordinator, the real
// mx::Steering with the ldns updater and the c-ares resolver. Direct → multidrop → direct:
// the MX set at every authoritative server follows the mode, checked with `dig +norec`.
// The link, the DDNS engine and fetchmail are fakes; the coordinator's clock is a fake one.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "dynmx/coordinator.hpp"
#include "dynmx/mx_steering.hpp"
#include "dynmx/process.hpp"
#include "testbed/ports.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx {
namespace {

using namespace std::chrono_literals;

const char* kZone = "example.test";

// A named instance: primary (accepts updates, notifies the secondary) or secondary.
struct NamedServer {
  int port = 0;
  std::unique_ptr<testbed::ServerProcess> process;
};

std::string digNorec(int port, const std::string& name, const std::string& type) {
  ProcessSpec spec;
  spec.argv = {"dig",     "@127.0.0.1", "-p", std::to_string(port), "+norec", "+short", "+tries=1",
               "+time=2", name,         type};
  spec.timeout = 10s;
  auto r = runProcess(spec);
  // One record per line, sorted: "10 mx.isp.example."
  std::set<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.insert(line);
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "|") + l;
  return out;
}

// The AA flag of the answer, as dig prints it.
bool digAuthoritative(int port, const std::string& name, const std::string& type) {
  ProcessSpec spec;
  spec.argv = {"dig", "@127.0.0.1", "-p", std::to_string(port), "+norec", "+tries=1", "+time=2", name, type};
  spec.timeout = 10s;
  auto r = runProcess(spec);
  const auto flags = r.out.find(";; flags:");
  if (flags == std::string::npos) return false;
  const std::string line = r.out.substr(flags, r.out.find('\n', flags) - flags);
  return line.find(" aa") != std::string::npos;
}

struct FakeLink : coord::LinkSource {
  mail::LinkState state{LinkType::Dedicated, true, fromUnix(0)};
  mail::LinkState current() const override { return state; }
  std::string interfaceName() const override { return "wan0"; }
};

struct FakeDdns : coord::DdnsSource {
  mail::DdnsHealth h{mail::DdnsState::Healthy, fromUnix(0), "", ""};
  mail::DdnsHealth health() const override { return h; }
  status::DdnsInfo info() const override { return {}; }
  std::string address() const override { return "203.0.113.7"; }
  void setIntent(ddns::AddressIntent) override {}
  void requestPass(bool) override {}
};

struct InstantFetcher : coord::MailFetcher {
  status::FetchmailInfo i;
  int drains = 0;
  void start() override { i.running = true; }
  void stop(std::function<void()> stopped) override {
    i.running = false;
    if (stopped) stopped();
  }
  void drain(std::function<void(bool, const std::string&)> done) override {
    ++drains;
    i.running = false;
    done(true, "the ISP mailbox is empty");
  }
  const status::FetchmailInfo& info() const override { return i; }
};

class MxSteeringE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_.port = testbed::freePort();
    secondary_.port = testbed::freePort();
    const std::string root = dir_.subdir("named");
    keyFile_ = root + "/tsig.key";
    ProcessSpec keygen;
    keygen.argv = {"tsig-keygen", "-a", "hmac-sha256", "dynmx-mx"};
    keygen.timeout = 20s;
    auto key = runProcess(keygen);
    ASSERT_TRUE(key.succeeded()) << "tsig-keygen failed: " << key.error << key.err;
    testbed::writeTextFile(keyFile_, key.out, 0600);

    const std::string zone = std::string("$TTL 60\n@ IN SOA ns1.") + kZone + ". hostmaster." + kZone +
                             ". 1 3600 600 86400 60\n@ IN NS ns1." + kZone + ".\n@ IN NS ns2." + kZone +
                             ".\nns1 IN A 192.0.2.53\nns2 IN A 198.51.100.53\n"
                             "@ 60 IN MX 10 office.dyn.example.net.\n@ 60 IN MX 20 mx.isp.example.\n";
    testbed::writeTextFile(root + "/primary.zone", zone, 0644);
    const auto common = [&](const std::string& name, int port) {
      return "options {\n  directory \"" + root + "\";\n  pid-file \"" + root + "/" + name +
             ".pid\";\n  session-keyfile \"" + root + "/" + name +
             ".session.key\";\n  managed-keys-directory \"" + root + "\";\n  listen-on port " +
             std::to_string(port) +
             " { 127.0.0.1; };\n  listen-on-v6 { none; };\n  recursion no;\n  dnssec-validation no;\n"
             "  notify-source 127.0.0.1;\n  transfer-source 127.0.0.1;\n};\ncontrols { };\ninclude \"" +
             keyFile_ + "\";\n";
    };
    const std::string primaryConf =
        common("primary", primary_.port) + "zone \"" + kZone + "\" {\n  type primary;\n  file \"" + root +
        "/primary.zone\";\n  notify explicit;\n  also-notify { 127.0.0.1 port " +
        std::to_string(secondary_.port) +
        "; };\n  allow-transfer { 127.0.0.1; };\n  update-policy { grant dynmx-mx zonesub MX; };\n};\n";
    const std::string secondaryConf =
        common("secondary", secondary_.port) + "zone \"" + kZone + "\" {\n  type secondary;\n  file \"" +
        root + "/secondary.zone\";\n  primaries { 127.0.0.1 port " + std::to_string(primary_.port) +
        "; };\n  allow-notify { 127.0.0.1; };\n};\n";
    testbed::writeTextFile(root + "/primary.conf", primaryConf, 0644);
    testbed::writeTextFile(root + "/secondary.conf", secondaryConf, 0644);
    startNamed(primary_, root + "/primary.conf", root + "/primary.log");
    startNamed(secondary_, root + "/secondary.conf", root + "/secondary.log");
    // The secondary has the zone once it answers the SOA with AA.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!digAuthoritative(secondary_.port, kZone, "SOA")) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the secondary never loaded the zone; log:\n"
                                                            << secondary_.process->log();
      std::this_thread::sleep_for(100ms);  // waiting for a real server, not for a timer under test
    }
  }

  void startNamed(NamedServer& s, const std::string& conf, const std::string& log) {
    auto p = testbed::ServerProcess::start({"named", "-g", "-4", "-n", "1", "-c", conf}, log);
    ASSERT_TRUE(p.ok()) << p.error();
    s.process = std::move(*p);
    auto up = s.process->waitForPort(s.port, 20s);
    ASSERT_TRUE(up.ok()) << up.error() << "\n" << s.process->log();
  }

  void TearDown() override {
    if (primary_.process) primary_.process->stop();
    if (secondary_.process) secondary_.process->stop();
  }

  Policy policy(const std::string& keyFile) const {
    Policy p;
    p.sourceFile = "/etc/dynmx/dynmx.toml";
    p.fetchmail.sweepInterval = Duration{0};  // the way back's polls only
    p.mail.mode = MailPolicy::Auto;
    p.mail.domains = {kZone};
    p.link.type = LinkType::Dedicated;
    p.health.ddnsFailingMax = 5min;
    p.health.linkDownMax = 2min;
    p.health.holdDown = 1h;
    p.isp.server = "pop.isp.example";
    p.envelope.header = "X-Original-To";
    p.users.postmaster = "postmaster";
    p.users.wildcard = true;
    DdnsAccount a;
    a.name = "main";
    a.provider = "dyn";
    a.hosts = {"office.dyn.example.net"};
    p.ddns.accounts = {a};
    MxDomain m;
    m.domain = kZone;
    m.zone = kZone;
    m.direct = {{10, "office.dyn.example.net"}, {20, "mx.isp.example"}};
    m.multidrop = {{10, "mx.isp.example"}};
    m.ttl = 60s;
    m.lever = MxLever::Rfc2136;
    m.server = HostPort{"127.0.0.1", primary_.port};
    m.keyFile = keyFile;
    m.verifyServers = {{"127.0.0.1", primary_.port}, {"127.0.0.1", secondary_.port}};
    p.mx = {m};
    return p;
  }

  void make(const Policy& p) {
    resolver_ = net::makeAresResolver(io_);
    mx::SteeringDeps md;
    md.dns = resolver_.get();
    md.now = [this] { return now_; };
    md.after = mx::asioAfter(io_);
    md.makeUpdater = [this](const MxDomain& m) { return mx::makeRfc2136Updater(io_, m); };
    md.changed = [this] { changed_ = true; };
    md.verifyRetry = 200ms;  // the secondary catches up within a second or so
    md.retryStart = 200ms;
    steering_ = std::make_unique<mx::Steering>(p.mx, std::move(md));
    coord::Deps deps;
    deps.now = [this] { return now_; };
    deps.link = &link_;
    deps.ddns = &ddns_;
    deps.fetcher = &fetcher_;
    deps.mx = steering_.get();
    deps.installRc = [](const Policy&) -> Status<> { return Ok{}; };
    coordinator_ = std::make_unique<coord::Coordinator>(io_, p, std::move(deps));
  }

  // Run the loop (real sockets, real timers of the lever) until `done` or 20 s.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.restart();
      io_.run_for(50ms);
      if (changed_) {
        changed_ = false;
        coordinator_->evaluate();
      }
    }
    return true;
  }

  bool mxVerified(const std::string& mode) const {
    const auto f = steering_->facts();
    return !f.empty() && f[0].verified && f[0].wanted == mode;
  }

  testbed::TempDir dir_{"mx"};
  std::string keyFile_;
  NamedServer primary_;
  NamedServer secondary_;
  boost::asio::io_context io_;
  TimePoint now_ = fromUnix(1'800'000'000);
  FakeLink link_;
  FakeDdns ddns_;
  InstantFetcher fetcher_;
  std::unique_ptr<net::DnsResolver> resolver_;
  std::unique_ptr<mx::Steering> steering_;
  std::unique_ptr<coord::Coordinator> coordinator_;
  bool changed_ = false;
};

const std::string kDirectSet = "10 office.dyn.example.net.|20 mx.isp.example.";
const std::string kMultidropSet = "10 mx.isp.example.";

TEST_F(MxSteeringE2E, DirectToMultidropToDirectAtEveryAuthoritativeServer) {
  make(policy(keyFile_));
  status::Report saved;
  saved.mode.current = "direct";
  saved.mode.since = now_ - 48h;
  link_.state.since = now_ - 48h;
  coordinator_->start(saved);
  ASSERT_TRUE(runUntil([&] { return mxVerified("direct"); })) << steering_->facts()[0].detail;
  EXPECT_EQ(digNorec(primary_.port, kZone, "MX"), kDirectSet);
  EXPECT_EQ(digNorec(secondary_.port, kZone, "MX"), kDirectSet);

  // DDNS fails for five minutes: multidrop, and the MX leads to the ISP at both servers.
  ddns_.h = {mail::DdnsState::Failing, now_, "ddns.mismatch",
             "office.dyn.example.net resolves to 198.51.100.9"};
  now_ += 5min;
  coordinator_->evaluate();
  ASSERT_EQ(coordinator_->mode(), mail::MailMode::Multidrop);
  EXPECT_TRUE(coordinator_->report().exposure.exposed) << "not verified yet";
  ASSERT_TRUE(runUntil([&] { return mxVerified("multidrop"); })) << steering_->facts()[0].detail;
  EXPECT_EQ(digNorec(primary_.port, kZone, "MX"), kMultidropSet);
  EXPECT_EQ(digNorec(secondary_.port, kZone, "MX"), kMultidropSet);
  EXPECT_TRUE(digAuthoritative(secondary_.port, kZone, "MX"));
  auto r = coordinator_->report();
  EXPECT_FALSE(r.exposure.exposed) << r.exposure.text;
  EXPECT_TRUE(r.mode.multidropActive);
  ASSERT_TRUE(r.exposure.directMxUntil);

  // Healthy for the hold-down: the direct set goes out first, fetchmail keeps polling for
  // the multidrop set's TTL, then the final drain.
  ddns_.h = {mail::DdnsState::Healthy, now_, "", ""};
  now_ += 1h;
  coordinator_->evaluate();
  EXPECT_EQ(coordinator_->report().mode.step, "publish-mx");
  ASSERT_TRUE(runUntil([&] { return coordinator_->report().mode.step == "sender-caches"; }))
      << steering_->facts()[0].detail;
  EXPECT_EQ(digNorec(primary_.port, kZone, "MX"), kDirectSet);
  EXPECT_EQ(digNorec(secondary_.port, kZone, "MX"), kDirectSet);
  EXPECT_EQ(fetcher_.drains, 0);
  EXPECT_EQ(coordinator_->mode(), mail::MailMode::Multidrop);
  now_ += 60s;  // the multidrop set's TTL
  coordinator_->evaluate();
  EXPECT_EQ(fetcher_.drains, 1);
  EXPECT_EQ(coordinator_->mode(), mail::MailMode::Direct);
  EXPECT_EQ(digNorec(secondary_.port, kZone, "MX"), kDirectSet);
}

TEST_F(MxSteeringE2E, AWrongKeyIsRefusedAndTheOfficeReportedExposed) {
  // Same key name, another secret: the primary answers NOTAUTH/BADSIG.
  ProcessSpec keygen;
  keygen.argv = {"tsig-keygen", "-a", "hmac-sha256", "dynmx-mx"};
  keygen.timeout = 20s;
  auto key = runProcess(keygen);
  ASSERT_TRUE(key.succeeded());
  const std::string wrong = dir_.file("wrong.key");
  testbed::writeTextFile(wrong, key.out, 0600);
  make(policy(wrong));
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now_ - 10min;
  ddns_.h = {mail::DdnsState::Failing, now_ - 10min, "ddns.mismatch", "x"};
  coordinator_->start(saved);
  ASSERT_TRUE(runUntil([&] { return steering_->facts()[0].state == "refused"; }))
      << steering_->facts()[0].state << ": " << steering_->facts()[0].detail;
  const auto r = coordinator_->report();
  EXPECT_TRUE(r.exposure.exposed);
  EXPECT_NE(r.exposure.text.find("not verified"), std::string::npos) << r.exposure.text;
  EXPECT_FALSE(r.mode.multidropActive);
  EXPECT_EQ(digNorec(primary_.port, kZone, "MX"), kDirectSet) << "nothing changed";
}

TEST_F(MxSteeringE2E, ResolverReadsMxAndSoaWithTheAaBit) {
  auto resolver = net::makeAresResolver(io_);
  std::vector<net::DnsResult> got;
  for (auto type : {net::RecordType::MX, net::RecordType::SOA}) {
    net::DnsQuery q{kZone, type, {{"127.0.0.1", secondary_.port}}, false, false, 3000ms, 2};
    resolver->query(q, [&](net::DnsResult r) { got.push_back(std::move(r)); });
  }
  net::DnsQuery none{std::string("nothing.") + kZone,
                     net::RecordType::MX,
                     {{"127.0.0.1", primary_.port}},
                     false,
                     false,
                     3000ms,
                     2};
  resolver->query(none, [&](net::DnsResult r) { got.push_back(std::move(r)); });
  io_.run_for(10s);
  ASSERT_EQ(got.size(), 3u);
  std::sort(got.begin(), got.end(),
            [](const auto& a, const auto& b) { return a.values.size() > b.values.size(); });
  EXPECT_EQ(got[0].values, (std::vector<std::string>{"10 office.dyn.example.net", "20 mx.isp.example"}));
  EXPECT_TRUE(got[0].authoritative);
  EXPECT_EQ(got[1].values, std::vector<std::string>{"ns1.example.test"});
  EXPECT_TRUE(got[1].authoritative);
  EXPECT_EQ(got[2].error, net::DnsError::NxDomain);
  EXPECT_TRUE(got[2].authoritative) << "an authoritative NXDOMAIN carries the AA bit too";
}

}  // namespace
}  // namespace dynmx
