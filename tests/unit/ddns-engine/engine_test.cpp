// The DDNS engine with a fake HttpClient, a fake DnsResolver and a fake clock: every test
// drives a whole detect → update → verify pass on a real io_context without a network.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dynmx/atomic_file.hpp"
#include "dynmx/ddns/state.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/version.hpp"

namespace dynmx::ddns {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

const TimePoint kT0 = fromUnix(1800000000);

// Records requests; replies come from `respond` and are posted, so a reply can never run
// before every request of the same round has been issued by the engine.
struct FakeHttp : net::HttpClient {
  explicit FakeHttp(asio::io_context& io) : io_(io) {}
  void request(net::HttpRequest req, net::HttpHandler done) override {
    requests.push_back(req);
    net::HttpResponse r = respond ? respond(req) : net::HttpResponse{};
    asio::post(io_, [this, r, done] {
      issuedAtReply.push_back(requests.size());
      done(r);
    });
  }
  std::function<net::HttpResponse(const net::HttpRequest&)> respond;
  std::vector<net::HttpRequest> requests;
  std::vector<std::size_t> issuedAtReply;  // how many requests existed when each reply ran
  asio::io_context& io_;
};

// Answers from a table keyed "server|name|type"; server "system" for the system resolver.
struct FakeDns : net::DnsResolver {
  explicit FakeDns(asio::io_context& io) : io_(io) {}
  static std::string key(const std::string& server, const std::string& name, net::RecordType t) {
    const char* tn = t == net::RecordType::A ? "A" : t == net::RecordType::AAAA ? "AAAA" : "NS";
    return server + "|" + name + "|" + tn;
  }
  void query(net::DnsQuery q, net::DnsHandler done) override {
    queries.push_back(q);
    const std::string server = q.servers.empty()
                                   ? std::string("system")
                                   : q.servers[0].address + ":" + std::to_string(q.servers[0].port);
    net::DnsResult r;
    if (auto it = table.find(key(server, q.name, q.type)); it != table.end()) {
      r = it->second;
    } else {
      r.error = fallback;
      r.authoritative = true;  // the server's own NXDOMAIN / NODATA
      r.negativeTtl = fallbackNegativeTtl;
    }
    asio::post(io_, [r, done] { done(r); });
  }
  void set(const std::string& server, const std::string& name, net::RecordType t,
           std::vector<std::string> values, std::uint32_t ttl = 300) {
    net::DnsResult r;
    r.values = std::move(values);
    r.ttl = ttl;
    r.authoritative = true;
    table[key(server, name, t)] = r;
  }
  std::map<std::string, net::DnsResult> table;
  net::DnsError fallback = net::DnsError::NoData;
  std::optional<std::uint32_t> fallbackNegativeTtl;  ///< the SOA's say in that absence
  std::vector<net::DnsQuery> queries;
  asio::io_context& io_;
};

std::string goodBody(const std::string& url) {
  // One "good ADDR" line per hostname in the query, as a dyndns2 server answers.
  const auto h = url.find("hostname=");
  const auto end = url.find('&', h);
  const std::string list = url.substr(h + 9, end - h - 9);
  const auto m = url.find("myip=");
  const std::string ip = m == std::string::npos ? "" : url.substr(m + 5, url.find('&', m) - m - 5);
  std::string body;
  std::size_t start = 0;
  while (true) {
    body += "good " + ip + "\n";
    const auto comma = list.find(',', start);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return body;
}

net::HttpResponse reply(const std::string& body, long status = 200) {
  net::HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

DdnsAccount account(const std::string& name, std::size_t hosts, const std::string& domain) {
  DdnsAccount a;
  a.name = name;
  a.provider = "custom";
  a.url = "https://" + name + ".dyn.example.net/nic/update";
  a.username = "user-" + name;
  a.passwordFile = "/secrets/" + name;
  for (std::size_t i = 0; i < hosts; ++i)
    a.hosts.push_back("h" + std::to_string(i) + "." + domain);
  return a;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dynmx-engine-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    statePath_ = dir_ + "/ddns-state.json";
    config_.detect.interface = "eth0";
    config_.verify.servers = {{"192.0.2.53", 53}};
    iface_.name = "eth0";
    iface_.exists = true;
    iface_.up = true;
    iface_.ipv4 = {"203.0.113.7"};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineDeps deps() {
    EngineDeps d;
    d.http = &http_;
    d.dns = &dns_;
    d.now = [this] { return now_; };
    d.readSecret = [](const std::string& path) {
      SecretRead s;
      s.secret = "pw-SECRET-" + path.substr(path.rfind('/') + 1);
      return s;
    };
    d.readInterface = [this](const std::string&) { return iface_; };
    return d;
  }
  std::unique_ptr<Engine> makeEngine() {
    return std::make_unique<Engine>(io_, config_, statePath_, deps());
  }
  /// An engine whose boot clock reads `bootSeconds` in boot `bootId` (a new process per call).
  std::unique_ptr<Engine> makeAnchoredEngine(const std::string& bootId, std::int64_t bootSeconds) {
    EngineDeps d = deps();
    d.clockAnchor = [bootId, bootSeconds](TimePoint now) {
      return std::optional<ClockAnchor>(ClockAnchor{bootId, now, bootSeconds});
    };
    return std::make_unique<Engine>(io_, config_, statePath_, d);
  }
  // Publish `addr` for every configured host at the test's authoritative server.
  void publishAll(const std::string& addr, std::uint32_t ttl = 300) {
    for (const auto& a : config_.accounts)
      for (const auto& h : a.hosts) dns_.set("192.0.2.53:53", h, net::RecordType::A, {addr}, ttl);
  }
  PassReport pass(Engine& e, PassOptions o = {}) {
    std::optional<PassReport> out;
    e.runPass(o, [&](PassReport r) { out = std::move(r); });
    io_.restart();
    io_.run();
    EXPECT_TRUE(out.has_value());
    return out.value_or(PassReport{});
  }
  void answerGood() {
    http_.respond = [](const net::HttpRequest& r) { return reply(goodBody(r.url)); };
  }

  asio::io_context io_;
  FakeHttp http_{io_};
  FakeDns dns_{io_};
  TimePoint now_ = kT0;
  net::InterfaceInfo iface_;
  DdnsSection config_;
  std::string dir_;
  std::string statePath_;
};

TEST_F(EngineTest, BatchesOfTwentyAndAllAccountsConcurrently) {
  config_.accounts = {account("a", 45, "a.example.net"), account("b", 20, "b.example.net"),
                      account("c", 3, "c.example.net")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  const PassReport r = pass(*e);

  // 45 → 20+20+5, 20 → 20, 3 → 3: five requests, one per batch.
  ASSERT_EQ(http_.requests.size(), 5u);
  EXPECT_EQ(r.requestsSent, 5u);
  // Every request was issued before the first reply was handled.
  ASSERT_EQ(http_.issuedAtReply.size(), 5u);
  for (std::size_t n : http_.issuedAtReply) EXPECT_EQ(n, 5u);
  std::set<std::string> hosts;
  for (const auto& q : http_.requests) {
    EXPECT_EQ(q.userAgent, std::string("dynmx/") + kVersion);
    EXPECT_TRUE(q.verifyTls);
    EXPECT_EQ(q.url.find("SECRET"), std::string::npos);
    EXPECT_EQ(q.password.rfind("pw-SECRET-", 0), 0u);
    const auto h = q.url.find("hostname=");
    std::string list = q.url.substr(h + 9, q.url.find('&', h) - h - 9);
    std::size_t count = 1;
    for (char c : list) count += c == ',' ? 1 : 0;
    EXPECT_LE(count, kMaxHostsPerRequest);
    hosts.insert(list);
  }
  EXPECT_TRUE(r.ok()) << formatPassTable(r);
  EXPECT_EQ(r.hosts.size(), 68u);
  for (const auto& h : r.hosts) {
    EXPECT_EQ(h.result, "good") << h.host;
    EXPECT_EQ(h.verified, "yes") << h.host;
  }
  EXPECT_EQ(r.health.state, mail::DdnsState::Healthy);
  EXPECT_EQ(e->health().state, mail::DdnsState::Healthy);
  // The state file was written and holds every host with the address.
  auto text = readFile(statePath_);
  ASSERT_TRUE(text.ok());
  auto store = parseState(*text);
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ(store->hosts.size(), 68u);
  EXPECT_EQ(store->get("a", "h44.a.example.net").confirmedAddress, "203.0.113.7");
}

TEST_F(EngineTest, UnchangedAddressSendsNothing) {
  config_.accounts = {account("a", 3, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  now_ += 1h;
  const PassReport second = pass(*e);
  EXPECT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(second.requestsSent, 0u);
  for (const auto& h : second.hosts) EXPECT_EQ(h.result, "skip: unchanged");
  EXPECT_TRUE(second.ok()) << formatPassTable(second);

  // A restart (new engine, same state file) does not re-send either.
  auto restarted = makeEngine();
  const PassReport third = pass(*restarted, {false, true, false});
  EXPECT_EQ(http_.requests.size(), 1u);
  EXPECT_TRUE(third.ok()) << formatPassTable(third);

  // --force re-sends.
  pass(*restarted, {true, false, false});
  EXPECT_EQ(http_.requests.size(), 2u);
}

TEST_F(EngineTest, ServerError911WaitsThirtyMinutesThenRetriesOnce) {
  config_.accounts = {account("a", 2, "example.net")};
  http_.respond = [](const net::HttpRequest&) { return reply("911\n"); };
  auto e = makeEngine();
  const PassReport first = pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(first.hosts[0].result, "911");
  ASSERT_TRUE(first.hosts[0].retryAfter.has_value());
  EXPECT_EQ(*first.hosts[0].retryAfter, kT0 + 30min);
  EXPECT_EQ(first.health.code, "ddns.provider_retrying");

  // Nothing at all during the 30 minutes, even when forced or asked every minute.
  for (int m = 1; m < 30; ++m) {
    now_ = kT0 + std::chrono::minutes(m);
    pass(*e, {m % 2 == 0, false, false});
  }
  now_ = kT0 + 30min - 1s;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 1u);

  answerGood();
  now_ = kT0 + 30min;
  const PassReport retry = pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(retry.hosts[0].result, "good");
  now_ += 1min;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
}

// A cron `dynmx update` every 5 minutes, each a new process of the same boot: the 911
// back-off goes on where it was (the boot clock says how long the last run was gone), even
// with the wall clock stepped an hour forward in between. It is neither restarted at full
// length by every run (no retry ever) nor cut short by the step.
TEST_F(EngineTest, ABackoffCarriesOverRestartsOfTheSameBoot) {
  config_.accounts = {account("a", 1, "example.net")};
  http_.respond = [](const net::HttpRequest&) { return reply("911\n"); };
  std::int64_t bootSeconds = 5000;
  std::string bootId = "boot-1";
  auto anchored = [&] { return makeAnchoredEngine(bootId, bootSeconds); };
  {
    auto e = anchored();
    pass(*e);
    ASSERT_EQ(http_.requests.size(), 1u);
  }
  answerGood();
  Duration wallStep{0};
  for (int m = 5; m < 30; m += 5) {
    if (m == 15) wallStep = 1h;  // the wall clock is stepped forward between two runs
    now_ = kT0 + std::chrono::minutes(m) + wallStep;
    bootSeconds = 5000 + m * 60;
    auto e = anchored();
    pass(*e);
    EXPECT_EQ(http_.requests.size(), 1u) << "run at minute " << m << " sent inside the back-off";
  }
  now_ = kT0 + 30min + wallStep;
  bootSeconds = 5000 + 30 * 60;
  {
    auto e = anchored();
    const PassReport retry = pass(*e);
    EXPECT_EQ(http_.requests.size(), 2u) << "the back-off is over at minute 30 of the boot clock";
    EXPECT_EQ(retry.hosts[0].result, "good");
  }
}

// Another boot: how long the machine was down is unknown, so the whole back-off runs again.
TEST_F(EngineTest, AfterARebootABackoffRunsAgainInFull) {
  config_.accounts = {account("a", 1, "example.net")};
  http_.respond = [](const net::HttpRequest&) { return reply("911\n"); };
  std::string bootId = "boot-1";
  std::int64_t bootSeconds = 5000;
  auto anchored = [&] { return makeAnchoredEngine(bootId, bootSeconds); };
  {
    auto e = anchored();
    pass(*e);
  }
  answerGood();
  bootId = "boot-2";
  bootSeconds = 40;
  now_ = kT0 + 25min;
  {
    auto e = anchored();
    pass(*e);
    EXPECT_EQ(http_.requests.size(), 1u);
  }
  now_ = kT0 + 31min;  // past the first back-off, inside the one restarted at minute 25
  bootSeconds = 40 + 6 * 60;
  {
    auto e = anchored();
    pass(*e);
    EXPECT_EQ(http_.requests.size(), 1u) << "a reboot restarts the back-off in full";
  }
  now_ = kT0 + 55min;
  bootSeconds = 40 + 30 * 60;
  {
    auto e = anchored();
    pass(*e);
    EXPECT_EQ(http_.requests.size(), 2u);
  }
}

TEST_F(EngineTest, BadAuthDisablesAccountAcrossRestart) {
  config_.accounts = {account("a", 2, "a.example.net"), account("b", 1, "b.example.net")};
  http_.respond = [](const net::HttpRequest& r) {
    return r.url.find("//a.") != std::string::npos ? reply("badauth\n") : reply(goodBody(r.url));
  };
  publishAll("203.0.113.7");
  {
    auto e = makeEngine();
    const PassReport r = pass(*e);
    EXPECT_EQ(http_.requests.size(), 2u);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.health.code, "ddns.provider_fatal");
    EXPECT_EQ(r.hosts[0].result, "badauth");
    EXPECT_EQ(r.hosts[0].fatal.rfind("badauth", 0), 0u);
  }
  now_ += 24h;
  auto e = makeEngine();
  const PassReport r = pass(*e, {true, true, false});
  // Forced first start: account b re-sends, account a stays disabled.
  ASSERT_EQ(http_.requests.size(), 3u);
  EXPECT_NE(http_.requests[2].url.find("//b."), std::string::npos);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.hosts[0].result, "skip: fatal");
  EXPECT_EQ(r.hosts[0].fatal.rfind("badauth", 0), 0u);
  EXPECT_NE(formatPassTable(r).find("fatal: badauth"), std::string::npos);
  EXPECT_EQ(e->health().code, "ddns.provider_fatal");

  // Changing the account (new password file) lifts the ban.
  config_.accounts[0].passwordFile = "/secrets/a-new";
  http_.respond = [](const net::HttpRequest& q) { return reply(goodBody(q.url)); };
  auto fixed = makeEngine();
  const PassReport after = pass(*fixed);
  EXPECT_EQ(http_.requests.size(), 4u);
  EXPECT_TRUE(after.ok()) << formatPassTable(after);
}

TEST_F(EngineTest, MismatchAfterGraceIsFailingWithServerAndAddresses) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"198.51.100.66"}, 300);
  auto e = makeEngine();
  const PassReport r = pass(*e);
  // Right after our update the old record may live on for its TTL: not a failure yet.
  EXPECT_EQ(r.hosts[0].verified, "grace");
  EXPECT_NE(r.health.state, mail::DdnsState::Failing);
  EXPECT_TRUE(r.ok()) << formatPassTable(r);

