#include "dynmx/ddns/schedule.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = fromUnix(1'800'000'000);
const AddressSet kA{IpAddress::parse("203.0.113.7"), std::nullopt};
const AddressSet kB{IpAddress::parse("203.0.113.8"), std::nullopt};
const std::string kFp = "fp-1";

HostResult res(ResultCode c) { return HostResult{"h.example.com", c, consequenceOf(c), {}, {}}; }

HostState fresh() {
  HostState s;
  s.host = "h.example.com";
  s.account = "office";
  return s;
}

// Send kA and apply the reply, as the engine does.
HostState sendAndApply(const HostState& s, const AddressSet& addr, ResultCode code, TimePoint now,
                       Duration retry = 30min) {
  const auto d = shouldUpdate(s, addr, now, false, false, kFp);
  EXPECT_TRUE(d.send) << d.text;
  return applyResult(s, res(code), now,
                     {addr.toString(), kFp, retry, d.nochgExpected, false});
}

TEST(ScheduleTest, FirstUpdateThenNeverResendUnchanged) {
  auto d = shouldUpdate(fresh(), kA, kT0, false, true, kFp);
  EXPECT_TRUE(d.send);
  EXPECT_TRUE(d.nochgExpected);
  auto s = sendAndApply(fresh(), kA, ResultCode::Good, kT0);
  EXPECT_EQ(s.confirmedAddress, "203.0.113.7");
  EXPECT_EQ(s.lastSuccess, kT0);

  d = shouldUpdate(s, kA, kT0 + 1h, false, false, kFp);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::Unchanged);
  // Not even after a restart.
  d = shouldUpdate(s, kA, kT0 + 24h, false, true, kFp);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::Unchanged);
  // force re-sends, and then a nochg is expected.
  d = shouldUpdate(s, kA, kT0 + 1h, true, false, kFp);
  EXPECT_TRUE(d.send);
  EXPECT_TRUE(d.nochgExpected);
  // A changed address goes out; nochg for it would be unexpected.
  d = shouldUpdate(s, kB, kT0 + 1h, false, false, kFp);
  EXPECT_TRUE(d.send);
  EXPECT_FALSE(d.nochgExpected);
}

TEST(ScheduleTest, UnexpectedNochgIsCountedAndNotRepeated) {
  auto s = sendAndApply(fresh(), kA, ResultCode::Good, kT0);
  s = sendAndApply(s, kB, ResultCode::NoChange, kT0 + 1h);
  EXPECT_EQ(s.unexpectedNochg, 1);
  EXPECT_EQ(s.confirmedAddress, "203.0.113.8");
  EXPECT_EQ(shouldUpdate(s, kB, kT0 + 2h, false, false, kFp).reason, SkipReason::Unchanged);
  // At first start a nochg is normal.
  auto f = sendAndApply(fresh(), kA, ResultCode::NoChange, kT0);
  EXPECT_EQ(f.unexpectedNochg, 0);
}

TEST(ScheduleTest, After911NothingForThirtyMinutes) {
  auto s = sendAndApply(fresh(), kA, ResultCode::ServerError911, kT0);
  ASSERT_TRUE(s.retryNotBefore.has_value());
  EXPECT_EQ(*s.retryNotBefore, kT0 + 30min);
  auto d = shouldUpdate(s, kA, kT0 + 29min + 59s, false, false, kFp);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::Backoff);
  EXPECT_EQ(d.notBefore, kT0 + 30min);
  // Not even forced, not even with a new address.
  EXPECT_FALSE(shouldUpdate(s, kB, kT0 + 29min + 59s, true, true, kFp).send);
  d = shouldUpdate(s, kA, kT0 + 30min, false, false, kFp);
  EXPECT_TRUE(d.send);
  // A nochg after a failed attempt is normal: the earlier request may have landed.
  EXPECT_TRUE(d.nochgExpected);
}

