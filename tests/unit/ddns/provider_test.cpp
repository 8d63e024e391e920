#include "dynmx/ddns/provider.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

DdnsAccount account(const std::string& provider, const std::string& url = {}) {
  DdnsAccount a;
  a.name = "office";
  a.provider = provider;
  a.url = url;
  a.username = "user";
  a.passwordFile = "/etc/dynmx/ddns.pw";
  a.password = "s3cret-never-shown";
  return a;
}

AddressSet v4(const char* a) { return AddressSet{IpAddress::parse(a), std::nullopt}; }

TEST(PresetTest, FourPresetsWithDocumentedRules) {
  ASSERT_EQ(presets().size(), 4u);
  EXPECT_EQ(findPreset("dyn")->url, "https://members.dyndns.org/nic/update");
  EXPECT_EQ(findPreset("noip")->url, "https://dynupdate.no-ip.com/nic/update");
  EXPECT_EQ(findPreset("dynu")->url, "https://api.dynu.com/nic/update");
  EXPECT_EQ(findPreset("freedns")->url, "https://sync.afraid.org/nic/update");
  for (const auto& p : presets()) {
    EXPECT_GE(p.minRetry, std::chrono::minutes(30)) << p.name;
    EXPECT_LE(p.batchLimit, kMaxHostsPerRequest) << p.name;
  }
  EXPECT_FALSE(findPreset("custom").has_value());
  EXPECT_FALSE(findPreset("DYN").has_value());
}

TEST(HostnameTest, Validation) {
  EXPECT_EQ(*normalizeHostname("Office.Example.COM."), "office.example.com");
  EXPECT_EQ(*normalizeHostname("a-1.b.test"), "a-1.b.test");
  for (const char* bad : {"", ".", "localhost", "a..b.test", "-a.test", "a-.test", "a_b.test",
                          "a b.test", "a.test/x", "caf\xc3\xa9.test", "a.test?x=1", "*.test",
                          "a,b.test"}) {
    EXPECT_FALSE(normalizeHostname(bad).ok()) << bad;
  }
  EXPECT_FALSE(normalizeHostname(std::string(64, 'a') + ".test").ok());
  EXPECT_TRUE(normalizeHostname(std::string(63, 'a') + ".test").ok());
  std::string longName;
  while (longName.size() < 250) longName += "abcdefghi.";
  longName += "test";  // 254 characters
  EXPECT_FALSE(normalizeHostname(longName).ok());
}

TEST(EscapeTest, UnreservedOnly) {
  EXPECT_EQ(percentEscape("a-b.c_d~9"), "a-b.c_d~9");
  EXPECT_EQ(percentEscape("2001:db8::1"), "2001%3Adb8%3A%3A1");
  EXPECT_EQ(percentEscape("a&b=c,d e"), "a%26b%3Dc%2Cd%20e");
}

TEST(EndpointTest, SchemeAndShape) {
  EXPECT_EQ(*endpointFor(account("dyn")), "https://members.dyndns.org/nic/update");
  EXPECT_EQ(*endpointFor(account("custom", "https://ddns.example.net/nic/update")),
            "https://ddns.example.net/nic/update");
  EXPECT_FALSE(endpointFor(account("custom")).ok());
  EXPECT_FALSE(endpointFor(account("nosuch")).ok());
  EXPECT_FALSE(endpointFor(account("custom", "http://127.0.0.1:8245/nic/update")).ok());
  auto insecure = account("custom", "http://127.0.0.1:8245/nic/update");
  insecure.allowInsecureHttp = true;
  EXPECT_TRUE(endpointFor(insecure).ok());
  EXPECT_FALSE(endpointFor(account("custom", "ftp://x.test/")).ok());
  EXPECT_FALSE(endpointFor(account("custom", "https://user:pw@x.test/nic/update")).ok());
  EXPECT_FALSE(endpointFor(account("custom", "https://x.test/nic/update#frag")).ok());
  EXPECT_FALSE(endpointFor(account("custom", "https:///nic/update")).ok());
  EXPECT_FALSE(endpointFor(account("custom", "https://x.test/nic update")).ok());
  // A preset's endpoint may be pointed elsewhere (tests, mirrors); the rules still apply.
  EXPECT_EQ(*endpointFor(account("dyn", "https://127.0.0.1:8443/nic/update")),
            "https://127.0.0.1:8443/nic/update");
}

