#include <gtest/gtest.h>

#include "nsupdate.hpp"
#include "protocol.hpp"

using namespace dynmx::dyndns2d;

namespace {

const std::string kAliceAuth = "Basic " + encodeBase64("alice:s3:cret");
const std::string kBobAuth = "Basic " + encodeBase64("bob:pw");
const std::string kAgent = "dynmx-test/1";

Registry makeRegistry(std::size_t maxHosts = 20) {
  auto accounts = parseAccounts(
      "# comment\n"
      "alice:s3:cret:a.example.test,b.example.test,*.dyn.example.test\n"
      "bob:pw:c.example.test:donator\n");
  EXPECT_TRUE(accounts.ok());
  return Registry(accounts.value(), maxHosts);
}

UpdateOutcome update(Registry& r, const std::string& query, const std::string* auth = &kAliceAuth,
                     const std::string* agent = &kAgent) {
  UpdateRequest req;
  req.authorization = auth;
  req.userAgent = agent;
  req.params = parseQuery(query).value();
  req.peerAddress = "127.0.0.1";
  req.nowMs = 1000;
  return r.update(req);
}

using Lines = std::vector<std::string>;

}  // namespace

TEST(Accounts, ParsesLinesWithColonsInPasswordsAndDonatorFlag) {
  auto a = parseAccounts("alice:s3:cret:a.example.test, B.example.test\nbob:pw:c.example.test:donator\n");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].password, "s3:cret");
  EXPECT_EQ((*a)[0].hosts, (Lines{"a.example.test", "b.example.test"}));
  EXPECT_FALSE((*a)[0].donator);
  EXPECT_TRUE((*a)[1].donator);
}

TEST(Accounts, ParsesJson) {
  auto a = parseAccounts(R"({"accounts":[{"user":"u","password":"p","hosts":["*.example.test"],"donator":true}]})");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_TRUE((*a)[0].donator);
  EXPECT_FALSE(parseAccounts(R"([{"user":"u"}])").ok());
}

TEST(Accounts, ErrorsNameTheLine) {
  auto a = parseAccounts("ok:p:a.example.test\nbroken-line\n");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), "accounts:2: expected user:password:host1,host2");
}

TEST(Hostnames, FqdnRulesAndPatterns) {
  EXPECT_TRUE(isValidFqdn("a.example.test"));
  EXPECT_TRUE(isValidFqdn("x-1.example.test"));
  EXPECT_FALSE(isValidFqdn("localhost"));
  EXPECT_FALSE(isValidFqdn("a..example.test"));
  EXPECT_FALSE(isValidFqdn("-a.example.test"));
  EXPECT_FALSE(isValidFqdn("bad_host.example.test"));
  EXPECT_FALSE(isValidFqdn(std::string(64, 'a') + ".test"));
  EXPECT_TRUE(hostMatches("*.dyn.example.test", "x.dyn.example.test"));
  EXPECT_TRUE(hostMatches("*.dyn.example.test", "y.x.dyn.example.test"));
  EXPECT_FALSE(hostMatches("*.dyn.example.test", "dyn.example.test"));
  EXPECT_FALSE(hostMatches("a.example.test", "b.example.test"));
}

TEST(Registry, GoodThenNochgThenGoodOnChange) {
  auto r = makeRegistry();
  auto first = update(r, "hostname=a.example.test,b.example.test&myip=192.0.2.1");
  EXPECT_EQ(first.answer, (Lines{"good 192.0.2.1", "good 192.0.2.1"}));
  EXPECT_EQ(first.changes.size(), 2u);
  auto again = update(r, "hostname=a.example.test&myip=192.0.2.1");
  EXPECT_EQ(again.answer, (Lines{"nochg 192.0.2.1"}));
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=192.0.2.2").answer, (Lines{"good 192.0.2.2"}));
  EXPECT_EQ(r.records().at("a.example.test").ipv4, "192.0.2.2");
  EXPECT_EQ(r.records().at("b.example.test").ipv4, "192.0.2.1");
}

TEST(Registry, AnswersInRequestOrderWithPerHostCodes) {
  auto r = makeRegistry();
  auto out = update(r, "hostname=nohost.example.test,A.Example.Test,bad_host,x.dyn.example.test&myip=198.51.100.7");
  EXPECT_EQ(out.answer, (Lines{"nohost", "good 198.51.100.7", "notfqdn", "good 198.51.100.7"}));
}