  now_ += 301s;
  const PassReport v = pass(*e, {false, false, true});
  EXPECT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(v.health.state, mail::DdnsState::Failing);
  EXPECT_EQ(v.health.code, "ddns.mismatch");
  EXPECT_NE(v.health.text.find("192.0.2.53:53"), std::string::npos) << v.health.text;
  EXPECT_NE(v.health.text.find("198.51.100.66"), std::string::npos) << v.health.text;
  EXPECT_NE(v.health.text.find("203.0.113.7"), std::string::npos) << v.health.text;
  EXPECT_EQ(v.hosts[0].verified, "no");
  EXPECT_FALSE(v.ok());
  // Queries went straight to the configured server, without recursion.
  for (const auto& q : dns_.queries) {
    ASSERT_EQ(q.servers.size(), 1u);
    EXPECT_EQ(q.servers[0].address, "192.0.2.53");
    EXPECT_FALSE(q.recursionDesired);
  }
  EXPECT_EQ(e->info().health, "failing");
}

TEST_F(EngineTest, ContradictedRecordIsReassertedAtMostEveryThirtyMinutes) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  auto e = makeEngine();
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  // Someone else's address appears at the authoritative server (a hijack).
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"198.51.100.66"}, 60);
  now_ += 10min;
  EXPECT_EQ(pass(*e).health.code, "ddns.mismatch");
  EXPECT_EQ(http_.requests.size(), 1u) << "not within 30 minutes of the last request";
  now_ += 20min;
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 2u) << "re-asserted once the interval passed";
  EXPECT_NE(http_.requests.back().url.find("myip=203.0.113.7"), std::string::npos);
  now_ += 10min;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u) << "still contradicted: no flood of repeats";
  now_ += 20min;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 3u);
}

