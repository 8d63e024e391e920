#include "dynmx/ddns/health.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

using namespace std::chrono_literals;
using mail::DdnsHealth;
using mail::DdnsState;

const TimePoint kT0 = fromUnix(1'800'000'000);
const AddressSet kA{IpAddress::parse("203.0.113.7"), std::nullopt};

ServerAnswer answer(const char* server, std::vector<std::string> addrs, std::uint32_t ttl = 60) {
  return ServerAnswer{server, true, std::move(addrs), ttl, {}, true};
}
ServerAnswer failed(const char* server, const char* why) {
  return ServerAnswer{server, false, {}, 0, why};
}

Observation obs(std::vector<ServerAnswer> answers, TimePoint at, const char* host = "mail.example.com") {
  return Observation{"office", host, kA, std::move(answers), at};
}

// A store in which the host was updated successfully at `at`.
StateStore goodState(TimePoint at, const char* host = "mail.example.com") {
  StateStore st;
  HostState s;
  s.account = "office";
  s.host = host;
  s.confirmedAddress = s.lastAddressSent = "203.0.113.7";
  s.lastResult = ResultCode::Good;
  s.lastAttempt = s.lastSuccess = at;
  s.configFingerprint = "fp";
  st.put(s);
  return st;
}

HealthInput input(const StateStore* st, std::vector<Observation> o, TimePoint now,
                  DdnsHealth previous = {}) {
  HealthInput in;
  in.hosts = {{"office", "mail.example.com"}};
  in.states = st;
  in.observations = std::move(o);
  in.previous = previous;
  in.now = now;
  return in;
}

TEST(VerifyHostTest, Outcomes) {
  EXPECT_EQ(verifyHost(obs({answer("ns1", {"203.0.113.7"}), answer("ns2", {"203.0.113.7"})}, kT0))
                .outcome,
            VerifyOutcome::Verified);
  const auto mm = verifyHost(obs({answer("ns1", {"203.0.113.7"}), answer("ns2", {"198.51.100.9"}, 300)}, kT0));
  EXPECT_EQ(mm.outcome, VerifyOutcome::Mismatch);
  EXPECT_EQ(mm.text, "mail.example.com resolves to 198.51.100.9 at ns2, expected 203.0.113.7");
  EXPECT_EQ(mm.ttl, 300u);
  // An extra record is a mismatch too (a stale second A record).
  EXPECT_EQ(verifyHost(obs({answer("ns1", {"203.0.113.7", "198.51.100.9"})}, kT0)).outcome,
            VerifyOutcome::Mismatch);
  // NXDOMAIN / NODATA is an answer with nothing in it.
  EXPECT_EQ(verifyHost(obs({answer("ns1", {})}, kT0)).outcome, VerifyOutcome::Mismatch);
  const auto rf = verifyHost(obs({failed("ns1", "timeout"), failed("ns2", "refused")}, kT0));
  EXPECT_EQ(rf.outcome, VerifyOutcome::ResolutionFailing);
  EXPECT_NE(rf.text.find("ns2: refused"), std::string::npos);
  EXPECT_EQ(verifyHost(obs({}, kT0)).outcome, VerifyOutcome::ResolutionFailing);
  // One unreachable server among answering ones does not fail the host.
  const auto part = verifyHost(obs({answer("ns1", {"203.0.113.7"}), failed("ns2", "timeout")}, kT0));
  EXPECT_EQ(part.outcome, VerifyOutcome::Verified);
  EXPECT_NE(part.text.find("unreachable"), std::string::npos);
  // Textual forms are compared as addresses.
  Observation v6{"office", "h", AddressSet{std::nullopt, IpAddress::parse("2001:db8::7")},
                 {answer("ns1", {"2001:0db8:0:0::7"})}, kT0};
  EXPECT_EQ(verifyHost(v6).outcome, VerifyOutcome::Verified);
}

TEST(HealthTest, DisabledAndNoHosts) {
  HealthInput in;
  in.enabled = false;
  in.now = kT0;
  EXPECT_EQ(evaluateHealth(in).state, DdnsState::Disabled);
  in.enabled = true;  // but no hosts
  EXPECT_EQ(evaluateHealth(in).state, DdnsState::Disabled);
}

TEST(HealthTest, HealthyWhenAllVerifiedAndSinceIsStable) {
  const auto st = goodState(kT0);
  auto h = evaluateHealth(input(&st, {obs({answer("ns1", {"203.0.113.7"})}, kT0 + 5min)}, kT0 + 5min));
  EXPECT_EQ(h.state, DdnsState::Healthy);
  EXPECT_EQ(h.since, kT0 + 5min);
  const auto h2 =
      evaluateHealth(input(&st, {obs({answer("ns1", {"203.0.113.7"})}, kT0 + 10min)}, kT0 + 10min, h));
  EXPECT_EQ(h2.state, DdnsState::Healthy);
  EXPECT_EQ(h2.since, kT0 + 5min);
}

TEST(HealthTest, NotCheckedYetIsUnknown) {
  const auto st = goodState(kT0);
  const auto h = evaluateHealth(input(&st, {}, kT0 + 1min));
  EXPECT_EQ(h.state, DdnsState::Unknown);
}

TEST(HealthTest, MismatchAfterTtlGraceWithStableSince) {
  const auto st = goodState(kT0);
  // Within the old record's TTL (300 s) after our update: not counted, verdict unchanged.
  const DdnsHealth healthy{DdnsState::Healthy, kT0 - 1h, "", ""};
  auto h = evaluateHealth(
      input(&st, {obs({answer("ns1", {"198.51.100.9"}, 300)}, kT0 + 4min)}, kT0 + 4min, healthy));
  EXPECT_EQ(h.state, DdnsState::Healthy);
  EXPECT_EQ(h.since, kT0 - 1h);
  // Past the TTL: a mismatch, since the observation.
  h = evaluateHealth(
      input(&st, {obs({answer("ns1", {"198.51.100.9"}, 300)}, kT0 + 6min)}, kT0 + 6min, h));
  EXPECT_EQ(h.state, DdnsState::Failing);
  EXPECT_EQ(h.code, "ddns.mismatch");
  EXPECT_EQ(h.since, kT0 + 6min);
  EXPECT_NE(h.text.find("198.51.100.9"), std::string::npos);
  // Still mismatching later: since does not move.
  h = evaluateHealth(
      input(&st, {obs({answer("ns1", {"198.51.100.9"}, 300)}, kT0 + 11min)}, kT0 + 11min, h));
  EXPECT_EQ(h.code, "ddns.mismatch");
  EXPECT_EQ(h.since, kT0 + 6min);
  // Fixed: healthy again, since now.
  h = evaluateHealth(input(&st, {obs({answer("ns1", {"203.0.113.7"})}, kT0 + 16min)}, kT0 + 16min, h));
  EXPECT_EQ(h.state, DdnsState::Healthy);
  EXPECT_EQ(h.since, kT0 + 16min);
}

TEST(HealthTest, HugeTtlGraceIsCapped) {
  const auto st = goodState(kT0);
  const auto h = evaluateHealth(
      input(&st, {obs({answer("ns1", {"198.51.100.9"}, 86400)}, kT0 + 61min)}, kT0 + 61min));
  EXPECT_EQ(h.code, "ddns.mismatch");
}

TEST(HealthTest, ResolutionFailing) {
  const auto st = goodState(kT0);
  const auto h = evaluateHealth(
      input(&st, {obs({failed("ns1", "timeout")}, kT0 + 5min)}, kT0 + 5min));
  EXPECT_EQ(h.state, DdnsState::Failing);
  EXPECT_EQ(h.code, "ddns.resolution_failing");
  EXPECT_EQ(h.since, kT0 + 5min);
}

TEST(HealthTest, ProviderRetryingAndFatal) {
  auto st = goodState(kT0);
  HostState s = st.get("office", "mail.example.com");
  s.lastResult = ResultCode::ServerError911;
  s.failingSince = kT0 + 1h;
  s.retryNotBefore = kT0 + 90min;
  st.put(s);
  auto h = evaluateHealth(input(&st, {obs({answer("ns1", {"203.0.113.7"})}, kT0 + 70min)}, kT0 + 70min));
  EXPECT_EQ(h.code, "ddns.provider_retrying");
  EXPECT_EQ(h.since, kT0 + 1h);
  EXPECT_NE(h.text.find("911"), std::string::npos);

  s.fatalReason = "badauth";
  s.lastResult = ResultCode::BadAuth;
  s.lastAttempt = kT0 + 2h;
  st.put(s);
  h = evaluateHealth(input(&st, {}, kT0 + 3h, h));
  EXPECT_EQ(h.code, "ddns.provider_fatal");
  // Still unhealthy since the first failure: a new failure code must not restart the
  // grace period maildecision measures from `since`.
  EXPECT_EQ(h.since, kT0 + 1h);
  EXPECT_NE(h.text.find("badauth"), std::string::npos);
}

TEST(HealthTest, ChangingFailureCodesKeepTheEarliestSince) {
  auto st = goodState(kT0);
  mail::DdnsHealth prev{DdnsState::Failing, kT0 + 10min, "ddns.mismatch", "mismatch"};
  auto h = evaluateHealth(input(&st, {obs({failed("ns1", "timeout")}, kT0 + 14min)}, kT0 + 14min, prev));
  EXPECT_EQ(h.code, "ddns.resolution_failing");
  EXPECT_EQ(h.since, kT0 + 10min);
  mail::DdnsHealth unknown{DdnsState::Unknown, kT0, "", ""};
  h = evaluateHealth(input(&st, {obs({failed("ns1", "timeout")}, kT0 + 3min)}, kT0 + 3min, unknown));
  EXPECT_EQ(h.since, kT0) << "unknown since start-up, then failing: still since start-up";
}

TEST(HealthTest, CgnatWinsAndWorstHostIsReported) {
  auto st = goodState(kT0);
  HealthInput in = input(&st, {obs({answer("ns1", {"203.0.113.7"})}, kT0)}, kT0);
  in.nat = detectNat(IpAddress::parse("100.64.1.2"), IpAddress::parse("203.0.113.7"));
  auto h = evaluateHealth(in);
  EXPECT_EQ(h.code, "ddns.cgnat");
  EXPECT_EQ(h.state, DdnsState::Failing);

  // Two hosts: one mismatching, one fatal → fatal is reported; two mismatching → "and 1 more".
  HostState other = st.get("office", "www.example.com");
  other.fatalReason = "nohost";
  other.configFingerprint = "fp";
  other.lastAttempt = kT0;
  st.put(other);
  in = input(&st, {obs({answer("ns1", {"198.51.100.9"})}, kT0 + 1h)}, kT0 + 1h);
  in.hosts.push_back({"office", "www.example.com"});
  h = evaluateHealth(in);
  EXPECT_EQ(h.code, "ddns.provider_fatal");
  EXPECT_NE(h.text.find("www.example.com"), std::string::npos);

  auto st2 = goodState(kT0);
  st2.put(goodState(kT0, "www.example.com").hosts.begin()->second);
  in = input(&st2,
             {obs({answer("ns1", {"198.51.100.9"})}, kT0 + 2h),
              obs({answer("ns1", {"198.51.100.9"})}, kT0 + 1h, "www.example.com")},
             kT0 + 2h);
  in.hosts.push_back({"office", "www.example.com"});
  h = evaluateHealth(in);
  EXPECT_EQ(h.code, "ddns.mismatch");
  EXPECT_EQ(h.since, kT0 + 1h);
  EXPECT_NE(h.text.find("(and 1 more)"), std::string::npos);
}

// One typed model: a withdrawn host is judged by what direct needs; its withdrawal is a
// separate fact (withdrawn / pending, with why).
TEST(HealthTest, WithdrawingHostsAreJudgedByWhatDirectNeeds) {
  StateStore st = goodState(kT0);
  HostState s = st.get("office", "mail.example.com");
  s.offline = true;
  st.put(s);
  Observation gone = obs({answer("ns1", {})}, kT0 + 1min);
  gone.intent = AddressIntent::Withdraw;
  HealthInput in = input(&st, {gone}, kT0 + 1min);
  in.withdrawing = {{"office", "mail.example.com"}};
  in.current = kA;
  auto j = judgeHosts(in);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].condition, HostCondition::Withdrawn);
  EXPECT_TRUE(j[0].fine());
  EXPECT_TRUE(j[0].intentMet());
  EXPECT_EQ(evaluateHealth(in).state, DdnsState::Healthy);

  // Still resolving to the old address: pending, but no reason to keep mail off direct.
  Observation still = obs({answer("ns1", {"203.0.113.7"})}, kT0 + 1min);
  still.intent = AddressIntent::Withdraw;
  in.observations = {still};
  j = judgeHosts(in);
  EXPECT_EQ(j[0].condition, HostCondition::WithdrawalPending);
  EXPECT_FALSE(j[0].fine());
  EXPECT_EQ(evaluateHealth(in).state, DdnsState::Healthy);

  // Held by the provider's back-off: the text says until when.
  s.offline = false;
  s.retryNotBefore = kT0 + 30min;
  st.put(s);
  in.observations = {};
  j = judgeHosts(in);
  EXPECT_EQ(j[0].condition, HostCondition::WithdrawalPending);
  EXPECT_NE(j[0].text.find("held by the provider's back-off until"), std::string::npos) << j[0].text;

  // No address to come back with: undecided, never "healthy".
  in.current.reset();
  j = judgeHosts(in);
  EXPECT_EQ(j[0].condition, HostCondition::NoAddress);
  EXPECT_FALSE(j[0].withdrawalVerified) << "the provider has not confirmed offline";

  // An outage with the withdrawal in effect: still no address, but the withdrawal is a fact
  // status reports (the intent is met; nothing is fine for direct).
  s.offline = true;
  s.retryNotBefore.reset();
  st.put(s);
  in.observations = {gone};
  j = judgeHosts(in);
  EXPECT_EQ(j[0].condition, HostCondition::NoAddress);
  EXPECT_TRUE(j[0].withdrawalVerified);
  EXPECT_TRUE(j[0].intentMet());
  EXPECT_FALSE(j[0].fine());
  EXPECT_NE(j[0].text.find("withdrawn (verified: mail.example.com no longer resolves to 203.0.113.7)"),
            std::string::npos)
      << j[0].text;
  EXPECT_NE(j[0].text.find("no address known to return with"), std::string::npos) << j[0].text;
  in.observations = {still};
  j = judgeHosts(in);
  EXPECT_FALSE(j[0].withdrawalVerified);
  EXPECT_FALSE(j[0].intentMet());
  EXPECT_NE(j[0].text.find("withdrawal pending (mail.example.com still resolves to 203.0.113.7"), std::string::npos)
      << j[0].text;
}

