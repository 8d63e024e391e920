// [[mx]]: MX steering tables, and the refusal of a multidrop set that follows our address.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using ::testing::ElementsAre;
using testing::formatted;
using ::testing::IsEmpty;

const char* kBase = R"([mail]
mode = "auto"
domains = ["example.com"]
[isp]
server = "pop.isp.example"
user = "example.com"
password_file = "/etc/dynmx/isp.password"
[envelope]
header = "Delivered-To"
[users]
postmaster = "postmaster"
wildcard = true
[ddns]
[ddns.detect]
interface = "eth0"
[[ddns.account]]
name = "main"
provider = "dyn"
username = "office"
password_file = "/etc/dynmx/dyn.password"
hosts = ["office.dyn.example.net"]
)";

PolicyLoad load(const std::string& mx) {
  return parsePolicy(std::string(kBase) + mx, "p.toml");
}

TEST(PolicyMx, ParsesBothSetsTtlAndLever) {
  auto l = load(R"([[mx]]
domain = "Example.COM."
direct = ["10 office.dyn.example.net", "20 mx.isp.example"]
multidrop = ["10 mx.isp.example"]
ttl = "10m"
lever = "rfc2136"
server = "192.0.2.53:53"
key_file = "/etc/dynmx/example.com.key"
verify_servers = ["192.0.2.53:53", "198.51.100.53:5353"]
)");
  ASSERT_THAT(formatted(l.diagnostics), IsEmpty());
  ASSERT_TRUE(l.policy);
  ASSERT_EQ(l.policy->mx.size(), 1u);
  const MxDomain& m = l.policy->mx[0];
  EXPECT_EQ(m.domain, "example.com");
  EXPECT_EQ(m.zone, "example.com");
  EXPECT_THAT(m.direct, ElementsAre(MxRecord{10, "office.dyn.example.net"}, MxRecord{20, "mx.isp.example"}));
  EXPECT_THAT(m.multidrop, ElementsAre(MxRecord{10, "mx.isp.example"}));
  EXPECT_EQ(m.ttl, std::chrono::minutes(10));
  EXPECT_EQ(m.lever, MxLever::Rfc2136);
  ASSERT_TRUE(m.server);
  EXPECT_EQ(m.server->port, 53);
  ASSERT_EQ(m.verifyServers.size(), 2u);
  EXPECT_EQ(m.verifyServers[1].port, 5353);
}

TEST(PolicyMx, NoLeverIsAllowedAndIsTheDefault) {
  auto l = load(
      "[[mx]]\ndomain = \"example.com\"\ndirect = [\"10 office.dyn.example.net\"]\n"
      "multidrop = [\"10 mx.isp.example\"]\n");
  ASSERT_TRUE(l.policy) << formatted(l.diagnostics).front();
  EXPECT_EQ(l.policy->mx[0].lever, MxLever::None);
  EXPECT_EQ(l.policy->mx[0].ttl, std::chrono::minutes(5));
}

TEST(PolicyMx, MultidropSetFollowingOurAddressIsRefusedAtItsPosition) {
  // line 25 is the multidrop line; the second element starts at column 35
  auto l = load(
      "[[mx]]\ndomain = \"example.com\"\ndirect = [\"10 office.dyn.example.net\"]\n"
      "multidrop = [\"10 mx.isp.example\", \"20 OFFICE.dyn.example.net.\"]\n");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(formatted(l.diagnostics),
              ElementsAre("p.toml:25:35: error: mx[1].multidrop: \"20 office.dyn.example.net\" names "
                          "office.dyn.example.net, which follows our dynamic address ([ddns] host): while "
                          "mail is on multidrop that address may belong to a stranger"));
}

TEST(PolicyMx, MalformedRecordsAndMissingKeyFileAreRefused) {
  auto l = load(
      "[[mx]]\ndomain = \"example.com\"\ndirect = [\"office.dyn.example.net\"]\n"
      "multidrop = [\"10 192.0.2.1\"]\nlever = \"rfc2136\"\n");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(
      formatted(l.diagnostics),
      ElementsAre("p.toml:24:10: error: mx[1].direct: must name at least one MX",
                  "p.toml:24:11: error: mx[1].direct: \"office.dyn.example.net\" is not an MX record: "
                  "write PREFERENCE HOST, e.g. \"10 mx.isp.example\"",
                  "p.toml:25:13: error: mx[1].multidrop: must name at least one MX",
                  "p.toml:25:14: error: mx[1].multidrop: \"10 192.0.2.1\" is not an MX record: "
                  "write PREFERENCE HOST, e.g. \"10 mx.isp.example\"",
                  "p.toml:26:9: error: mx[1]: lever \"rfc2136\" needs key_file (a BIND-format "
                  "TSIG key, 0600)"));
}

TEST(PolicyMx, UnknownKeyAndUnknownLever) {
  auto l = load(
      "[[mx]]\ndomain = \"example.com\"\ndirect = [\"10 a.example.com\"]\n"
      "multidrop = [\"10 mx.isp.example\"]\nlever = \"dyndns9\"\nttl_s = 3\n");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(formatted(l.diagnostics),
              ElementsAre("p.toml:26:9: error: mx[1].lever: unknown value \"dyndns9\": expected one of "
                          "rfc2136, dyndns2, none",
                          "p.toml:27:1: error: unknown key 'ttl_s' in [[mx]]"));
}

