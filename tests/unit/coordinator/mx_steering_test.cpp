// The MX lever with a fake Updater, a fake DnsResolver and a fake clock: publish the wanted
// set, classify the server's answer, verify at every authoritative server (AA required).
#include "dynmx/mx_steering.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace dynmx::mx {
namespace {

using namespace std::chrono_literals;

struct FakeUpdater : dnsupdate::Updater {
  std::vector<dnsupdate::UpdateMessage>* sent = nullptr;
  std::deque<dnsupdate::UpdateOutcome>* outcomes = nullptr;
  void send(dnsupdate::UpdateMessage m, std::function<void(dnsupdate::UpdateOutcome)> done) override {
    sent->push_back(std::move(m));
    dnsupdate::UpdateOutcome o;
    o.verdict = dnsupdate::Verdict::Applied;
    o.rcode = "NOERROR";
    o.server = "192.0.2.53:53";
    if (!outcomes->empty()) {
      o = outcomes->front();
      outcomes->pop_front();
    }
    done(o);
  }
};

// Answers MX queries from a table keyed "address:port"; answers synchronously.
struct FakeDns : net::DnsResolver {
  std::map<std::string, net::DnsResult> byServer;
  std::vector<net::DnsQuery> queries;
  void query(net::DnsQuery q, net::DnsHandler done) override {
    queries.push_back(q);
    net::DnsResult r;
    r.error = net::DnsError::Timeout;
    if (!q.servers.empty()) {
      auto it = byServer.find(q.servers[0].address + ":" + std::to_string(q.servers[0].port));
      if (it != byServer.end()) r = it->second;
    }
    done(r);
  }
  void show(const std::string& server, std::vector<std::string> records, bool aa = true) {
    net::DnsResult r;
    r.values = std::move(records);
    r.authoritative = aa;
    if (r.values.empty()) r.error = net::DnsError::NoData;
    byServer[server] = r;
  }
};

// The DDNS engine as the dyndns2 lever sees it: wishes recorded, the publication set by the
// test (a new wish starts Pending, as in the engine), facts announced on `pass()`.
struct FakeHostMx : ddns::HostMxLever {
  std::vector<std::pair<std::string, std::optional<ddns::MxSetting>>> wishes;
  ddns::MxPublication publication;
  std::function<void()> listener;
  void wantMx(const std::string& host, std::optional<ddns::MxSetting> wanted) override {
    if (!wishes.empty() && wishes.back() == std::make_pair(host, wanted)) return;
    wishes.emplace_back(host, wanted);
    publication = {
        ddns::MxPublicationState::Pending, "MX change to " + (wanted ? toString(*wanted) : "none"), {}, {}};
  }
  std::optional<ddns::MxPublication> mxPublication(const std::string& host) const override {
    if (host != "office.dyn.example") return std::nullopt;
    return publication;
  }
  void onMxFacts(std::function<void()> l) override { listener = std::move(l); }
  std::vector<std::string> contradicted;
  void mxContradicted(const std::string& host) override { contradicted.push_back(host); }
  void pass(ddns::MxPublication p) {
    publication = std::move(p);
    if (listener) listener();
  }
};

struct MxSteeringTest : ::testing::Test {
  TimePoint now = fromUnix(1'800'000'000);
  // The fake clock in milliseconds (the lever's waits are finer than TimePoint's seconds).
  std::chrono::milliseconds clockMs{0};
  std::multimap<std::chrono::milliseconds, std::function<void()>> timers;
  std::vector<dnsupdate::UpdateMessage> sent;
  std::deque<dnsupdate::UpdateOutcome> outcomes;
  FakeDns dns;
  int changes = 0;
  FakeHostMx engine;  // outlives the lever, as the daemon's engine does
  std::unique_ptr<Steering> s;

  MxDomain domain(MxLever lever = MxLever::Rfc2136) {
    MxDomain m;
    m.domain = "example.com";
    m.zone = "example.com";
    m.direct = {{10, "office.example.com"}, {20, "mx.isp.example"}};
    m.multidrop = {{10, "mx.isp.example"}};
    m.ttl = 5min;
    m.lever = lever;
    m.verifyServers = {{"192.0.2.53", 53}, {"198.51.100.53", 53}};
    return m;
  }
  void make(MxDomain d, ddns::HostMxLever* hostMx = nullptr) {
    SteeringDeps deps;
    deps.hostMx = hostMx;
    deps.dns = &dns;
    deps.now = [this] { return now; };
    deps.after = [this](std::chrono::milliseconds delay, std::function<void()> fn) {
      timers.emplace(clockMs + delay, std::move(fn));
    };
    deps.makeUpdater = [this](const MxDomain&) -> Result<std::unique_ptr<dnsupdate::Updater>> {
      auto u = std::make_unique<FakeUpdater>();
      u->sent = &sent;
      u->outcomes = &outcomes;
      return std::unique_ptr<dnsupdate::Updater>(std::move(u));
    };
    deps.changed = [this] { ++changes; };
    s = std::make_unique<Steering>(std::vector<MxDomain>{std::move(d)}, std::move(deps));
  }
  // Run every timer due up to now + d, in order.
  void advance(std::chrono::milliseconds d) {
    const auto until = clockMs + d;
    const TimePoint start = now - std::chrono::duration_cast<Duration>(clockMs);
    while (!timers.empty() && timers.begin()->first <= until) {
      auto it = timers.begin();
      clockMs = it->first;
      now = start + std::chrono::duration_cast<Duration>(clockMs);
      auto fn = std::move(it->second);
      timers.erase(it);
      fn();
    }
    clockMs = until;
    now = start + std::chrono::duration_cast<Duration>(clockMs);
  }
  /// The DDNS hostname as its own mail domain, steered through the provider.
  MxDomain dyndns2Domain() {
    MxDomain m = domain(MxLever::Dyndns2);
    m.domain = "office.dyn.example";
    m.zone = "dyn.example";
    m.direct = {{10, "office.dyn.example"}, {20, "mx.isp.example"}};
    return m;
  }
  void want(const std::string& mode, const MxDomain& d) {
    s->setIntent({{d.domain, mode, mode == "direct" ? d.direct : d.multidrop, d.ttl}});
  }
  void want(const std::string& mode) { want(mode, domain()); }
  status::MxInfo fact() const { return s->facts().at(0); }
};

TEST(MxVerify, EveryServerMustAnswerAuthoritativelyWithExactlyTheSet) {
  const std::vector<MxRecord> want{{10, "mx.isp.example"}};
  EXPECT_TRUE(verifyMx(want, {{"ns1", true, true, {"10 mx.isp.example"}, ""},
                              {"ns2", true, true, {"10 mx.isp.example"}, ""}})
                  .verified);
  const auto stale =
      verifyMx(want, {{"ns1", true, true, {"10 mx.isp.example"}, ""},
                      {"ns2", true, true, {"10 office.example.com", "20 mx.isp.example"}, ""}});
  EXPECT_FALSE(stale.verified);
  EXPECT_EQ(stale.text, "ns2 shows 10 office.example.com, 20 mx.isp.example, expected 10 mx.isp.example");
  const auto noAa = verifyMx(want, {{"ns1", true, false, {"10 mx.isp.example"}, ""}});
  EXPECT_FALSE(noAa.verified);
  EXPECT_EQ(noAa.text, "ns1: answer without the AA bit (no proof)");
  const auto down =
      verifyMx(want, {{"ns1", true, true, {"10 mx.isp.example"}, ""}, {"ns2", false, false, {}, "timeout"}});
  EXPECT_FALSE(down.verified) << "an unreachable secondary may still hand out the old set";
  EXPECT_EQ(down.text, "ns2: timeout");
  EXPECT_FALSE(verifyMx(want, {}).verified);
}

TEST(MxVerify, UpdateReplacesTheMxRRsetWithAbsoluteNames) {
  MxDomain d;
  d.domain = "example.com";
  d.zone = "example.com";
  d.ttl = 10min;
  const auto m = mxUpdate(d, {{10, "mx.isp.example"}});
  EXPECT_EQ(m.zone, "example.com");
  EXPECT_TRUE(m.prerequisites.empty());
  ASSERT_EQ(m.changes.size(), 1u);
  EXPECT_EQ(m.changes[0].kind, dnsupdate::Change::Kind::ReplaceRRset);
  EXPECT_EQ(m.changes[0].rrset.name, "example.com");
  EXPECT_EQ(m.changes[0].rrset.type, dnsupdate::RecordType::MX);
  EXPECT_EQ(m.changes[0].rrset.ttl, 600u);
  EXPECT_EQ(m.changes[0].rrset.records, std::vector<std::string>{"10 mx.isp.example."});
}

TEST_F(MxSteeringTest, PublishesThenVerifiesAtEveryServerWithRetriesOnTheFakeClock) {
  make(domain());
  dns.show("192.0.2.53:53", {"10 mx.isp.example"});
  dns.show("198.51.100.53:53", {"10 office.example.com", "20 mx.isp.example"});  // secondary lags
  want("multidrop");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].changes[0].rrset.records, std::vector<std::string>{"10 mx.isp.example."});
  EXPECT_EQ(fact().state, "verifying");
  EXPECT_FALSE(fact().verified);
  EXPECT_EQ(fact().publishedAt, now);
  EXPECT_EQ(fact().detail,
            "198.51.100.53:53 shows 10 office.example.com, 20 mx.isp.example, expected 10 mx.isp.example");
  for (const auto& q : dns.queries) {
    EXPECT_FALSE(q.recursionDesired);
    EXPECT_EQ(q.type, net::RecordType::MX);
  }
  advance(4s);
  EXPECT_FALSE(fact().verified);
  dns.show("198.51.100.53:53", {"10 mx.isp.example"});  // the zone transfer arrives
  const TimePoint transferred = now;
  advance(1s);  // the first re-check after verifyRetry (5s)
  EXPECT_TRUE(fact().verified);
  EXPECT_EQ(fact().state, "verified");
  EXPECT_EQ(fact().verifiedAt, transferred + 1s);
  EXPECT_EQ(sent.size(), 1u) << "a lagging secondary is waited for, not updated again";
  EXPECT_GT(changes, 0);
}

