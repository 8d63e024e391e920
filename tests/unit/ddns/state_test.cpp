#include "dynmx/ddns/state.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = fromUnix(1'800'000'000);

StateStore sample() {
  StateStore st;
  HostState a;
  a.account = "office";
  a.host = "mail.example.com";
  a.lastAddressSent = "203.0.113.7,2001:db8::7";
  a.confirmedAddress = "203.0.113.7,2001:db8::7";
  a.lastResult = ResultCode::Good;
  a.lastAttempt = kT0;
  a.lastSuccess = kT0;
  a.configFingerprint = "0123456789abcdef";
  st.put(a);

  HostState b;
  b.account = "office";
  b.host = "www.example.com";
  b.lastAddressSent = "203.0.113.8";
  b.lastResult = ResultCode::ServerError911;
  b.lastAttempt = kT0 + 1h;
  b.retryNotBefore = kT0 + 1h + 30min;
  b.failingSince = kT0 + 1h;
  b.consecutiveFailures = 3;
  b.unexpectedNochg = 1;
  b.configFingerprint = "0123456789abcdef";
  st.put(b);

  HostState c;
  c.account = "second";
  c.host = "mail.example.com";  // same host, other account: a separate record
  c.lastResult = ResultCode::BadAuth;
  c.fatalReason = "badauth";
  c.offline = true;
  c.offlineRefused = true;
  c.confirmedMx = MxSetting{"mx.isp.example", true};
  c.mxRefused = true;
  c.configFingerprint = "fedcba9876543210";
  st.put(c);
  return st;
}

TEST(StateTest, RoundTrip) {
  const auto st = sample();
  const std::string json = toJson(st);
  const auto back = parseState(json);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, st);
  EXPECT_EQ(back->hosts.size(), 3u);
  EXPECT_EQ(toJson(*back), json);  // stable output
  EXPECT_NE(json.find("\"version\": 1"), std::string::npos);
  EXPECT_NE(json.find("\"retry_not_before\": \"2027-01-15T09:30:00Z\""), std::string::npos)
      << json;
  ASSERT_NE(back->find("second", "mail.example.com"), nullptr);
  EXPECT_TRUE(back->find("second", "mail.example.com")->fatal());
  EXPECT_EQ(back->find("nobody", "x.example.com"), nullptr);
  const auto fresh = back->get("nobody", "x.example.com");
  EXPECT_EQ(fresh.account, "nobody");
  EXPECT_FALSE(fresh.lastAttempt.has_value());
}

TEST(StateTest, EmptyStore) {
  const auto back = parseState(toJson(StateStore{}));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->hosts.empty());
}

TEST(StateTest, GarbageIsAnErrorValue) {
  const char* bad[] = {
      "",
      "not json",
      "{",
      "[]",
      "null",
      "{\"accounts\": {}}",
      "{\"version\": 2, \"accounts\": {}}",
      "{\"version\": \"1\", \"accounts\": {}}",
      "{\"version\": 1}",
      "{\"version\": 1, \"accounts\": []}",
      "{\"version\": 1, \"accounts\": {\"a\": 5}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": []}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {}}}}",  // no fingerprint
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"last_result\": \"great\"}}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"last_attempt\": \"yesterday\"}}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"consecutive_failures\": -1}}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"offline\": \"yes\"}}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"confirmed_address\": \"10.0.0.300\"}}}}",
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": 7}}}}",
  };
  for (const char* text : bad) {
    const auto r = parseState(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().rfind("state:", 0), 0u) << r.error();
    }
  }
  // Truncated files (a crash mid-write without the atomic writer) are errors too.
  const std::string good = toJson(sample());
  for (std::size_t n = 0; n + 2 < good.size(); n += 37)
    EXPECT_FALSE(parseState(good.substr(0, n)).ok()) << n;
}

TEST(StateTest, NamesTheBadField) {
  const auto r = parseState(
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"retry_not_before\": 5}}}}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "state: accounts.a.h.test.retry_not_before must be a time string or null");
}

TEST(StateTest, MinimalRecordHasDefaults) {
  const auto r = parseState(
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\"}}}}");
  ASSERT_TRUE(r.ok()) << r.error();
  const auto* s = r->find("a", "h.test");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->fatal());
  EXPECT_FALSE(s->lastResult.has_value());
  EXPECT_EQ(s->consecutiveFailures, 0);
  // A state file from before the dyndns2 MX lever: no MX accepted, none refused.
  EXPECT_FALSE(s->confirmedMx.has_value());
  EXPECT_FALSE(s->mxRefused);
}

TEST(StateTest, AcceptedMxIsWrittenOnlyWhenThereIsOne) {
  StateStore st;
  HostState h;
  h.account = "a";
  h.host = "office.dyn.example";
  h.configFingerprint = "x";
  st.put(h);
  EXPECT_EQ(toJson(st).find("mx"), std::string::npos) << "an older dynmx reads this file unchanged";
  h.confirmedMx = MxSetting{"mx.isp.example", false};
  st.put(h);
  const std::string json = toJson(st);
  EXPECT_NE(
      json.find("\"confirmed_mx\": {\n          \"backmx\": false,\n          \"mx\": \"mx.isp.example\""),
      std::string::npos)
      << json;
  const auto back = parseState(json);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->find("a", "office.dyn.example")->confirmedMx, h.confirmedMx);

  const auto bad = parseState(
      "{\"version\": 1, \"accounts\": {\"a\": {\"h.test\": {\"config_fingerprint\": \"x\", "
      "\"confirmed_mx\": {\"mx\": \"\", \"backmx\": true}}}}}");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(
      bad.error(),
      "state: accounts.a.h.test.confirmed_mx must be an object with a non-empty mx and a boolean backmx");
}

}  // namespace
}  // namespace dynmx::ddns