// lever = "dyndns2": the mail domain is the DDNS hostname itself (line 22 is [[mx]]).
TEST(PolicyMx, Dyndns2LeverOnADdnsHost) {
  auto l = load(R"([[mx]]
domain = "Office.dyn.example.net"
direct = ["10 office.dyn.example.net", "20 mx.isp.example"]
multidrop = ["10 mx.isp.example"]
lever = "dyndns2"
verify_servers = ["192.0.2.53:53"]
)");
  ASSERT_THAT(formatted(l.diagnostics), IsEmpty());
  ASSERT_TRUE(l.policy);
  const MxDomain& m = l.policy->mx[0];
  EXPECT_EQ(m.lever, MxLever::Dyndns2);
  EXPECT_EQ(m.domain, "office.dyn.example.net");
  EXPECT_EQ(m.zone, "dyn.example.net") << "the provider's zone: the hostname's parent";
  EXPECT_STREQ(toString(m.lever), "dyndns2");
  // Only the host itself in the direct set is fine too.
  auto alone = load(
      "[[mx]]\ndomain = \"office.dyn.example.net\"\ndirect = [\"10 office.dyn.example.net\"]\n"
      "multidrop = [\"10 mx.isp.example\"]\nlever = \"dyndns2\"\nzone = \"example.net\"\n");
  ASSERT_THAT(formatted(alone.diagnostics), IsEmpty());
  EXPECT_EQ(alone.policy->mx[0].zone, "example.net");
}

TEST(PolicyMx, Dyndns2LeverNeedsAHostOfADyndns2Account) {
  auto l = load(
      "[[mx]]\ndomain = \"example.com\"\ndirect = [\"10 office.dyn.example.net\"]\n"
      "multidrop = [\"10 mx.isp.example\"]\nlever = \"dyndns2\"\nkey_file = \"/etc/dynmx/k.key\"\n");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(
      formatted(l.diagnostics),
      ElementsAre("p.toml:26:9: error: mx[1].lever: \"dyndns2\" sets the MX of a [[ddns.account]] host, "
                  "and no dyndns2 account updates \"example.com\" (use lever = \"rfc2136\" for a mail "
                  "domain of your own)",
                  "p.toml:27:12: error: mx[1]: server and key_file are only used with lever = \"rfc2136\""));
}

TEST(PolicyMx, Dyndns2LeverNeedsAProviderThatTakesMx) {
  auto l = load(R"([[ddns.account]]
name = "shop"
provider = "noip"
username = "shop"
password_file = "/etc/dynmx/noip.password"
hosts = ["shop.dyn.example.net"]
[[mx]]
domain = "shop.dyn.example.net"
direct = ["10 shop.dyn.example.net"]
multidrop = ["10 mx.isp.example"]
lever = "dyndns2"
)");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(formatted(l.diagnostics),
              ElementsAre("p.toml:32:9: error: mx[1].lever: provider noip (account \"shop\") documents no "
                          "mx=/backmx=; use provider \"dyn\" or \"custom\", or lever \"rfc2136\""));
}

TEST(PolicyMx, Dyndns2LeverRefusesSetsItCannotPublish) {
  auto l = load(R"([[mx]]
domain = "office.dyn.example.net"
direct = ["10 mx.isp.example", "20 office.dyn.example.net"]
multidrop = ["10 mx.isp.example", "20 mx2.isp.example"]
lever = "dyndns2"
)");
  EXPECT_FALSE(l.policy);
  EXPECT_THAT(
      formatted(l.diagnostics),
      ElementsAre("p.toml:24:10: error: mx[1].direct: dyndns2 publishes a direct set as "
                  "office.dyn.example.net itself first, then at most one backup MX with a higher "
                  "preference (mx=HOST&backmx=YES)",
                  "p.toml:25:13: error: mx[1].multidrop: dyndns2 publishes a multidrop set as exactly "
                  "one MX other than office.dyn.example.net (mx=HOST&backmx=NO)"));
  // Two backups, and a multidrop set that names the host: the stranger rule still speaks.
  auto self = load(R"([[mx]]
domain = "office.dyn.example.net"
direct = ["10 office.dyn.example.net", "20 mx.isp.example", "30 mx2.isp.example"]
multidrop = ["10 office.dyn.example.net"]
lever = "dyndns2"
)");
  EXPECT_FALSE(self.policy);
  EXPECT_THAT(formatted(self.diagnostics),
              ElementsAre("p.toml:24:10: error: mx[1].direct: dyndns2 publishes a direct set as "
                          "office.dyn.example.net itself first, then at most one backup MX with a higher "
                          "preference (mx=HOST&backmx=YES)",
                          "p.toml:25:14: error: mx[1].multidrop: \"10 office.dyn.example.net\" names "
                          "office.dyn.example.net, which follows our dynamic address ([ddns] host): while "
                          "mail is on multidrop that address may belong to a stranger"));
}

}  // namespace
}  // namespace dynmx