TEST(ScheduleTest, DnserrUsesConfiguredRetryButNeverBelowThirtyMinutes) {
  auto s = sendAndApply(fresh(), kA, ResultCode::DnsErr, kT0, 10min);
  EXPECT_EQ(*s.retryNotBefore, kT0 + 30min);
  s = sendAndApply(fresh(), kA, ResultCode::DnsErr, kT0, 2h);
  EXPECT_EQ(*s.retryNotBefore, kT0 + 2h);
  EXPECT_FALSE(shouldUpdate(s, kA, kT0 + 2h - 1s, false, false, kFp).send);
  EXPECT_TRUE(shouldUpdate(s, kA, kT0 + 2h, false, false, kFp).send);
}

TEST(ScheduleTest, TransientBackoffDoublesUpToThirtyMinutes) {
  EXPECT_EQ(transientBackoff(1), 1min);
  EXPECT_EQ(transientBackoff(2), 2min);
  EXPECT_EQ(transientBackoff(3), 4min);
  EXPECT_EQ(transientBackoff(5), 16min);
  EXPECT_EQ(transientBackoff(6), 30min);
  EXPECT_EQ(transientBackoff(1000), 30min);

  auto s = fresh();
  TimePoint now = kT0;
  const Duration expected[] = {1min, 2min, 4min, 8min, 16min, 30min, 30min};
  for (Duration want : expected) {
    s = sendAndApply(s, kA, ResultCode::Timeout, now);
    ASSERT_EQ(*s.retryNotBefore, now + want);
    EXPECT_FALSE(shouldUpdate(s, kA, now + want - 1s, false, false, kFp).send);
    now += want;
  }
  EXPECT_EQ(s.failingSince, kT0);
  s = sendAndApply(s, kA, ResultCode::Good, now);
  EXPECT_EQ(s.consecutiveFailures, 0);
  EXPECT_FALSE(s.retryNotBefore.has_value());
  EXPECT_FALSE(s.failingSince.has_value());
}

TEST(ScheduleTest, AChangedConfigurationStartsTheTransientBackoffOver) {
  // Found in the senders' world (WorldRfc2136Faults): after BADSIG, BADKEY and REFUSED, each
  // lifted by a new key file, the first connection refused waited the fourth failure's 8
  // minutes instead of the first's one.
  auto s = fresh();
  TimePoint now = kT0;
  for (int i = 0; i < 3; ++i) {
    s = sendAndApply(s, kA, ResultCode::Timeout, now);
    now = *s.retryNotBefore;
  }
  ASSERT_EQ(s.consecutiveFailures, 3);
  // The same configuration keeps doubling.
  {
    const auto same = applyResult(s, res(ResultCode::Timeout), now, {kA.toString(), kFp, 30min, false, false});
    EXPECT_EQ(*same.retryNotBefore, now + 8min);
  }
  // A new one starts again at a minute; how long the host has been failing is kept.
  s = applyResult(s, res(ResultCode::Timeout), now, {kA.toString(), "fp-2", 30min, false, false});
  EXPECT_EQ(s.consecutiveFailures, 1);
  EXPECT_EQ(*s.retryNotBefore, now + 1min);
  EXPECT_EQ(s.failingSince, kT0);
}

TEST(ScheduleTest, BadauthDisablesUntilFingerprintChanges) {
  auto s = sendAndApply(fresh(), kA, ResultCode::BadAuth, kT0);
  EXPECT_TRUE(s.fatal());
  EXPECT_EQ(s.configFingerprint, kFp);
  for (auto later : {kT0 + 1h, kT0 + 24h * 365}) {
    auto d = shouldUpdate(s, kB, later, true, true, kFp);
    EXPECT_FALSE(d.send);
    EXPECT_EQ(d.reason, SkipReason::Fatal);
    EXPECT_NE(d.text.find("badauth"), std::string::npos);
  }
  auto d = shouldUpdate(s, kA, kT0 + 1h, false, false, "fp-2");
  EXPECT_TRUE(d.send);
  EXPECT_TRUE(d.banLifted);
  s = applyResult(s, res(ResultCode::Good), kT0 + 1h, {kA.toString(), "fp-2", 30min, true, false});
  EXPECT_FALSE(s.fatal());
  EXPECT_EQ(s.configFingerprint, "fp-2");
  // Banned again with the new config: stays banned until the next change.
  s = applyResult(s, res(ResultCode::Abuse), kT0 + 2h, {kB.toString(), "fp-2", 30min, false, false});
  EXPECT_EQ(shouldUpdate(s, kB, kT0 + 3h, false, false, "fp-2").reason, SkipReason::Fatal);
}