TEST_F(EngineTest, TtlGraceIsBoundedByTheRecordTtl) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"198.51.100.66"}, 60);
  auto e = makeEngine();
  pass(*e);
  now_ += 59s;
  EXPECT_NE(pass(*e, {false, false, true}).health.state, mail::DdnsState::Failing);
  now_ += 2s;
  EXPECT_EQ(pass(*e, {false, false, true}).health.code, "ddns.mismatch");
  // The record is fixed: healthy again.
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"203.0.113.7"}, 60);
  EXPECT_EQ(pass(*e, {false, false, true}).health.state, mail::DdnsState::Healthy);
}

TEST_F(EngineTest, CgnatIsAHealthFailureAndNothingIsPublished) {
  config_.accounts = {account("a", 1, "example.net")};
  iface_.ipv4 = {"100.64.12.34"};
  answerGood();
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_TRUE(http_.requests.empty());
  EXPECT_EQ(r.health.state, mail::DdnsState::Failing);
  EXPECT_EQ(r.health.code, "ddns.cgnat");
  ASSERT_TRUE(r.nat.has_value());
  EXPECT_EQ(r.nat->kind, NatKind::Cgnat);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(e->info().natNote.find("100.64.12.34"), std::string::npos);
}

TEST_F(EngineTest, NatIsReportedAndTheWebAddressPublished) {
  config_.accounts = {account("a", 1, "example.net")};
  iface_.ipv4 = {"192.168.1.10"};
  config_.detect.webSources = {"https://ip1.example.org/", "https://ip2.example.org/",
                               "http://127.0.0.1:8080/ip"};
  http_.respond = [](const net::HttpRequest& r) {
    if (r.url.find("/nic/update") != std::string::npos) return reply(goodBody(r.url));
    EXPECT_EQ(r.maxBody, kMaxIpCheckBody);
    EXPECT_EQ(r.allowHttp, r.url.rfind("http://", 0) == 0);
    return reply("203.0.113.9\n");
  };
  publishAll("203.0.113.9");
  auto e = makeEngine();
  const PassReport r = pass(*e);
  ASSERT_TRUE(r.nat.has_value());
  EXPECT_EQ(r.nat->kind, NatKind::Nat);
  EXPECT_NE(r.nat->text.find("192.168.1.10"), std::string::npos);
  EXPECT_EQ(r.address, "203.0.113.9");
  EXPECT_NE(http_.requests.back().url.find("myip=203.0.113.9"), std::string::npos);
  EXPECT_TRUE(r.ok()) << formatPassTable(r);
  EXPECT_EQ(e->address(), "203.0.113.9");
}

TEST_F(EngineTest, APublicInterfaceAddressWinsOverTheWebAnswer) {
  // The interface holds a public address: publish it, so an interface event takes effect at
  // once instead of waiting for the web sources to notice.
  config_.accounts = {account("a", 1, "example.net")};
  iface_.ipv4 = {"203.0.113.20"};
  config_.detect.webSources = {"https://ip1.example.org/"};
  http_.respond = [](const net::HttpRequest& r) {
    if (r.url.find("/nic/update") != std::string::npos) return reply(goodBody(r.url));
    return reply("203.0.113.9\n");
  };
  publishAll("203.0.113.20");
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_EQ(r.address, "203.0.113.20");
  EXPECT_NE(http_.requests.back().url.find("myip=203.0.113.20"), std::string::npos);
  ASSERT_TRUE(r.nat.has_value());
  EXPECT_NE(r.nat->kind, NatKind::None) << "the disagreement is still reported";
}