TEST_F(MxSteeringTest, RefusedUpdateIsReportedAndNotRetriedRetryBacksOff) {
  make(domain());
  dnsupdate::UpdateOutcome refused;
  refused.verdict = dnsupdate::Verdict::Fatal;
  refused.rcode = "NOTAUTH";
  refused.server = "192.0.2.53:53";
  refused.detail = "the server is not authoritative for example.com";
  outcomes.push_back(refused);
  want("multidrop");
  EXPECT_EQ(fact().state, "refused");
  EXPECT_EQ(fact().detail, "NOTAUTH from 192.0.2.53:53: the server is not authoritative for example.com");
  advance(2h);
  EXPECT_EQ(sent.size(), 1u) << "a refusal stops until the intent or the policy changes";

  dnsupdate::UpdateOutcome timeout;
  timeout.verdict = dnsupdate::Verdict::Retry;
  timeout.rcode = "timeout";
  outcomes.push_back(timeout);
  outcomes.push_back(timeout);
  want("direct");
  EXPECT_EQ(sent.size(), 2u);
  EXPECT_EQ(fact().state, "retrying");
  advance(9s);
  EXPECT_EQ(sent.size(), 2u);
  advance(1s);
  EXPECT_EQ(sent.size(), 3u) << "first retry after retryStart (10s)";
  advance(19s);
  EXPECT_EQ(sent.size(), 3u);
  dns.show("192.0.2.53:53", {"10 office.example.com", "20 mx.isp.example"});
  dns.show("198.51.100.53:53", {"20 mx.isp.example", "10 office.example.com"});
  advance(1s);
  EXPECT_EQ(sent.size(), 4u) << "then after twice that";
  EXPECT_TRUE(fact().verified);
  EXPECT_EQ(fact().wanted, "direct");
}