TEST(ScheduleTest, EveryFatalHostCodeDisables) {
  for (auto c : {ResultCode::NotFqdn, ResultCode::NoHost, ResultCode::NotYours,
                 ResultCode::NumHost, ResultCode::BadSys, ResultCode::Abuse,
                 ResultCode::BadAgent, ResultCode::NotActive}) {
    const auto s = sendAndApply(fresh(), kA, c, kT0);
    EXPECT_TRUE(s.fatal()) << toString(c);
    EXPECT_EQ(shouldUpdate(s, kA, kT0 + 48h, false, false, kFp).reason, SkipReason::Fatal);
  }
}

TEST(ScheduleTest, NoAddressNeverSends) {
  const auto d = shouldUpdate(fresh(), AddressSet{}, kT0, true, true, kFp);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::NoAddress);
}

TEST(ScheduleTest, OfflineAndNotDonator) {
  auto s = sendAndApply(fresh(), kA, ResultCode::Good, kT0);
  auto d = shouldSendOffline(s, kT0 + 1h, kFp);
  EXPECT_TRUE(d.send);
  s = applyResult(s, res(ResultCode::Good), kT0 + 1h, {"", kFp, 30min, true, true});
  EXPECT_TRUE(s.offline);
  EXPECT_EQ(s.confirmedAddress, "203.0.113.7");
  EXPECT_EQ(shouldSendOffline(s, kT0 + 2h, kFp).reason, SkipReason::Offline);
  // Back online: the unchanged address must go out again.
  d = shouldUpdate(s, kA, kT0 + 2h, false, false, kFp);
  EXPECT_TRUE(d.send);
  s = applyResult(s, res(ResultCode::Good), kT0 + 2h, {kA.toString(), kFp, 30min, true, false});
  EXPECT_FALSE(s.offline);

  // !donator: the option is refused for good, address updates carry on.
  s = applyResult(s, res(ResultCode::NotDonator), kT0 + 3h, {"", kFp, 30min, true, true});
  EXPECT_TRUE(s.offlineRefused);
  EXPECT_FALSE(s.fatal());
  EXPECT_EQ(shouldSendOffline(s, kT0 + 4h, kFp).reason, SkipReason::Refused);
  EXPECT_EQ(shouldUpdate(s, kA, kT0 + 4h, false, false, kFp).reason, SkipReason::Unchanged);
  EXPECT_TRUE(shouldUpdate(s, kB, kT0 + 4h, false, false, kFp).send);
  EXPECT_TRUE(shouldSendOffline(s, kT0 + 4h, "fp-2").send);
}