TEST_F(EngineTest, WebSourcesThatDisagreeOrAnswerPrivatelyPublishNothing) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.detect.interface.clear();
  config_.detect.webSources = {"https://ip1.example.org/", "https://ip2.example.org/",
                               "http://ip3.example.org/"};
  http_.respond = [](const net::HttpRequest& r) {
    if (r.url.find("ip1") != std::string::npos) return reply("203.0.113.9");
    return reply("10.0.0.1");
  };
  auto e = makeEngine();
  const PassReport r = pass(*e);
  // ip3 is plain http on a public name: never asked.
  EXPECT_EQ(http_.requests.size(), 2u);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.errors.empty());
  EXPECT_TRUE(r.address.empty());
  EXPECT_EQ(r.hosts[0].result, "skip: no-address");
}

TEST_F(EngineTest, TransportFailuresAreClassified) {
  config_.accounts = {account("t", 1, "t.example.net"), account("s", 1, "s.example.net"),
                      account("o", 1, "o.example.net"), account("g", 1, "g.example.net"),
                      account("x", 1, "x.example.net")};
  http_.respond = [](const net::HttpRequest& r) {
    net::HttpResponse resp;
    if (r.url.find("//t.") != std::string::npos) resp.error = net::TransportError::Timeout;
    if (r.url.find("//s.") != std::string::npos) resp.error = net::TransportError::Tls;
    if (r.url.find("//o.") != std::string::npos) resp.error = net::TransportError::Oversized;
    if (r.url.find("//g.") != std::string::npos) resp = reply("<html>hello</html>\n");
    if (r.url.find("//x.") != std::string::npos) resp = reply("oops", 503);
    return resp;
  };
  auto e = makeEngine();
  const PassReport r = pass(*e);
  ASSERT_EQ(r.hosts.size(), 5u);
  EXPECT_EQ(r.hosts[0].result, "timeout");
  EXPECT_EQ(r.hosts[1].result, "tls-error");
  EXPECT_EQ(r.hosts[2].result, "oversized");
  EXPECT_EQ(r.hosts[3].result, "garbage");
  EXPECT_EQ(r.hosts[4].result, "http-error");
  for (const auto& h : r.hosts) {
    EXPECT_FALSE(h.fine);
    EXPECT_TRUE(h.retryAfter.has_value()) << h.host;
  }
  // Transient failures back off a minute; garbage is treated like a provider fault.
  EXPECT_EQ(*r.hosts[0].retryAfter, kT0 + 1min);
  EXPECT_EQ(*r.hosts[3].retryAfter, kT0 + 30min);
  EXPECT_FALSE(r.ok());
}

TEST_F(EngineTest, PasswordNeverAppearsInReportsOrState) {
  config_.accounts = {account("a", 1, "example.net"), account("b", 1, "b.example.net")};
  http_.respond = [](const net::HttpRequest& r) {
    if (r.url.find("//a.") != std::string::npos) return reply("badauth");
    net::HttpResponse resp;
    resp.error = net::TransportError::Connect;
    resp.errorText = "Failed to connect";
    return resp;
  };
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_EQ(formatPassTable(r).find("SECRET"), std::string::npos);
  EXPECT_EQ(passReportJson(r).find("SECRET"), std::string::npos);
  auto text = readFile(statePath_);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find("SECRET"), std::string::npos);
  EXPECT_EQ(e->info().hosts.size(), 2u);
}

TEST_F(EngineTest, PasswordFileErrorIsReportedWithoutSending) {
  config_.accounts = {account("a", 1, "example.net")};
  auto d = deps();
  d.readSecret = [](const std::string& path) {
    SecretRead s;
    s.error = path + ": permission denied";
    return s;
  };
  Engine e(io_, config_, statePath_, d);
  const PassReport r = pass(e);
  EXPECT_TRUE(http_.requests.empty());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.hosts[0].result, "error");
}

TEST_F(EngineTest, NameServersAreFoundByWalkingUpTheLabels) {
  config_.accounts = {account("a", 2, "office.example.net")};
  config_.verify.servers.clear();
  answerGood();
  dns_.set("system", "example.net", net::RecordType::NS, {"ns1.example.net", "ns2.example.net"});
  dns_.set("system", "ns1.example.net", net::RecordType::A, {"192.0.2.53"});
  dns_.set("system", "ns2.example.net", net::RecordType::A, {"198.51.100.53"});
  for (const auto* s : {"192.0.2.53:53", "198.51.100.53:53"})
    for (const auto* h : {"h0.office.example.net", "h1.office.example.net"})
      dns_.set(s, h, net::RecordType::A, {"203.0.113.7"});
  dns_.set("198.51.100.53:53", "h1.office.example.net", net::RecordType::A, {"198.51.100.66"});
  auto e = makeEngine();
  pass(*e);
  now_ += 1h;
  const PassReport r = pass(*e, {false, false, true});
  EXPECT_EQ(r.hosts[0].verified, "yes") << r.hosts[0].verification;
  EXPECT_EQ(r.hosts[1].verified, "no");
  EXPECT_NE(r.hosts[1].verification.find("ns2.example.net (198.51.100.53:53)"), std::string::npos)
      << r.hosts[1].verification;
  EXPECT_EQ(r.health.code, "ddns.mismatch");
  // The NS walk used the system resolver; the record checks asked each server directly.
  bool sawNs = false;
  for (const auto& q : dns_.queries) {
    if (q.type == net::RecordType::NS) {
      sawNs = true;
      EXPECT_TRUE(q.servers.empty());
    } else if (q.name.rfind("h", 0) == 0) {
      ASSERT_EQ(q.servers.size(), 1u);
      EXPECT_FALSE(q.recursionDesired);
    }
  }
  EXPECT_TRUE(sawNs);
}

TEST_F(EngineTest, ResolutionFailingWhenNoServerAnswers) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  dns_.fallback = net::DnsError::Timeout;
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_EQ(r.health.code, "ddns.resolution_failing");
  EXPECT_FALSE(r.ok());
}