TEST_F(MxSteeringTest, WithoutALeverNothingIsPublished) {
  make(domain(MxLever::None));
  want("multidrop");
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(fact().state, "no-lever");
  EXPECT_EQ(fact().lever, "none");
  EXPECT_FALSE(fact().verified);
}

TEST_F(MxSteeringTest, ASetChangedBehindOurBackIsPublishedAgain) {
  make(domain());
  dns.show("192.0.2.53:53", {"10 mx.isp.example"});
  dns.show("198.51.100.53:53", {"10 mx.isp.example"});
  want("multidrop");
  ASSERT_TRUE(fact().verified);
  dns.show("192.0.2.53:53", {"10 office.example.com"});
  advance(5min);  // the periodic re-check
  EXPECT_EQ(sent.size(), 2u);
}

// lever = "dyndns2": the set goes down to the engine as mx=/backmx=, the engine's facts come
// up as the lever's states, and verification is the rfc2136 lever's own (AA, every server).
TEST_F(MxSteeringTest, Dyndns2LeverHandsTheSetToTheEngineAndVerifiesIt) {
  make(dyndns2Domain(), &engine);
  EXPECT_EQ(fact().lever, "dyndns2");
  want("direct", dyndns2Domain());
  ASSERT_EQ(engine.wishes.size(), 1u);
  EXPECT_EQ(engine.wishes[0].first, "office.dyn.example");
  EXPECT_EQ(engine.wishes[0].second, (ddns::MxSetting{"mx.isp.example", true}));
  EXPECT_TRUE(sent.empty()) << "no DNS UPDATE: the engine owns the request";
  EXPECT_EQ(fact().state, "publishing");
  EXPECT_TRUE(dns.queries.empty());

  // The provider's back-off holds the request: said so, nothing verified yet.
  const std::string held =
      "MX change to mx=mx.isp.example backmx=YES waits after \"911\" until 2027-01-15T08:30:00Z";
  engine.pass({ddns::MxPublicationState::Waiting, held, {}, now + 30min});
  EXPECT_EQ(fact().state, "retrying");
  EXPECT_EQ(fact().detail, "the provider's rules hold the request: " + held);
  EXPECT_TRUE(dns.queries.empty());

  // Accepted: verified at every authoritative server, with AA, like any set.
  dns.show("192.0.2.53:53", {"10 office.dyn.example", "20 mx.isp.example"});
  dns.show("198.51.100.53:53", {"10 office.dyn.example", "20 mx.isp.example"}, false);  // no AA
  engine.pass(
      {ddns::MxPublicationState::Accepted, "provider custom accepted mx=mx.isp.example backmx=YES", now, {}});
  EXPECT_EQ(fact().state, "verifying");
  EXPECT_EQ(fact().publishedAt, now);
  EXPECT_EQ(fact().detail, "198.51.100.53:53: answer without the AA bit (no proof)");
  dns.show("198.51.100.53:53", {"20 mx.isp.example", "10 office.dyn.example"});
  advance(5s);
  EXPECT_TRUE(fact().verified);
  EXPECT_EQ(fact().state, "verified");
  for (const auto& q : dns.queries) {
    EXPECT_FALSE(q.recursionDesired);
    EXPECT_EQ(q.name, "office.dyn.example");
  }

  // Multidrop: mx=HOST&backmx=NO; a refusal by the engine is the lever's refusal.
  want("multidrop", dyndns2Domain());
  ASSERT_EQ(engine.wishes.size(), 2u);
  EXPECT_EQ(engine.wishes[1].second, (ddns::MxSetting{"mx.isp.example", false}));
  EXPECT_FALSE(fact().verified);
  engine.pass({ddns::MxPublicationState::Refused, "disabled after \"abuse\"", {}, {}});
  EXPECT_EQ(fact().state, "refused");
  EXPECT_EQ(fact().detail, "disabled after \"abuse\"");
  advance(2h);
  EXPECT_EQ(fact().state, "refused");
  EXPECT_TRUE(sent.empty());

  // A set dyndns2 cannot express is refused by the lever itself (the rule `dynmx check` uses).
  MxDomain odd = dyndns2Domain();
  odd.multidrop = {{10, "mx.isp.example"}, {20, "mx2.isp.example"}};
  want("multidrop", odd);
  EXPECT_EQ(engine.wishes.size(), 2u);
  EXPECT_EQ(fact().state, "refused");
  EXPECT_EQ(fact().detail,
            "cannot publish through dyndns2: dyndns2 publishes a multidrop set as exactly one MX other than "
            "office.dyn.example (mx=HOST&backmx=NO)");

  // A policy without the domain: the engine stops asking for an MX.
  s->reconfigure({});
  ASSERT_EQ(engine.wishes.size(), 3u);
  EXPECT_EQ(engine.wishes[2],
            std::make_pair(std::string("office.dyn.example"), std::optional<ddns::MxSetting>()));
}