// What a verified withdrawal leaves in senders' caches: the negative-caching TTL of the
// absent record (from the SOA), or the TTL of records naming other addresses; the largest
// across servers. A withdrawal not in effect, or a publish, leaves nothing to wait for.
TEST(HealthTest, AVerifiedWithdrawalSaysHowLongSendersMayCacheIt) {
  ServerAnswer nx = answer("ns1", {});
  nx.negativeTtl = 300;
  ServerAnswer nx2 = answer("ns2", {});
  nx2.negativeTtl = 900;
  Observation o = obs({nx, nx2}, kT0);
  o.intent = AddressIntent::Withdraw;
  HostVerification v = verifyHost(o);
  EXPECT_EQ(v.outcome, VerifyOutcome::Verified);
  EXPECT_EQ(v.cacheTtl, 900u);

  // A provider that parks the name on another address: that record's TTL.
  o.answers = {answer("ns1", {"192.0.2.1"}, 120)};
  v = verifyHost(o);
  EXPECT_EQ(v.outcome, VerifyOutcome::Verified);
  EXPECT_EQ(v.cacheTtl, 120u);

  // No SOA in the negative answer: resolvers do not cache it (RFC 2308 §5).
  o.answers = {answer("ns1", {})};
  EXPECT_EQ(verifyHost(o).cacheTtl, 0u);

  // Still resolving to the old address at one server: not in effect.
  o.answers = {nx, answer("ns2", {"203.0.113.7"})};
  EXPECT_EQ(verifyHost(o).outcome, VerifyOutcome::Mismatch);
}

TEST(HealthTest, AnswerWithoutAaIsNoProofAndALostAddressIsStale) {
  const StateStore st = goodState(kT0);
  ServerAnswer cache = answer("resolver", {"203.0.113.7"});
  cache.authoritative = false;
  HealthInput in = input(&st, {obs({cache}, kT0 + 1min)}, kT0 + 1min);
  EXPECT_EQ(judgeHosts(in)[0].condition, HostCondition::ResolutionFailing);
  in.observations = {obs({answer("ns1", {"203.0.113.7"})}, kT0 + 1min)};
  EXPECT_EQ(judgeHosts(in)[0].condition, HostCondition::Verified);
  in.addressLost = "interface eth0 is down";
  const auto j = judgeHosts(in);
  EXPECT_EQ(j[0].condition, HostCondition::Stale);
  EXPECT_EQ(evaluateHealth(in).code, "ddns.stale");
}

}  // namespace
}  // namespace dynmx::ddns