TEST(Registry, AccountLevelCodesComeOnce) {
  auto r = makeRegistry();
  const std::string wrong = "Basic " + encodeBase64("alice:nope");
  const std::string empty;
  EXPECT_EQ(update(r, "hostname=a.example.test,b.example.test", &wrong).answer, (Lines{"badauth"}));
  auto noAuth = update(r, "hostname=a.example.test", nullptr);
  EXPECT_TRUE(noAuth.challenge);
  EXPECT_EQ(noAuth.answer, (Lines{"badauth"}));
  EXPECT_EQ(update(r, "hostname=a.example.test", &kAliceAuth, nullptr).answer, (Lines{"badagent"}));
  EXPECT_EQ(update(r, "hostname=a.example.test", &kAliceAuth, &empty).answer, (Lines{"badagent"}));
  EXPECT_EQ(update(r, "myip=192.0.2.1").answer, (Lines{"notfqdn"}));
  EXPECT_EQ(update(r, "hostname=a.example.test&offline=YES").answer, (Lines{"!donator"}));
  EXPECT_TRUE(r.records().empty());
}

TEST(Registry, NumhostAboveTheLimitOnly) {
  auto r = makeRegistry();
  std::string twenty, twentyOne;
  for (int i = 0; i < 21; ++i) {
    std::string h = "h" + std::to_string(i) + ".dyn.example.test";
    if (i < 20) twenty += (i ? "," : "") + h;
    twentyOne += (i ? "," : "") + h;
  }
  EXPECT_EQ(update(r, "hostname=" + twentyOne + "&myip=192.0.2.1").answer, (Lines{"numhost"}));
  EXPECT_TRUE(r.records().empty());
  EXPECT_EQ(update(r, "hostname=" + twenty + "&myip=192.0.2.1").answer.size(), 20u);
  auto small = makeRegistry(2);
  EXPECT_EQ(update(small, "hostname=a.example.test,b.example.test,x.dyn.example.test").answer, (Lines{"numhost"}));
}

TEST(Registry, AddressesDualStackPeerFallbackAndDonatorOffline) {
  auto r = makeRegistry();
  EXPECT_EQ(update(r, "hostname=a.example.test").answer, (Lines{"good 127.0.0.1"}));
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=not-an-ip").answer, (Lines{"nochg 127.0.0.1"}));
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=192.0.2.1,2001:DB8::1").answer,
            (Lines{"good 192.0.2.1,2001:db8::1"}));
  EXPECT_EQ(update(r, "hostname=b.example.test&myip=192.0.2.1&myipv6=2001:db8::2").answer,
            (Lines{"good 192.0.2.1,2001:db8::2"}));
  EXPECT_EQ(r.records().at("b.example.test").ipv6, "2001:db8::2");
  auto off = update(r, "hostname=c.example.test&myip=203.0.113.5&offline=YES", &kBobAuth);
  EXPECT_EQ(off.answer, (Lines{"good 203.0.113.5"}));
  EXPECT_TRUE(r.records().at("c.example.test").offline);
  EXPECT_EQ(update(r, "hostname=c.example.test&myip=203.0.113.5&offline=NO", &kBobAuth).answer,
            (Lines{"good 203.0.113.5"}));
}

TEST(Control, AppliesValidCommandsAndRejectsBadOnesWithoutChange) {
  FaultConfig f;
  bool reset = false;
  ASSERT_TRUE(applyControl(f, parseQuery("mode=code&code=dnserr&once=1&delay_ms=250").value(), reset).ok());
  EXPECT_EQ(f.mode, FaultConfig::Mode::Code);
  EXPECT_EQ(f.code, "dnserr");
  EXPECT_TRUE(f.codeOnce);
  EXPECT_EQ(f.delayMs, 250);
  EXPECT_FALSE(reset);
  for (const char* bad : {"mode=sideways", "status=99", "delay_ms=-1", "bytes=x", "bogus=1", "mode=http&status=700"}) {
    FaultConfig before = f;
    EXPECT_FALSE(applyControl(f, parseQuery(bad).value(), reset).ok()) << bad;
    EXPECT_EQ(f.mode, before.mode) << bad;
    EXPECT_EQ(f.delayMs, before.delayMs) << bad;
  }
  ASSERT_TRUE(applyControl(f, parseQuery("reset").value(), reset).ok());
  EXPECT_TRUE(reset);
}