// An MX the provider has not accepted is worth a request on its own, within every rule.
TEST(ScheduleTest, MxChangeSendsOnceWithinTheProvidersRules) {
  const MxSetting multidrop{"mx.isp.example", false};
  const SendRules rules{2min, ""};
  auto s = sendAndApply(fresh(), kA, ResultCode::Good, kT0);
  ASSERT_EQ(shouldUpdate(s, kA, kT0 + 1min, false, false, kFp).reason, SkipReason::Unchanged);

  // Within the minimum interval after the last request: held until it ends.
  auto d = shouldSendMx(s, multidrop, kT0 + 1min, kFp, rules);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.reason, SkipReason::Backoff);
  EXPECT_EQ(d.notBefore, kT0 + 2min);
  EXPECT_EQ(d.text,
            "MX change to mx=mx.isp.example backmx=NO waits for the provider's minimum interval until " +
                formatTime(kT0 + 2min));
  d = shouldSendMx(s, multidrop, kT0 + 2min, kFp, rules);
  ASSERT_TRUE(d.send) << d.text;
  EXPECT_TRUE(d.nochgExpected);  // the address is not news: a nochg is no abuse sign

  // Accepted: recorded, and never sent again.
  ApplyContext ctx{kA.toString(), kFp, 30min, d.nochgExpected, false};
  ctx.sentMx = multidrop;
  s = applyResult(s, res(ResultCode::Good), kT0 + 2min, ctx);
  EXPECT_EQ(s.confirmedMx, multidrop);
  EXPECT_EQ(shouldSendMx(s, multidrop, kT0 + 3h, kFp, rules).reason, SkipReason::Unchanged);
  // A nochg to an MX-only request is not counted.
  const MxSetting direct{"mx.isp.example", true};
  ctx.sentMx = direct;
  ctx.nochgExpected = shouldSendMx(s, direct, kT0 + 3h, kFp, rules).nochgExpected;
  s = applyResult(s, res(ResultCode::NoChange), kT0 + 3h, ctx);
  EXPECT_EQ(s.unexpectedNochg, 0);
  EXPECT_EQ(s.confirmedMx, direct);

  // 911: the MX waits out the whole back-off like any request.
  ctx.sentMx = multidrop;
  s = applyResult(s, res(ResultCode::ServerError911), kT0 + 4h, ctx);
  EXPECT_EQ(s.confirmedMx, direct);  // not accepted
  d = shouldSendMx(s, multidrop, kT0 + 4h + 29min, kFp, rules);
  EXPECT_EQ(d.reason, SkipReason::Backoff);
  EXPECT_EQ(d.notBefore, kT0 + 4h + 30min);
  EXPECT_TRUE(shouldSendMx(s, multidrop, kT0 + 4h + 30min, kFp, rules).send);

  // !donator for mx= refuses only the option (same configuration), not the address.
  s = applyResult(s, res(ResultCode::NotDonator), kT0 + 5h, ctx);
  EXPECT_TRUE(s.mxRefused);
  EXPECT_FALSE(s.offlineRefused);
  EXPECT_EQ(shouldSendMx(s, multidrop, kT0 + 6h, kFp, rules).reason, SkipReason::Refused);
  EXPECT_TRUE(shouldSendMx(s, multidrop, kT0 + 6h, "fp-2", rules).send);

  // A fatal host sends nothing, MX or not.
  s = applyResult(s, res(ResultCode::Abuse), kT0 + 7h, ctx);
  EXPECT_EQ(shouldSendMx(s, multidrop, kT0 + 8h, kFp, rules).reason, SkipReason::Fatal);
}

TEST(FingerprintTest, StableAndSensitiveButNotToThePassword) {
  DdnsAccount a;
  a.name = "office";
  a.provider = "dyn";
  a.username = "user";
  a.passwordFile = "/etc/dynmx/dyn.pw";
  a.hosts = {"b.example.com", "a.example.com"};
  const auto fp = configFingerprint(a);
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(fp, configFingerprint(a));

  auto b = a;
  b.hosts = {"A.example.com", "b.example.com"};  // order and case do not matter
  EXPECT_EQ(configFingerprint(b), fp);
  b.password = "changed";  // the secret never enters the fingerprint
  EXPECT_EQ(configFingerprint(b), fp);

  for (auto mutate : std::vector<void (*)(DdnsAccount&)>{
           [](DdnsAccount& x) { x.provider = "noip"; },
           [](DdnsAccount& x) { x.url = "https://x.test/nic/update"; },
           [](DdnsAccount& x) { x.username = "other"; },
           [](DdnsAccount& x) { x.passwordFile = "/etc/dynmx/new.pw"; },
           [](DdnsAccount& x) { x.allowInsecureHttp = true; },
           [](DdnsAccount& x) { x.hosts.push_back("c.example.com"); }}) {
    auto c = a;
    mutate(c);
    EXPECT_NE(configFingerprint(c), fp);
  }
  // Field boundaries matter: ("ab","c") differs from ("a","bc").
  auto d1 = a;
  d1.username = "ab";
  d1.passwordFile = "c";
  auto d2 = a;
  d2.username = "a";
  d2.passwordFile = "bc";
  EXPECT_NE(configFingerprint(d1), configFingerprint(d2));
}

}  // namespace
}  // namespace dynmx::ddns