TEST(BuildRequestsTest, SingleHostIpv4) {
  auto a = account("dyn");
  const auto plan = buildRequests(a, {"office.example.com"}, v4("203.0.113.7"));
  ASSERT_TRUE(plan.ok()) << plan.error();
  ASSERT_EQ(plan->requests.size(), 1u);
  const auto& r = plan->requests[0];
  EXPECT_EQ(r.url,
            "https://members.dyndns.org/nic/update?hostname=office.example.com&myip=203.0.113.7");
  EXPECT_EQ(r.hostnames, std::vector<std::string>{"office.example.com"});
  EXPECT_EQ(r.username, "user");
  EXPECT_EQ(r.myip, "203.0.113.7");
  EXPECT_EQ(r.account, "office");
  EXPECT_FALSE(r.offline);
  EXPECT_EQ(r.url.find("s3cret"), std::string::npos);
}

TEST(BuildRequestsTest, NeverContainsThePassword) {
  auto a = account("custom", "https://ddns.example.net/update?system=dyndns");
  const auto plan = buildRequests(a, {"a.example.com", "b.example.com"}, v4("203.0.113.7"));
  ASSERT_TRUE(plan.ok());
  for (const auto& r : plan->requests) {
    EXPECT_EQ(r.url.find("s3cret"), std::string::npos);
    EXPECT_EQ(r.username.find("s3cret"), std::string::npos);
  }
  // An existing query string is continued with '&'.
  EXPECT_EQ(plan->requests[0].url,
            "https://ddns.example.net/update?system=dyndns&hostname=a.example.com,b.example.com"
            "&myip=203.0.113.7");
}

TEST(BuildRequestsTest, Ipv6AndDualStack) {
  auto dyn = account("dyn");
  const AddressSet dual{IpAddress::parse("203.0.113.7"), IpAddress::parse("2001:db8::7")};
  auto p = buildRequests(dyn, {"h.example.com"}, dual);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->requests[0].url, "https://members.dyndns.org/nic/update?hostname=h.example.com"
                                "&myip=203.0.113.7,2001%3Adb8%3A%3A7");
  EXPECT_EQ(p->requests[0].myip, "203.0.113.7,2001:db8::7");

  const AddressSet only6{std::nullopt, IpAddress::parse("2001:db8::7")};
  p = buildRequests(dyn, {"h.example.com"}, only6);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->requests[0].url,
            "https://members.dyndns.org/nic/update?hostname=h.example.com&myip=2001%3Adb8%3A%3A7");

  auto dynu = account("dynu");
  p = buildRequests(dynu, {"h.example.com"}, dual);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->requests[0].url, "https://api.dynu.com/nic/update?hostname=h.example.com"
                                "&myip=203.0.113.7&myipv6=2001%3Adb8%3A%3A7");

  // One address per request (FreeDNS): one request per family (issue 12, item 9).
  p = buildRequests(account("freedns"), {"h.example.com"}, dual);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->requests.size(), 2u);
  EXPECT_EQ(p->requests[0].url, "https://sync.afraid.org/nic/update?hostname=h.example.com&myip=203.0.113.7");
  EXPECT_EQ(p->requests[1].url, "https://sync.afraid.org/nic/update?hostname=h.example.com&myip=2001%3Adb8%3A%3A7");
  EXPECT_TRUE(p->requests[0].partialAddress);
  EXPECT_EQ(p->requests[1].myip, "2001:db8::7");
}

TEST(BuildRequestsTest, Batching45HostsIs20_20_5InOrder) {
  auto a = account("dyn");
  std::vector<std::string> hosts;
  for (int i = 0; i < 45; ++i) hosts.push_back("h" + std::to_string(i) + ".example.com");
  const auto plan = buildRequests(a, hosts, v4("203.0.113.7"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->requests.size(), 3u);
  EXPECT_EQ(plan->requests[0].hostnames.size(), 20u);
  EXPECT_EQ(plan->requests[1].hostnames.size(), 20u);
  EXPECT_EQ(plan->requests[2].hostnames.size(), 5u);
  EXPECT_EQ(plan->requests[0].hostnames.front(), "h0.example.com");
  EXPECT_EQ(plan->requests[1].hostnames.front(), "h20.example.com");
  EXPECT_EQ(plan->requests[2].hostnames.back(), "h44.example.com");
  EXPECT_NE(plan->requests[2].url.find("hostname=h40.example.com,h41.example.com,"),
            std::string::npos);
  // FreeDNS: one host per request.
  const auto fd = buildRequests(account("freedns"), {"a.example.com", "b.example.com"},
                                v4("203.0.113.7"));
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(fd->requests.size(), 2u);
}

TEST(BuildRequestsTest, Offline) {
  auto plan = buildRequests(account("dyn"), {"h.example.com"}, {}, {.offline = true});
  ASSERT_TRUE(plan.ok()) << plan.error();
  EXPECT_EQ(plan->requests[0].url,
            "https://members.dyndns.org/nic/update?hostname=h.example.com&offline=YES");
  EXPECT_TRUE(plan->requests[0].offline);
  plan = buildRequests(account("noip"), {"h.example.com"}, v4("203.0.113.7"), {.offline = true});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->requests[0].url, "https://dynupdate.no-ip.com/nic/update?hostname=h.example.com"
                                   "&myip=203.0.113.7&offline=YES");
  EXPECT_FALSE(buildRequests(account("dynu"), {"h.example.com"}, {}, {.offline = true}).ok());
}