TEST_F(EngineTest, OfflineOnMultidropAndDonatorRefusal) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.accounts[0].offlineOnMultidrop = true;
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);

  http_.respond = [](const net::HttpRequest&) { return reply("!donator\n"); };
  e->setIntent(AddressIntent::Withdraw);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_NE(http_.requests[1].url.find("offline=YES"), std::string::npos);
  EXPECT_TRUE(e->states().get("a", "h0.example.net").offlineRefused);
  EXPECT_FALSE(e->states().get("a", "h0.example.net").fatal());
  // Refused once: never asked again; the host gets plain address updates instead (its
  // address is unchanged here, so nothing is sent).
  const PassReport again = pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(again.hosts[0].result, "skip: unchanged");

  // A provider that supports it parks the host; back online re-sends the address.
  http_.respond = [](const net::HttpRequest& r) { return reply(goodBody(r.url)); };
  config_.accounts[0].url = "https://other.dyn.example.net/nic/update";
  auto e2 = makeEngine();
  e2->setIntent(AddressIntent::Withdraw);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 3u);
  EXPECT_NE(http_.requests[2].url.find("offline=YES"), std::string::npos);
  EXPECT_TRUE(e2->states().get("a", "h0.example.net").offline);
  e2->setIntent(AddressIntent::Publish);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 4u);
  EXPECT_EQ(http_.requests[3].url.find("offline=YES"), std::string::npos);
  EXPECT_FALSE(e2->states().get("a", "h0.example.net").offline);
}

TEST_F(EngineTest, StaticAddressSkipsDetectionAndUpdates) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.staticAddress = "203.0.113.50";
  publishAll("203.0.113.50");
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_TRUE(http_.requests.empty());
  EXPECT_EQ(r.hosts[0].result, "static");
  EXPECT_EQ(r.hosts[0].verified, "yes");
  EXPECT_TRUE(r.ok()) << formatPassTable(r);
}

TEST_F(EngineTest, BrokenStateFileIsKeptAsideAndUpdatesHeld) {
  config_.accounts = {account("a", 1, "example.net")};
  ASSERT_TRUE(writeFileAtomic(statePath_, "{ not json").ok());
  answerGood();
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_TRUE(http_.requests.empty());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(std::filesystem::exists(statePath_ + ".broken"));
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 1u);
}

// The state file could not be saved: the engine keeps saying so until a save succeeds. A
// verification-only pass writes nothing, and once wiped the daemon's report (CI caught the
// status losing the DDNS half of `state_error` under load).
TEST_F(EngineTest, AFailedStateSaveStaysReportedUntilASaveSucceeds) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  const std::string blocker = dir_ + "/not-a-dir";
  ASSERT_TRUE(writeFileAtomic(blocker, "a file where the state dir should be").ok());
  statePath_ = blocker + "/ddns-state.json";
  auto e = makeEngine();
  EXPECT_TRUE(e->stateSaveError().empty());
  const PassReport first = pass(*e);
  ASSERT_FALSE(e->stateSaveError().empty());
  EXPECT_FALSE(first.errors.empty());
  now_ += 5min;
  pass(*e, {false, false, true});  // verify only: nothing to save, nothing saved
  EXPECT_FALSE(e->stateSaveError().empty()) << "a pass that saved nothing cleared the save error";
  std::filesystem::remove(blocker);
  std::filesystem::create_directory(blocker);
  now_ += 5min;
  pass(*e);
  EXPECT_TRUE(e->stateSaveError().empty()) << e->stateSaveError();
  EXPECT_TRUE(std::filesystem::exists(statePath_));
}

/// A disk the test controls: writes wait until release(), then run in order.
struct HeldFiles : FileSink {
  explicit HeldFiles(asio::io_context& c) : io(c) {}
  void writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                   std::function<void(Status<>)> done) override {
    run([path, content, options] { return writeFileAtomic(path, content, options); }, std::move(done));
  }
  void run(std::function<Status<>()> work, std::function<void(Status<>)> done) override {
    held.push_back([this, work = std::move(work), done = std::move(done)] {
      Status<> s = work();
      asio::post(io, [done, s] { done(s); });
    });
  }
  void release() {
    auto jobs = std::move(held);
    held.clear();
    for (auto& j : jobs) j();
  }
  asio::io_context& io;
  std::vector<std::function<void()>> held;
};

TEST_F(EngineTest, OffTheLoopTheStateSaveEndsLaterAndItsResultIsAFact) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  HeldFiles files(io_);
  int changes = 0;
  EngineDeps d = deps();
  d.stateWriter = &files;
  d.stateSaveChanged = [&] { ++changes; };
  auto e = std::make_unique<Engine>(io_, config_, statePath_, d);
  const PassReport r = pass(*e);
  EXPECT_EQ(r.requestsSent, 1u);
  ASSERT_EQ(files.held.size(), 1u) << "the pass handed its state to the writer";
  EXPECT_FALSE(std::filesystem::exists(statePath_)) << "written on the loop";
  files.release();
  io_.restart();
  io_.poll();
  ASSERT_TRUE(std::filesystem::exists(statePath_));
  EXPECT_TRUE(e->stateSaveError().empty());
  EXPECT_EQ(changes, 0) << "nothing changed: no failure before, none now";

  // The disk fails: the result comes back as the engine's fact, and the next report says so.
  std::filesystem::remove_all(dir_);
  ASSERT_TRUE(writeFileAtomic(dir_, "a file where the state dir should be").ok());
  now_ += 5min;
  iface_.ipv4 = {"203.0.113.8"};
  publishAll("203.0.113.8");
  pass(*e);
  ASSERT_EQ(files.held.size(), 1u);
  files.release();
  io_.restart();
  io_.poll();
  EXPECT_FALSE(e->stateSaveError().empty());
  EXPECT_EQ(changes, 1);
  now_ += 5min;
  const PassReport next = pass(*e);
  ASSERT_FALSE(next.errors.empty());
  EXPECT_NE(next.errors.front().find("cannot save DDNS state"), std::string::npos) << next.errors.front();
  ASSERT_EQ(files.held.size(), 1u) << "the unsaved state is written again";
  std::filesystem::remove(dir_);
  std::filesystem::create_directory(dir_);
  files.release();  // the retry of the unsaved state
  io_.restart();
  io_.poll();
  EXPECT_TRUE(e->stateSaveError().empty()) << e->stateSaveError();
  EXPECT_EQ(changes, 2);
  EXPECT_TRUE(std::filesystem::exists(statePath_));
}

TEST_F(EngineTest, PassesQueueAndNeverOverlap) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  int done = 0;
  e->runPass({}, [&](PassReport) { ++done; });
  e->runPass({}, [&](PassReport r) {
    ++done;
    EXPECT_EQ(r.requestsSent, 0u);
  });
  io_.run();
  EXPECT_EQ(done, 2);
  EXPECT_EQ(http_.requests.size(), 1u);
}