TEST(NsUpdateScript, AddsInZoneRecordsAndSkipsOthers) {
  NsUpdateOptions o{"127.0.0.1:5353", "", "example.test", "nsupdate", 30};
  Record a;
  a.ipv4 = "192.0.2.1";
  a.ipv6 = "2001:db8::1";
  Record off = a;
  off.offline = true;
  auto script = buildNsUpdateScript(o, {{"a.example.test", a}, {"x.other.test", a}, {"b.example.test", off}});
  EXPECT_EQ(script,
            "server 127.0.0.1 5353\nzone example.test\n"
            "update delete a.example.test. A\nupdate delete a.example.test. AAAA\n"
            "update add a.example.test. 30 A 192.0.2.1\nupdate add a.example.test. 30 AAAA 2001:db8::1\n"
            "update delete b.example.test. A\nupdate delete b.example.test. AAAA\nsend\n");
  EXPECT_EQ(buildNsUpdateScript(o, {{"x.other.test", a}}), "");
  NsUpdateOptions v6{"[::1]:5353", "", "example.test", "nsupdate", 30};
  EXPECT_EQ(buildNsUpdateScript(v6, {{"a.example.test", off}}).substr(0, 16), "server ::1 5353\n");
}

// mx=/backmx= as Dyn documents them: backmx=YES puts the host itself first.
TEST(Registry, MxAndBackmxSetTheHostsOwnMx) {
  auto r = makeRegistry();
  auto direct = update(r, "hostname=a.example.test&myip=192.0.2.1&mx=MX.isp.example&backmx=YES");
  EXPECT_EQ(direct.answer, (Lines{"good 192.0.2.1"}));
  EXPECT_EQ(r.records().at("a.example.test").mxRecords("a.example.test"),
            (Lines{"10 a.example.test", "20 mx.isp.example"}));
  // The same MX again is nothing new; another MX alone (same address) is a change: good.
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=192.0.2.1&mx=mx.isp.example&backmx=yes").answer,
            (Lines{"nochg 192.0.2.1"}));
  auto multidrop = update(r, "hostname=a.example.test&myip=192.0.2.1&mx=mx.isp.example&backmx=NO");
  EXPECT_EQ(multidrop.answer, (Lines{"good 192.0.2.1"}));
  ASSERT_EQ(multidrop.changes.size(), 1u);
  EXPECT_EQ(multidrop.changes[0].record.mxRecords("a.example.test"), (Lines{"10 mx.isp.example"}));
  // No mx, or mx=NOCHG: the MX stays as it is; backmx defaults to NO.
  update(r, "hostname=a.example.test&myip=192.0.2.2");
  update(r, "hostname=a.example.test&myip=192.0.2.3&mx=NOCHG&backmx=YES");
  EXPECT_EQ(r.records().at("a.example.test").mxRecords("a.example.test"), (Lines{"10 mx.isp.example"}));
  update(r, "hostname=b.example.test&myip=192.0.2.1&mx=mx.isp.example");
  EXPECT_EQ(r.records().at("b.example.test").mxRecords("b.example.test"), (Lines{"10 mx.isp.example"}));
  EXPECT_FALSE(r.records().at("b.example.test").backmx);
}

// A bad value is refused per host, like a malformed hostname, and changes nothing.
TEST(Registry, BadMxOrBackmxIsRefusedPerHost) {
  auto r = makeRegistry();
  update(r, "hostname=a.example.test&myip=192.0.2.1&mx=mx.isp.example&backmx=NO");
  const auto badMx = update(r, "hostname=a.example.test,b.example.test,z.example.test&myip=192.0.2.9"
                                "&mx=not_a..name");
  EXPECT_EQ(badMx.answer, (Lines{"notfqdn", "notfqdn", "nohost"}));
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=192.0.2.9&mx=mx.isp.example&backmx=maybe").answer,
            (Lines{"badsys"}));
  EXPECT_EQ(update(r, "hostname=a.example.test&myip=192.0.2.9&mx=&backmx=YES").answer, (Lines{"notfqdn"}));
  EXPECT_EQ(r.records().at("a.example.test").mxRecords("a.example.test"), (Lines{"10 mx.isp.example"}));
  EXPECT_EQ(r.records().at("a.example.test").ipv4, "192.0.2.1") << "a refused request changes nothing";
  EXPECT_EQ(r.records().count("b.example.test"), 0u);
}

TEST(NsUpdateScript, ReplacesTheMxRRsetOfAHostWithAnMx) {
  NsUpdateOptions o{"127.0.0.1:5353", "", "example.test", "nsupdate", 30};
  Record a;
  a.ipv4 = "192.0.2.1";
  a.mx = "mx.isp.example";
  a.backmx = true;
  EXPECT_EQ(buildNsUpdateScript(o, {{"a.example.test", a}}),
            "server 127.0.0.1 5353\nzone example.test\n"
            "update delete a.example.test. A\nupdate delete a.example.test. AAAA\n"
            "update add a.example.test. 30 A 192.0.2.1\n"
            "update delete a.example.test. MX\n"
            "update add a.example.test. 30 MX 10 a.example.test.\n"
            "update add a.example.test. 30 MX 20 mx.isp.example.\n"
            "send\n");
}
