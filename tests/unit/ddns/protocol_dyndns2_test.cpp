// dyndns2 provider rules, table-driven in the style of ddclient's t/protocol_*.pl: for each
// reply the providers document, the request sent, the outcome per host and the state saved,
// through the same pure functions the engine chains (buildRequests → classify → applyResult
// → shouldUpdate). Issue 12, item 10.
#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/ddns/schedule.hpp"

namespace dynmx::ddns {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = fromUnix(1'800'000'000);
const AddressSet kAddr{IpAddress::parse("203.0.113.7"), std::nullopt};

DdnsAccount account(std::vector<std::string> hosts, std::string provider = "dyn") {
  DdnsAccount a;
  a.name = "office";
  a.provider = std::move(provider);
  a.username = "office-user";
  a.passwordFile = "/etc/dynmx/ddns.password";
  a.hosts = std::move(hosts);
  return a;
}

/// What the table expects of one host after the reply.
struct Saved {
  ResultCode code;
  bool fatal;
  std::optional<Duration> retryIn;  ///< retryNotBefore - now, when set
  bool sendsAgainAtOnce;            ///< shouldUpdate (unforced) sends right after
};

struct Row {
  const char* name;
  std::vector<std::string> hosts;
  long status;
  const char* body;
  bool nochgExpected;
  std::vector<Saved> saved;  ///< one per host, in request order
};

class Dyndns2Protocol : public ::testing::TestWithParam<Row> {};

TEST_P(Dyndns2Protocol, ReplyToSavedState) {
  const Row& row = GetParam();
  const DdnsAccount acct = account(row.hosts);
  auto plan = buildRequests(acct, acct.hosts, kAddr);
  ASSERT_TRUE(plan.ok()) << plan.error();
  ASSERT_EQ(plan->requests.size(), 1u);
  const UpdateRequest& req = plan->requests.front();
  std::string names;
  for (const auto& h : row.hosts) names += (names.empty() ? "" : ",") + h;
  EXPECT_EQ(req.url,
            "https://members.dyndns.org/nic/update?hostname=" + names + "&myip=203.0.113.7")
      << "the request sent";

  const Classification c = classify(static_cast<int>(row.status), row.body, req.hostnames);
  ASSERT_EQ(c.hosts.size(), row.saved.size());
  ApplyContext ctx;
  ctx.sentAddress = kAddr.toString();
  ctx.fingerprint = configFingerprint(acct);
  ctx.serverErrorRetry = serverErrorRetry(acct);
  ctx.nochgExpected = row.nochgExpected;
  const TimePoint later = kT0 + 1min;
  for (std::size_t i = 0; i < row.saved.size(); ++i) {
    const Saved& want = row.saved[i];
    HostState before;
    before.account = acct.name;
    before.host = req.hostnames[i];
    const HostState s = applyResult(before, c.hosts[i], kT0, ctx);
    EXPECT_EQ(c.hosts[i].code, want.code) << row.name << " host " << i;
    EXPECT_EQ(s.fatal(), want.fatal) << row.name << " host " << i;
    if (want.retryIn) {
      ASSERT_TRUE(s.retryNotBefore.has_value()) << row.name << " host " << i;
      EXPECT_EQ(*s.retryNotBefore - kT0, *want.retryIn) << row.name << " host " << i;
    } else {
      EXPECT_FALSE(s.retryNotBefore.has_value()) << row.name << " host " << i;
    }
    const AddressSet next{IpAddress::parse("203.0.113.8"), std::nullopt};
    const UpdateDecision d = shouldUpdate(s, next, later, false, false, ctx.fingerprint,
                                          {minUpdateInterval(acct), ""});
    EXPECT_EQ(d.send, want.sendsAgainAtOnce) << row.name << " host " << i << ": " << d.text;
  }
}

const Saved kGood{ResultCode::Good, false, std::nullopt, true};
Saved fatalWith(ResultCode c) { return {c, true, std::nullopt, false}; }
Saved retryWith(ResultCode c) { return {c, false, 30min, false}; }

INSTANTIATE_TEST_SUITE_P(
    Replies, Dyndns2Protocol,
    ::testing::Values(
        Row{"good", {"a.example.com"}, 200, "good 203.0.113.7\n", false, {kGood}},
        Row{"nochg expected", {"a.example.com"}, 200, "nochg 203.0.113.7\n", true,
            {{ResultCode::NoChange, false, std::nullopt, true}}},
        Row{"per-host lines", {"a.example.com", "b.example.com", "c.example.com"}, 200,
            "good 203.0.113.7\nnohost\ngood 203.0.113.7\n", false,
            {kGood, fatalWith(ResultCode::NoHost), kGood}},
        Row{"badauth once", {"a.example.com", "b.example.com"}, 200, "badauth\n", false,
            {fatalWith(ResultCode::BadAuth), fatalWith(ResultCode::BadAuth)}},
        Row{"HTTP 401", {"a.example.com", "b.example.com"}, 401, "", false,
            {fatalWith(ResultCode::BadAuth), fatalWith(ResultCode::BadAuth)}},
        // Dyn and No-IP: one line for the whole request. One `abuse` stops every host.
        Row{"abuse once", {"a.example.com", "b.example.com", "c.example.com"}, 200, "abuse\n",
            false,
            {fatalWith(ResultCode::Abuse), fatalWith(ResultCode::Abuse),
             fatalWith(ResultCode::Abuse)}},
        Row{"nohost once", {"a.example.com", "b.example.com"}, 200, "nohost\n", false,
            {fatalWith(ResultCode::NoHost), fatalWith(ResultCode::NoHost)}},
        Row{"numhost once", {"a.example.com", "b.example.com"}, 200, "numhost\n", false,
            {fatalWith(ResultCode::NumHost), fatalWith(ResultCode::NumHost)}},
        Row{"badagent", {"a.example.com"}, 200, "badagent\n", false,
            {fatalWith(ResultCode::BadAgent)}},
        Row{"!active", {"a.example.com"}, 200, "!active\n", false,
            {fatalWith(ResultCode::NotActive)}},
        Row{"911 once", {"a.example.com", "b.example.com"}, 200, "911\n", false,
            {retryWith(ResultCode::ServerError911), retryWith(ResultCode::ServerError911)}},
        Row{"dnserr", {"a.example.com"}, 200, "dnserr\n", false,
            {retryWith(ResultCode::DnsErr)}}),
    [](const ::testing::TestParamInfo<Row>& p) {
      std::string n = p.param.name;
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Dyndns2Rules, RepeatedUnexpectedNochgStopsTheHost) {
  const DdnsAccount acct = account({"a.example.com"});
  const HostResult nochg{"a.example.com", ResultCode::NoChange, Consequence::Ok, {}, "nochg"};
  ApplyContext ctx;
  ctx.sentAddress = kAddr.toString();
  ctx.fingerprint = configFingerprint(acct);
  HostState s;
  s.account = acct.name;
  s.host = "a.example.com";
  s = applyResult(s, nochg, kT0, ctx);  // the first one: counted, still fine
  EXPECT_FALSE(s.fatal());
  EXPECT_EQ(s.unexpectedNochg, 1);
  s = applyResult(s, nochg, kT0 + 1h, ctx);
  ASSERT_TRUE(s.fatal()) << "the dyndns2 rules: repeated nochg gets the host blocked";
  EXPECT_NE(s.fatalReason.find("unexpected nochg"), std::string::npos) << s.fatalReason;
  const UpdateDecision d = shouldUpdate(s, kAddr, kT0 + 2h, true, false, ctx.fingerprint);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::Fatal);
  EXPECT_NE(d.text.find("dynmx update --reset a.example.com"), std::string::npos) << d.text;
  // A good answer in between resets the count.
  HostState t;
  t = applyResult(t, nochg, kT0, ctx);
  t = applyResult(t, {"a.example.com", ResultCode::Good, Consequence::Ok, {}, "good"}, kT0, ctx);
  t = applyResult(t, nochg, kT0, ctx);
  EXPECT_FALSE(t.fatal());
}

TEST(Dyndns2Rules, ForcedResendKeepsTheProvidersMinimumInterval) {
  const DdnsAccount acct = account({"a.example.com"});
  const SendRules rules{minUpdateInterval(acct), ""};
  ASSERT_GT(rules.minInterval, Duration::zero());
  HostState s;
  s.host = "a.example.com";
  s.confirmedAddress = kAddr.toString();
  s.lastAttempt = kT0;
  s.lastResult = ResultCode::Good;
  s.configFingerprint = configFingerprint(acct);
  const auto soon = shouldUpdate(s, kAddr, kT0 + 10s, /*force=*/true, false, s.configFingerprint, rules);
  EXPECT_FALSE(soon.send) << soon.text;
  EXPECT_EQ(soon.reason, SkipReason::Backoff);
  ASSERT_TRUE(soon.notBefore.has_value());
  EXPECT_EQ(*soon.notBefore, kT0 + rules.minInterval);
  const auto after = shouldUpdate(s, kAddr, kT0 + rules.minInterval, true, false,
                                  s.configFingerprint, rules);
  EXPECT_TRUE(after.send) << after.text;
  // A new address is never held back by it.
  const AddressSet moved{IpAddress::parse("203.0.113.8"), std::nullopt};
  EXPECT_TRUE(shouldUpdate(s, moved, kT0 + 10s, true, false, s.configFingerprint, rules).send);
}

TEST(Dyndns2Rules, ANewPasswordLiftsABanTheSamePasswordDoesNot) {
  const DdnsAccount acct = account({"a.example.com"});
  ApplyContext ctx;
  ctx.sentAddress = kAddr.toString();
  ctx.fingerprint = configFingerprint(acct);
  ctx.secretTag = secretTag("old-Zq9-password");
  HostState s;
  s.host = "a.example.com";
  s = applyResult(s, {"a.example.com", ResultCode::BadAuth, Consequence::FatalAccount, {}, ""},
                  kT0, ctx);
  ASSERT_TRUE(s.fatal());
  EXPECT_EQ(s.secretTag, ctx.secretTag);
  EXPECT_EQ(s.secretTag.size(), 4u) << "a short tag, never the secret";
  const auto same = shouldUpdate(s, kAddr, kT0 + 1h, false, false, ctx.fingerprint,
                                 {0s, secretTag("old-Zq9-password")});
  EXPECT_FALSE(same.send);
  const auto fixed = shouldUpdate(s, kAddr, kT0 + 1h, false, false, ctx.fingerprint,
                                  {0s, secretTag("new-Zq9-password")});
  EXPECT_TRUE(fixed.send) << fixed.text;
  EXPECT_TRUE(fixed.banLifted);
  // A record written before tags existed is not lifted by guesswork.
  HostState old = s;
  old.secretTag.clear();
  EXPECT_FALSE(shouldUpdate(old, kAddr, kT0 + 1h, false, false, ctx.fingerprint,
                            {0s, secretTag("new-Zq9-password")})
                   .send);
}

TEST(Dyndns2Rules, MaxHostsPerRequestSplitsBatches) {
  DdnsAccount acct = account({"a.example.com", "b.example.com", "c.example.com", "d.example.com",
                              "e.example.com"});
  EXPECT_EQ(hostsPerRequest(acct), 20u);
  acct.maxHostsPerRequest = 2;
  EXPECT_EQ(hostsPerRequest(acct), 2u);
  auto plan = buildRequests(acct, acct.hosts, kAddr);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->requests.size(), 3u);
  EXPECT_EQ(plan->requests[0].hostnames.size(), 2u);
  EXPECT_EQ(plan->requests[2].hostnames.size(), 1u);
  // Never above the provider's own limit.
  acct.maxHostsPerRequest = 50;
  EXPECT_EQ(hostsPerRequest(acct), 20u);
}

}  // namespace
}  // namespace dynmx::ddns