TEST(WebSourceUrl, HttpsOrLiteralLoopbackOnly) {
  EXPECT_TRUE(checkWebSourceUrl("https://ip.example.org/").ok());
  EXPECT_TRUE(checkWebSourceUrl("http://127.0.0.1:8080/ip").ok());
  EXPECT_TRUE(checkWebSourceUrl("http://[::1]/ip").ok());
  EXPECT_FALSE(checkWebSourceUrl("http://ip.example.org/").ok());
  EXPECT_FALSE(checkWebSourceUrl("http://127.0.0.1.example.org/").ok());
  EXPECT_FALSE(checkWebSourceUrl("http://localhost/").ok());
  EXPECT_FALSE(checkWebSourceUrl("https://user:pw@ip.example.org/").ok());
  EXPECT_FALSE(checkWebSourceUrl("ftp://ip.example.org/").ok());
}
// Issue 12 item 9: each address family agrees on its own. One IPv4 and one IPv6 web source
// under `majority` (or `all`) once published nothing: each family counted the other's
// source as a failed vote.
TEST_F(EngineTest, DualStackEachFamilyAgreesOnItsOwn) {
  for (const char* agreement : {"majority", "all"}) {
    http_.requests.clear();
    config_.accounts = {account("a", 1, "example.net")};
    config_.detect.ipv6 = true;
    config_.detect.agreement = agreement;
    iface_.ipv4 = {"192.168.1.10"};
    iface_.ipv6 = {};
    config_.detect.webSources = {"https://ip4.example.org/", "https://ip6.example.org/"};
    http_.respond = [](const net::HttpRequest& r) {
      if (r.url.find("/nic/update") != std::string::npos) return reply(goodBody(r.url));
      return reply(r.url.find("ip6.") != std::string::npos ? "2001:db8::9\n" : "203.0.113.9\n");
    };
    std::filesystem::remove(statePath_);
    auto e = makeEngine();
    const PassReport r = pass(*e);
    EXPECT_EQ(r.address, "203.0.113.9,2001:db8::9") << agreement << "\n" << formatPassTable(r);
    ASSERT_FALSE(http_.requests.empty());
    EXPECT_NE(http_.requests.back().url.find("myip=203.0.113.9,2001%3Adb8%3A%3A9"), std::string::npos)
        << http_.requests.back().url;
  }
}

// Issue 12 item 9: FreeDNS takes one address per request; dual stack once sent nothing.
// Now each family goes in its own request, and the state holds both once both are good.
TEST_F(EngineTest, SingleAddressProviderPublishesEachFamilyInItsOwnRequest) {
  DdnsAccount a = account("fd", 1, "example.net");
  a.provider = "freedns";
  a.url.clear();
  config_.accounts = {a};
  config_.detect.ipv6 = true;
  iface_.ipv4 = {"203.0.113.9"};
  iface_.ipv6 = {"2001:db8::9"};
  answerGood();
  auto e = makeEngine();
  const PassReport r = pass(*e);
  ASSERT_EQ(http_.requests.size(), 2u) << formatPassTable(r);
  EXPECT_NE(http_.requests[0].url.find("myip=203.0.113.9"), std::string::npos) << http_.requests[0].url;
  EXPECT_EQ(http_.requests[0].url.find("2001"), std::string::npos) << http_.requests[0].url;
  EXPECT_NE(http_.requests[1].url.find("myip=2001%3Adb8%3A%3A9"), std::string::npos) << http_.requests[1].url;
  const HostState* st = e->states().find("fd", "h0.example.net");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->confirmedAddress, "203.0.113.9,2001:db8::9");
  // Both confirmed: nothing more to send.
  now_ += 10min;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
}

// Issue 12 item 10: a single `abuse` line for a request of several hosts stops every host
// in it (it once stopped only the first; the others were sent again 30 minutes later).
TEST_F(EngineTest, OneAbuseLineStopsEveryHostOfTheRequest) {
  config_.accounts = {account("a", 3, "example.net")};
  http_.respond = [](const net::HttpRequest&) { return reply("abuse\n"); };
  auto e = makeEngine();
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  for (const auto& [key, st] : e->states().hosts) EXPECT_TRUE(st.fatal()) << key.second;
  now_ += 31min;
  pass(*e, {true, false, false});
  EXPECT_EQ(http_.requests.size(), 1u) << "a provider that said abuse hears nothing more";
}

// Issue 12 item 10: after badauth the host comes back when the password changes (a short
// tag of it is kept, never the password), and `dynmx update --reset` lifts the ban too.
TEST_F(EngineTest, ANewPasswordOrAResetLiftsABadauthBan) {
  config_.accounts = {account("a", 1, "example.net")};
  std::string password = "old-Zq9";
  http_.respond = [](const net::HttpRequest&) { return reply("badauth\n"); };
  EngineDeps d = deps();
  d.readSecret = [&password](const std::string&) { return SecretRead{password, ""}; };
  auto e = std::make_unique<Engine>(io_, config_, statePath_, d);
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  now_ += 1h;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 1u) << "same password: still banned";
  EXPECT_EQ(readFile(statePath_)->find("old-Zq9"), std::string::npos);
  password = "new-Zq9";
  answerGood();
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u) << "a new password lifts the ban";

  // --reset: ban again, then reset.
  http_.respond = [](const net::HttpRequest&) { return reply("nohost\n"); };
  now_ += 1h;
  iface_.ipv4 = {"203.0.113.8"};
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 3u);
  ASSERT_TRUE(e->states().find("a", "h0.example.net")->fatal());
  EXPECT_EQ(e->resetHost("H0.example.net."), 1u);
  EXPECT_FALSE(e->states().find("a", "h0.example.net")->fatal());
  answerGood();
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 4u);
}


}  // namespace
}  // namespace dynmx::ddns

// ---------------------------------------------------------------------------------------
// Intent: publish or withdraw, carried out, verified, and judged by one typed model.