// dyndns2 mx=/backmx=: normalized into the query, never a way to add a parameter.
TEST(BuildRequestsTest, MxAndBackmxInTheQuery) {
  auto plan = buildRequests(account("dyn"), {"office.dyn.example"}, v4("203.0.113.7"),
                            {.mx = MxSetting{"MX.ISP.Example.", true}});
  ASSERT_TRUE(plan.ok()) << plan.error();
  ASSERT_EQ(plan->requests.size(), 1u);
  EXPECT_EQ(plan->requests[0].url,
            "https://members.dyndns.org/nic/update?hostname=office.dyn.example"
            "&myip=203.0.113.7&mx=mx.isp.example&backmx=YES");
  ASSERT_TRUE(plan->requests[0].mx.has_value());
  EXPECT_EQ(*plan->requests[0].mx, (MxSetting{"mx.isp.example", true}));

  plan = buildRequests(account("custom", "https://ddns.example.test/nic/update?system=dyndns"),
                       {"office.dyn.example"}, v4("203.0.113.7"), {.mx = MxSetting{"mx.isp.example", false}});
  ASSERT_TRUE(plan.ok()) << plan.error();
  EXPECT_EQ(plan->requests[0].url,
            "https://ddns.example.test/nic/update?system=dyndns&hostname=office.dyn.example"
            "&myip=203.0.113.7&mx=mx.isp.example&backmx=NO");
  // No MX asked: no mx= at all (the provider keeps what it has).
  plan = buildRequests(account("dyn"), {"office.dyn.example"}, v4("203.0.113.7"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->requests[0].url.find("mx="), std::string::npos);
  EXPECT_FALSE(plan->requests[0].mx.has_value());

  // Anything that is not a hostname is refused, so nothing can ride along in the query.
  for (const char* bad :
       {"mx.isp.example&offline=YES", "mx isp.example", "", "192.0.2.25", "mx%2eisp.example"}) {
    const auto r = buildRequests(account("dyn"), {"office.dyn.example"}, v4("203.0.113.7"),
                                 {.mx = MxSetting{bad, false}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().rfind("mx \"", 0), 0u) << r.error();
  }
  // A preset that documents no mx= is never sent one.
  const auto noip = buildRequests(account("noip"), {"office.dyn.example"}, v4("203.0.113.7"),
                                  {.mx = MxSetting{"mx.isp.example", false}});
  ASSERT_FALSE(noip.ok());
  EXPECT_EQ(noip.error(), "provider noip does not support mx=/backmx=");
}

TEST(MxSettingTest, WhatDyndns2CanPublish) {
  const std::string host = "office.dyn.example";
  const MxRecord self{10, host}, backup{20, "mx.isp.example"}, isp{10, "mx.isp.example"};
  EXPECT_EQ(*mxSettingFor(host, {self, backup}, true), (MxSetting{"mx.isp.example", true}));
  EXPECT_EQ(*mxSettingFor("Office.Dyn.Example.", {self}, true), (MxSetting{host, false}));
  EXPECT_EQ(*mxSettingFor(host, {isp}, false), (MxSetting{"mx.isp.example", false}));
  const std::string direct =
      "dyndns2 publishes a direct set as office.dyn.example itself first, then at most one backup MX "
      "with a higher preference (mx=HOST&backmx=YES)";
  const std::string multidrop =
      "dyndns2 publishes a multidrop set as exactly one MX other than office.dyn.example (mx=HOST&backmx=NO)";
  EXPECT_EQ(mxSettingFor(host, {backup, self}, true).error(), direct);  // host not first
  EXPECT_EQ(mxSettingFor(host, {MxRecord{30, host}, backup}, true).error(),
            direct);                                           // not first by preference
  EXPECT_EQ(mxSettingFor(host, {isp}, true).error(), direct);  // host missing
  EXPECT_EQ(mxSettingFor(host, {self, backup, MxRecord{30, "mx2.isp.example"}}, true).error(), direct);
  EXPECT_EQ(mxSettingFor(host, {}, true).error(), direct);
  EXPECT_EQ(mxSettingFor(host, {self}, false).error(), multidrop);
  EXPECT_EQ(mxSettingFor(host, {isp, backup}, false).error(), multidrop);
  EXPECT_EQ(mxSettingFor(host, {}, false).error(), multidrop);
}

TEST(PresetTest, OnlyDynAndCustomTakeMx) {
  EXPECT_TRUE(supportsMx(account("dyn")));
  EXPECT_TRUE(supportsMx(account("custom", "https://ddns.example.test/nic/update")));
  for (const char* p : {"noip", "dynu", "freedns", "rfc2136"}) EXPECT_FALSE(supportsMx(account(p))) << p;
}

TEST(BuildRequestsTest, RefusesBadAddressesAndHosts) {
  auto a = account("dyn");
  EXPECT_FALSE(buildRequests(a, {"h.example.com"}, {}).ok());
  for (const char* bad : {"192.168.1.1", "100.64.0.1", "127.0.0.1", "0.0.0.0", "224.0.0.1"}) {
    const auto r = buildRequests(a, {"h.example.com"}, v4(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("refusing"), std::string::npos);
  }
  EXPECT_FALSE(buildRequests(a, {"h.example.com"},
                             AddressSet{std::nullopt, IpAddress::parse("fd00::1")}).ok());
  EXPECT_FALSE(buildRequests(a, {"h.example.com"},
                             AddressSet{IpAddress::parse("2001:db8::1"), std::nullopt}).ok());

  const auto plan = buildRequests(
      a, {"good.example.com", "bad_host.example.com", "Good.Example.com", "x&y=1.example.com"},
      v4("203.0.113.7"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->requests.size(), 1u);
  EXPECT_EQ(plan->requests[0].hostnames, std::vector<std::string>{"good.example.com"});
  ASSERT_EQ(plan->rejected.size(), 3u);
  EXPECT_EQ(plan->rejected[0].host, "bad_host.example.com");
  EXPECT_EQ(plan->rejected[1].reason, "hostname listed twice");
  // Only valid hosts: an all-bad list yields no request at all.
  const auto none = buildRequests(a, {"bad host"}, v4("203.0.113.7"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->requests.empty());
}

TEST(AddressSetTest, RoundTrip) {
  const AddressSet dual{IpAddress::parse("203.0.113.7"), IpAddress::parse("2001:db8::7")};
  EXPECT_EQ(parseAddressSet(dual.toString()), dual);
  EXPECT_EQ(parseAddressSet("203.0.113.7")->toString(), "203.0.113.7");
  EXPECT_FALSE(parseAddressSet("").has_value());
  EXPECT_FALSE(parseAddressSet("203.0.113.7,").has_value());
  EXPECT_FALSE(parseAddressSet("203.0.113.7,203.0.113.8").has_value());
  EXPECT_FALSE(parseAddressSet("x").has_value());
}

TEST(MinUpdateIntervalTest, ThePresetsTheDefaultAndTheAccountsOwn) {
  auto custom = account("custom", "https://ddns.example.net/nic/update");
  EXPECT_EQ(minUpdateInterval(custom), kDefaultMinInterval);
  custom.minInterval = std::chrono::seconds(15);
  EXPECT_EQ(minUpdateInterval(custom), std::chrono::seconds(15));
  custom.minInterval = std::chrono::seconds(1);  // refused by `dynmx check`; the engine clamps
  EXPECT_EQ(minUpdateInterval(custom), kMinSettableInterval);
  auto dyn = account("dyn");
  EXPECT_EQ(minUpdateInterval(dyn), kPresetMinInterval);
  dyn.minInterval = std::chrono::seconds(30);  // never below the preset's
  EXPECT_EQ(minUpdateInterval(dyn), kPresetMinInterval);
  dyn.minInterval = std::chrono::minutes(5);
  EXPECT_EQ(minUpdateInterval(dyn), std::chrono::minutes(5));
}

TEST(ServerErrorRetryTest, NeverBelowThirtyMinutes) {
  auto a = account("dynu");
  a.retryAfterServerError = std::chrono::minutes(10);
  EXPECT_EQ(serverErrorRetry(a), std::chrono::minutes(30));
  a.retryAfterServerError = std::chrono::hours(2);
  EXPECT_EQ(serverErrorRetry(a), std::chrono::hours(2));
}

}  // namespace
}  // namespace dynmx::ddns