// The provider believes it has the set, so the lever cannot just ask again: a set the
// servers contradict is told to the engine (which re-sends within the provider's rules);
// silence or a missing AA bit is no contradiction, and nothing is told within the TTL.
TEST_F(MxSteeringTest, Dyndns2LeverTellsTheEngineWhenTheServersContradictTheAcceptedSet) {
  make(dyndns2Domain(), &engine);
  want("direct", dyndns2Domain());
  // Accepted, but one server has something else, the other does not answer.
  dns.show("192.0.2.53:53", {"10 mx.evil.example"});
  engine.pass(
      {ddns::MxPublicationState::Accepted, "provider custom accepted mx=mx.isp.example backmx=YES", now, {}});
  EXPECT_EQ(fact().state, "verifying");
  EXPECT_TRUE(engine.contradicted.empty()) << "within the TTL, secondaries and caches may still catch up";
  advance(4min);
  EXPECT_TRUE(engine.contradicted.empty()) << "told before the set's TTL had passed";
  advance(2min);
  ASSERT_FALSE(engine.contradicted.empty()) << fact().detail;
  EXPECT_EQ(engine.contradicted.front(), "office.dyn.example");
  EXPECT_TRUE(sent.empty()) << "the engine sends, never the lever";

  // Verified; then a server goes silent: no contradiction, only an unverified set.
  engine.contradicted.clear();
  dns.show("192.0.2.53:53", {"10 office.dyn.example", "20 mx.isp.example"});
  dns.show("198.51.100.53:53", {"10 office.dyn.example", "20 mx.isp.example"});
  advance(10min);
  ASSERT_TRUE(fact().verified) << fact().detail;
  engine.contradicted.clear();
  dns.show("198.51.100.53:53", {"10 office.dyn.example", "20 mx.isp.example"}, false);  // no AA
  advance(10min);
  EXPECT_FALSE(fact().verified);
  EXPECT_TRUE(engine.contradicted.empty()) << "an answer without AA is no proof either way";
  // Verified again; then the set is changed behind our back: told at the next check.
  dns.show("198.51.100.53:53", {"10 office.dyn.example", "20 mx.isp.example"});
  advance(1h);
  ASSERT_TRUE(fact().verified) << fact().detail;
  engine.contradicted.clear();
  dns.show("192.0.2.53:53", {"10 mx.evil.example"});
  advance(5min);  // the re-check of a verified set
  ASSERT_FALSE(engine.contradicted.empty()) << fact().detail;
  EXPECT_EQ(engine.contradicted.front(), "office.dyn.example");
}

TEST(MxVerdict, ContradictedOnlyByAnAuthoritativeAnswerWithAnotherSet) {
  const std::vector<MxRecord> want = {{10, "mx.isp.example"}};
  EXPECT_FALSE(verifyMx(want, {{"a", true, true, {"10 mx.isp.example"}, ""}}).contradicted);
  EXPECT_FALSE(verifyMx(want, {{"a", false, false, {}, "timeout"}}).contradicted);
  EXPECT_FALSE(verifyMx(want, {{"a", true, false, {"10 mx.evil.example"}, ""}}).contradicted);
  const auto v = verifyMx(want, {{"a", false, false, {}, "timeout"}, {"b", true, true, {"10 mx.evil.example"}, ""}});
  EXPECT_FALSE(v.verified);
  EXPECT_TRUE(v.contradicted);
  EXPECT_EQ(v.text, "a: timeout");
}

TEST_F(MxSteeringTest, Dyndns2LeverWithoutAnEngineIsRefused) {
  make(dyndns2Domain());
  want("direct", dyndns2Domain());
  EXPECT_EQ(fact().state, "refused");
  EXPECT_EQ(fact().detail, "cannot publish through dyndns2: no DDNS engine runs");
}

}  // namespace
}  // namespace dynmx::mx