namespace dynmx::ddns {
namespace {

// Regression (issue 11 item 6): a hijacked record puts mail on multidrop; offline=YES is
// accepted; before the fix the stale "mismatch" observation of the offline host was never
// refreshed (offline hosts were not verified), so health stayed failing for good and mail
// never returned to direct.
TEST_F(EngineTest, WithdrawalIsVerifiedAndHealthJudgedByWhatDirectNeeds) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.accounts[0].offlineOnMultidrop = true;
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  pass(*e);
  // A stranger's address appears at the authoritative server: failing after the grace.
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"198.51.100.66"});
  now_ += 10min;
  PassReport r = pass(*e, {false, false, true});
  ASSERT_EQ(r.health.code, "ddns.mismatch");

  // Mail goes to multidrop: the coordinator asks for withdrawal.
  e->setIntent(AddressIntent::Withdraw);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_NE(http_.requests[1].url.find("offline=YES"), std::string::npos);
  EXPECT_TRUE(e->states().get("a", "h0.example.net").offline);

  // The server still names the address we held: the withdrawal is not in effect yet.
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"203.0.113.7"});
  now_ += 1min;
  r = pass(*e, {false, false, true});
  EXPECT_EQ(r.hosts[0].condition, HostCondition::WithdrawalPending);
  EXPECT_FALSE(r.hosts[0].fine);
  EXPECT_FALSE(e->info().intentMet);
  EXPECT_NE(r.hosts[0].verification.find("still resolves to 203.0.113.7"), std::string::npos)
      << r.hosts[0].verification;

  // The provider parks the name: it no longer resolves to our old address.
  // Right after the offline=YES the stranger's record (TTL 300) was what the server gave:
  // no longer our address, so the withdrawal was met then, and senders keep that record 5 min.
  EXPECT_EQ(e->info().withdrawalCacheTtl, 5min);
  dns_.table.erase(FakeDns::key("192.0.2.53:53", "h0.example.net", net::RecordType::A));
  dns_.fallback = net::DnsError::NxDomain;
  dns_.fallbackNegativeTtl = 600;  // the zone's SOA: resolvers keep "no such name" 10 min
  now_ += 1min;
  r = pass(*e, {false, false, true});
  EXPECT_EQ(e->info().withdrawalCacheTtl, 10min) << "what senders may cache, for the way back";
  EXPECT_TRUE(e->info().hosts[0].withdrawn);
  EXPECT_EQ(r.hosts[0].condition, HostCondition::Withdrawn);
  EXPECT_EQ(r.hosts[0].verified, "withdrawn");
  EXPECT_TRUE(r.hosts[0].fine);
  EXPECT_TRUE(e->info().intentMet);
  EXPECT_EQ(e->info().hosts[0].condition, "withdrawn");
  // Judged by what direct needs (a usable provider, an address to return with): healthy,
  // so the hold-down can run and mail can come back.
  EXPECT_EQ(r.health.state, mail::DdnsState::Healthy) << r.health.code << ": " << r.health.text;

  // Back to direct: publish again, verified at the server.
  dns_.fallback = net::DnsError::NoData;
  publishAll("203.0.113.7");
  e->setIntent(AddressIntent::Publish);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 3u);
  EXPECT_EQ(http_.requests[2].url.find("offline=YES"), std::string::npos);
  EXPECT_FALSE(e->states().get("a", "h0.example.net").offline);
  EXPECT_EQ(e->lastReport().hosts[0].condition, HostCondition::Verified);
  EXPECT_TRUE(e->info().intentMet);
  EXPECT_EQ(e->health().state, mail::DdnsState::Healthy);
  EXPECT_EQ(e->info().withdrawalCacheTtl, 10min) << "kept on the way back: the coordinator waits it out";
  EXPECT_FALSE(e->info().hosts[0].withdrawn);
  e->setIntent(AddressIntent::Withdraw);
  EXPECT_EQ(e->info().withdrawalCacheTtl, Duration{0}) << "a new withdrawal learns it afresh";
}

// Withdrawn from the start (a dial-up office goes to multidrop before it ever published):
// no confirmed address, yet the withdrawal is verified against the address we hold.
TEST_F(EngineTest, AWithdrawalWithoutAConfirmedAddressIsVerifiedAgainstOurAddress) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.accounts[0].offlineOnMultidrop = true;
  answerGood();
  auto e = makeEngine();
  e->setIntent(AddressIntent::Withdraw);
  dns_.set("192.0.2.53:53", "h0.example.net", net::RecordType::A, {"203.0.113.7"});
  publishAll("203.0.113.7");
  PassReport r = pass(*e);
  ASSERT_FALSE(http_.requests.empty());
  EXPECT_NE(http_.requests.back().url.find("offline=YES"), std::string::npos);
  ASSERT_TRUE(e->states().get("a", "h0.example.net").offline);
  now_ += 1min;
  r = pass(*e, {false, false, true});
  EXPECT_EQ(r.hosts[0].condition, HostCondition::WithdrawalPending);
  EXPECT_NE(r.hosts[0].verification.find("still resolves to 203.0.113.7"), std::string::npos)
      << r.hosts[0].verification;
  dns_.table.erase(FakeDns::key("192.0.2.53:53", "h0.example.net", net::RecordType::A));
  now_ += 1min;
  r = pass(*e, {false, false, true});
  EXPECT_EQ(r.hosts[0].condition, HostCondition::Withdrawn) << r.hosts[0].verification;
  EXPECT_TRUE(e->info().intentMet);
}

// Regression: a restart during multidrop must not publish the address again. The
// coordinator hands the intent over before the engine's first pass.
TEST_F(EngineTest, RestartWithWithdrawIntentSendsNothing) {
  config_.accounts = {account("a", 1, "example.net")};
  config_.accounts[0].offlineOnMultidrop = true;
  answerGood();
  publishAll("203.0.113.7");
  {
    auto e = makeEngine();
    pass(*e);
    e->setIntent(AddressIntent::Withdraw);
    io_.restart();
    io_.run();
  }
  ASSERT_EQ(http_.requests.size(), 2u);
  auto restarted = makeEngine();
  restarted->setIntent(AddressIntent::Withdraw);
  const PassReport r = pass(*restarted, {false, true, false});
  EXPECT_EQ(http_.requests.size(), 2u) << "nothing sent: the host stays offline";
  EXPECT_EQ(r.hosts[0].result, "skip: offline");
}

TEST_F(EngineTest, AnswerWithoutAaBitIsNoProof) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  dns_.table[FakeDns::key("192.0.2.53:53", "h0.example.net", net::RecordType::A)].authoritative = false;
  auto e = makeEngine();
  const PassReport r = pass(*e);
  EXPECT_EQ(r.hosts[0].condition, HostCondition::ResolutionFailing);
  EXPECT_EQ(r.health.code, "ddns.resolution_failing");
  EXPECT_NE(r.health.text.find("without the AA bit"), std::string::npos) << r.health.text;
  EXPECT_FALSE(r.ok());
}

TEST_F(EngineTest, RecordNamingAnAddressWeLostIsStaleNotVerified) {
  config_.accounts = {account("a", 1, "example.net")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  ASSERT_TRUE(pass(*e).ok());
  // The link goes down; the zone still says 203.0.113.7 (now maybe a stranger's).
  iface_.up = false;
  now_ += 5min;
  const PassReport r = pass(*e);
  EXPECT_EQ(r.hosts[0].condition, HostCondition::Stale);
  EXPECT_EQ(r.hosts[0].verified, "stale");
  EXPECT_EQ(r.health.code, "ddns.stale");
  EXPECT_NE(r.health.text.find("eth0 is down"), std::string::npos) << r.health.text;
  EXPECT_FALSE(e->info().hosts[0].verified);
  // A verification pass on its own does not bring the lost address back either.
  const PassReport v = pass(*e, {false, false, true});
  EXPECT_EQ(v.hosts[0].condition, HostCondition::Stale);
}

// The dyndns2 MX lever: the wish goes down to the engine, which owns every request.
const MxSetting kDirectMx{"mx.isp.example", true};
const MxSetting kMultidropMx{"mx.isp.example", false};

std::size_t countWith(const std::vector<net::HttpRequest>& requests, const std::string& part) {
  return static_cast<std::size_t>(
      std::count_if(requests.begin(), requests.end(),
                    [&](const net::HttpRequest& r) { return r.url.find(part) != std::string::npos; }));
}

// An MX-only change (the address is unchanged) sends exactly one request, after the
// provider's minimum interval; what the provider accepted is persisted and not sent again,
// not even by a restarted engine.
// The provider accepted the MX, but the servers show another set (changed behind our back):
// the lever says so, and the engine sends it once more, no sooner than kReassertInterval
// after the last request, and then not again until told again.
TEST_F(EngineTest, AContradictedMxIsSentAgainOncePerReassertInterval) {
  config_.accounts = {account("a", 1, "dyn.example")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  e->wantMx("h0.dyn.example", kDirectMx);
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(countWith(http_.requests, "mx=mx.isp.example"), 1u);
  ASSERT_EQ(e->mxPublication("h0.dyn.example")->state, MxPublicationState::Accepted);

  e->mxContradicted("H0.dyn.example.");
  now_ += 10min;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 1u) << "said again within " << formatDuration(kReassertInterval);
  now_ = kT0 + kReassertInterval;
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 2u) << "the contradicted MX was not said again";
  EXPECT_EQ(countWith(http_.requests, "mx=mx.isp.example&backmx=YES"), 2u);
  now_ += 2 * kReassertInterval;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u) << "said again without being told the servers still contradict it";
  e->mxContradicted("h1.dyn.example");  // no wish for it: nothing to say
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
}

TEST_F(EngineTest, AnMxOnlyChangeSendsExactlyOneRequest) {
  config_.accounts = {account("a", 2, "dyn.example")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  int facts = 0;
  e->onMxFacts([&] { ++facts; });
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);
  EXPECT_EQ(countWith(http_.requests, "mx="), 0u);

  now_ = kT0 + 30s;
  e->wantMx("H0.dyn.example.", kDirectMx);
  io_.restart();
  io_.run();
  // Within the provider's minimum interval (1m for a custom provider): held, and said so.
  EXPECT_EQ(http_.requests.size(), 1u);
  auto p = e->mxPublication("h0.dyn.example");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->state, MxPublicationState::Waiting);
  EXPECT_EQ(p->notBefore, kT0 + 1min);
  EXPECT_GE(facts, 1);

  now_ = kT0 + 1min;
  const PassReport sent = pass(*e);
  ASSERT_EQ(http_.requests.size(), 2u);
  // Only the host with the wish: mx= applies to every hostname of a request.
  EXPECT_EQ(http_.requests[1].url,
            "https://a.dyn.example.net/nic/update?hostname=h0.dyn.example&myip=203.0.113.7"
            "&mx=mx.isp.example&backmx=YES");
  EXPECT_EQ(sent.requestsSent, 1u);
  p = e->mxPublication("h0.dyn.example");
  EXPECT_EQ(p->state, MxPublicationState::Accepted);
  EXPECT_EQ(p->acceptedAt, kT0 + 1min);
  EXPECT_EQ(e->mxPublication("h1.dyn.example")->text, "no MX asked for");
  EXPECT_FALSE(e->mxPublication("nobody.dyn.example").has_value());

  // Persisted: the state file holds what the provider accepted.
  auto text = readFile(statePath_);
  ASSERT_TRUE(text.ok());
  auto store = parseState(*text);
  ASSERT_TRUE(store.ok()) << store.error();
  EXPECT_EQ(store->get("a", "h0.dyn.example").confirmedMx, kDirectMx);

  now_ += 1h;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 2u);
  auto restarted = makeEngine();
  restarted->wantMx("h0.dyn.example", kDirectMx);
  pass(*restarted, {false, true, false});
  EXPECT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(restarted->mxPublication("h0.dyn.example")->state, MxPublicationState::Accepted);

  // An address change carries the wish along: h0's address and MX in one request, h1 (no
  // wish) in its own, since mx= would apply to it too.
  iface_.ipv4 = {"203.0.113.9"};
  publishAll("203.0.113.9");
  now_ += 1h;
  pass(*restarted);
  ASSERT_EQ(http_.requests.size(), 4u);
  EXPECT_EQ(
      countWith(http_.requests, "?hostname=h0.dyn.example&myip=203.0.113.9&mx=mx.isp.example&backmx=YES"),
      1u);
  EXPECT_EQ(countWith(http_.requests, "?hostname=h1.dyn.example&myip=203.0.113.9"), 1u);
  EXPECT_EQ(countWith(http_.requests, "hostname=h1.dyn.example&myip=203.0.113.9&mx="), 0u);
}

// A host in a 911 back-off sends nothing, MX change or not, and the lever is told why.
TEST_F(EngineTest, ABackoffHoldsTheMxChange) {
  config_.accounts = {account("a", 1, "dyn.example")};
  answerGood();
  publishAll("203.0.113.7");
  auto e = makeEngine();
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 1u);

  http_.respond = [](const net::HttpRequest&) { return reply("911\n"); };
  now_ = kT0 + 5min;
  e->wantMx("h0.dyn.example", kMultidropMx);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 2u);
  EXPECT_NE(http_.requests[1].url.find("&mx=mx.isp.example&backmx=NO"), std::string::npos);
  auto p = e->mxPublication("h0.dyn.example");
  EXPECT_EQ(p->state, MxPublicationState::Waiting);
  EXPECT_EQ(p->notBefore, kT0 + 35min);
  EXPECT_EQ(p->text,
            "MX change to mx=mx.isp.example backmx=NO waits after \"911\" until " + formatTime(kT0 + 35min));
  EXPECT_FALSE(e->states().get("a", "h0.dyn.example").confirmedMx.has_value());

  // A new wish inside the back-off: nothing goes out, not even when forced.
  now_ = kT0 + 20min;
  e->wantMx("h0.dyn.example", kDirectMx);
  io_.restart();
  io_.run();
  pass(*e, {true, false, false});
  EXPECT_EQ(http_.requests.size(), 2u);
  EXPECT_EQ(e->mxPublication("h0.dyn.example")->state, MxPublicationState::Waiting);

  answerGood();
  now_ = kT0 + 35min;
  pass(*e);
  ASSERT_EQ(http_.requests.size(), 3u);
  EXPECT_NE(http_.requests[2].url.find("&mx=mx.isp.example&backmx=YES"), std::string::npos);
  EXPECT_EQ(e->mxPublication("h0.dyn.example")->state, MxPublicationState::Accepted);

  // A fatal answer refuses the wish until the configuration changes.
  http_.respond = [](const net::HttpRequest&) { return reply("abuse\n"); };
  now_ = kT0 + 2h;
  e->wantMx("h0.dyn.example", kMultidropMx);
  io_.restart();
  io_.run();
  ASSERT_EQ(http_.requests.size(), 4u);
  p = e->mxPublication("h0.dyn.example");
  EXPECT_EQ(p->state, MxPublicationState::Refused);
  EXPECT_EQ(p->text, "disabled after \"abuse\"");
  now_ = kT0 + 5h;
  pass(*e);
  EXPECT_EQ(http_.requests.size(), 4u);
}

}  // namespace
}  // namespace dynmx::ddns
