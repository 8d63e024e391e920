// Semantic checks: each case changes one section of a valid auto policy and expects
// exactly one finding (so the check, not a side effect, is what fires), and secrets never
// appear in any message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using testing::formatted;
using ::testing::HasSubstr;

using Sections = std::vector<std::pair<std::string, std::string>>;

/// A valid auto policy, section by section (order kept, so line numbers are stable).
Sections base() {
  return {
      {"mail", "mode = \"auto\"\ndomains = [\"example.com\"]\n"},
      {"link", "type = \"dedicated\"\n"},
      {"isp",
       "server = \"pop.isp.example\"\nuser = \"example.com\"\npassword_file = \"/etc/dynmx/isp.password\"\n"},
      {"envelope", "header = \"Delivered-To\"\n"},
      {"users", "map = { alice = \"alice\" }\npostmaster = \"postmaster\"\n"},
      {"delivery", "method = \"smtp\"\nhost = \"127.0.0.1\"\nport = 25\n"},
      {"fetchmail", "user = \"fetchmail\"\n"},
      {"ddns", "static_address = \"203.0.113.7\"\n"},
      {"ddns.detect", "interface = \"eth0\"\n"},
  };
}

/// base() with `changes` applied: a body replaces the section, "" removes it, a new name appends.
std::string policyText(const std::map<std::string, std::string>& changes) {
  Sections s = base();
  for (const auto& [name, body] : changes) {
    auto it = std::find_if(s.begin(), s.end(), [&](const auto& x) { return x.first == name; });
    if (it == s.end())
      s.emplace_back(name, body);
    else
      it->second = body;
  }
  std::string out;
  for (const auto& [name, body] : s) {
    if (body.empty()) continue;
    out += name.rfind("[[", 0) == 0 ? name + "\n" : "[" + name + "]\n";
    out += body;
  }
  return out;
}

TEST(PolicySemantics, BaseIsValidAndClean) {
  PolicyLoad load = parsePolicy(policyText({}), "p.toml");
  EXPECT_TRUE(load.policy.has_value());
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());
}

struct Case {
  const char* name;
  std::map<std::string, std::string> changes;
  Severity severity;
  const char* text;  ///< a part of the one message
};

class SemanticCheck : public ::testing::TestWithParam<Case> {};

TEST_P(SemanticCheck, FiresAlone) {
  const Case& c = GetParam();
  PolicyLoad load = parsePolicy(policyText(c.changes), "p.toml");
  ASSERT_EQ(load.diagnostics.size(), 1U) << ::testing::PrintToString(formatted(load.diagnostics));
  const Diagnostic& d = load.diagnostics[0];
  EXPECT_EQ(d.severity, c.severity);
  EXPECT_THAT(d.message, HasSubstr(c.text));
  EXPECT_GT(d.line, 0) << "every finding points at a line";
  // Warnings keep the policy usable; errors refuse it.
  EXPECT_EQ(load.policy.has_value(), c.severity == Severity::Warning);
}

const std::string kAccount =
    "name = \"office\"\nprovider = \"dyn\"\nusername = \"u\"\npassword_file = \"/etc/dynmx/d.pw\"\n"
    "hosts = [\"office.example.com\"]\n";

INSTANTIATE_TEST_SUITE_P(
    Mail, SemanticCheck,
    ::testing::Values(
        Case{"MultidropWithoutEnvelope",
             {{"mail", "mode = \"multidrop\"\ndomains = [\"example.com\"]\n"}, {"envelope", ""}},
             Severity::Error,
             "Bcc and mailing-list mail are misrouted"},
        Case{"AutoWithoutEnvelopeHeader",
             {{"envelope", "skip = 1\n"}},
             Severity::Error,
             "needs [envelope] header"},
        Case{"NegativeSkip",
             {{"envelope", "header = \"Delivered-To\"\nskip = -1\n"}},
             Severity::Error,
             "envelope.skip must be 0 or more"},
        Case{"BadHeaderName",
             {{"envelope", "header = \"Delivered-To:\"\n"}},
             Severity::Error,
             "is not a header field name"},
        Case{"NoServer",
             {{"isp", "user = \"u\"\npassword_file = \"/etc/dynmx/isp.password\"\n"}},
             Severity::Error,
             "needs [isp] server"},
        Case{"NoUser",
             {{"isp", "server = \"pop.isp.example\"\npassword_file = \"/etc/dynmx/isp.password\"\n"}},
             Severity::Error,
             "needs [isp] user"},
        Case{"NoPassword",
             {{"isp", "server = \"pop.isp.example\"\nuser = \"u\"\n"}},
             Severity::Error,
             "needs [isp] password_file"},
        Case{"NoPostmaster", {{"users", "wildcard = true\n"}}, Severity::Error, "needs [users] postmaster"},
        Case{"NoMapNoWildcard",
             {{"users", "postmaster = \"pm\"\n"}},
             Severity::Error,
             "needs [users] map or wildcard = true"},
        Case{"EmptyDomains",
             {{"mail", "mode = \"auto\"\ndomains = []\n"}},
             Severity::Error,
             "mail.domains is empty"},
        Case{"MissingDomains", {{"mail", "mode = \"auto\"\n"}}, Severity::Error, "[mail] domains is missing"},
        Case{"BadDomain",
             {{"mail", "mode = \"auto\"\ndomains = [\"exa mple.com\"]\n"}},
             Severity::Error,
             "is not a domain name"},
        Case{"DirectOnDialup",
             {{"link", "type = \"dialup\"\n"}, {"mail", "mode = \"direct\"\ndomains = [\"example.com\"]\n"}},
             Severity::Warning,
             "only safe on a dedicated link"}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Isp, SemanticCheck,
    ::testing::Values(
        Case{"InlinePassword",
             {{"isp", "server = \"pop.isp.example\"\nuser = \"u\"\npassword = \"pw\"\n"}},
             Severity::Warning,
             "prefer password_file"},
        Case{
            "BothPasswords",
            {{"isp",
              "server = \"pop.isp.example\"\nuser = \"u\"\npassword = \"pw\"\npassword_file = \"/etc/p\"\n"}},
            Severity::Error,
            "both password and password_file"},
        Case{"RelativePasswordFile",
             {{"isp", "server = \"pop.isp.example\"\nuser = \"u\"\npassword_file = \"isp.pw\"\n"}},
             Severity::Error,
             "must be an absolute path"},
        Case{"NoCertificateCheck",
             {{"isp",
               "server = \"pop.isp.example\"\nuser = \"u\"\npassword_file = \"/p\"\ncertificate_check = "
               "false\n"}},
             Severity::Warning,
             "pose as the mail server"},
        Case{
            "ClearTextRemote",
            {{"isp", "server = \"pop.isp.example\"\nuser = \"u\"\npassword_file = \"/p\"\ntls = \"none\"\n"}},
            Severity::Warning,
            "travel in clear text"}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Delivery, SemanticCheck,
    ::testing::Values(
        Case{"SendmailT",
             {{"delivery", "method = \"mda\"\nmda = \"/usr/sbin/sendmail -t -oi\"\n"}},
             Severity::Error,
             "\"sendmail -t\" takes recipients from the headers"},
        Case{"MdaMissing", {{"delivery", "method = \"mda\"\n"}}, Severity::Error, "needs delivery.mda"},
        Case{"HostIsOurDomain",
             {{"delivery", "method = \"smtp\"\nhost = \"Example.com\"\n"}},
             Severity::Error,
             "is one of our mail domains"},
        Case{"LmtpWithoutPort",
             {{"delivery", "method = \"lmtp\"\nhost = \"127.0.0.1\"\n"}},
             Severity::Error,
             "needs an explicit delivery.port"},
        Case{"RootFetchmail", {{"fetchmail", "user = \"root\"\n"}}, Severity::Error, "must not be root"},
        Case{"FastPoll", {{"fetchmail", "poll_interval = \"5s\"\n"}}, Severity::Error, "at least 10s"},
        Case{"FastSweep", {{"fetchmail", "sweep_interval = \"5s\"\n"}}, Severity::Error, "0 (never) or at least 10s"},
        Case{"RelativeRc",
             {{"fetchmail", "rc_path = \"fetchmailrc\"\n"}},
             Severity::Error,
             "must be an absolute path"}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Ddns, SemanticCheck,
    ::testing::Values(
        Case{"NoAccountNoStatic",
             {{"ddns", "enabled = true\n"}},
             Severity::Error,
             "needs a [[ddns.account]] or ddns.static_address"},
        Case{"PrivateStatic",
             {{"ddns", "static_address = \"192.168.1.10\"\n"}},
             Severity::Error,
             "private address"},
        Case{"LoopbackStatic",
             {{"ddns", "static_address = \"127.0.0.1\"\n"}},
             Severity::Error,
             "loopback address"},
        Case{
            "CgnatStatic", {{"ddns", "static_address = \"100.64.1.1\"\n"}}, Severity::Error, "CGNAT address"},
        Case{"LinkLocalStatic",
             {{"ddns", "static_address = \"fe80::1\"\n"}},
             Severity::Error,
             "link-local address"},
        Case{"UlaStatic", {{"ddns", "static_address = \"fd00::1\"\n"}}, Severity::Error, "unique-local"},
        Case{"NameStatic",
             {{"ddns", "static_address = \"office.example.com\"\n"}},
             Severity::Error,
             "is not a literal IPv4 or IPv6 address"},
        Case{"HoldDownZero",
             {{"health", "hold_down = \"0s\"\n"}},
             Severity::Error,
             "hold_down must be more than 0s"},
        Case{
            "AccountsIgnored",
            {{"ddns", "enabled = false\nstatic_address = \"203.0.113.7\"\n"}, {"[[ddns.account]]", kAccount}},
            Severity::Warning,
            "entries are ignored"},
        Case{"DuplicateAccount",
             {{"ddns", "static_address = \"203.0.113.7\"\n"},
              {"[[ddns.account]]", kAccount + "[[ddns.account]]\n" + kAccount}},
             Severity::Error,
             "duplicate [[ddns.account]] name \"office\""},
        Case{"CustomHttp",
             {{"[[ddns.account]]",
               "name = \"c\"\nprovider = \"custom\"\nurl = \"http://dyn.example.net/u\"\nusername = \"u\"\n"
               "password_file = \"/p\"\nhosts = [\"office.example.com\"]\n"}},
             Severity::Error,
             "uses http://"},
        Case{"CustomNoUrl",
             {{"[[ddns.account]]",
               "name = \"c\"\nprovider = \"custom\"\nusername = \"u\"\n"
               "password_file = \"/p\"\nhosts = [\"office.example.com\"]\n"}},
             Severity::Error,
             "provider custom needs a url"},
        Case{"AccountNoHosts",
             {{"[[ddns.account]]",
               "name = \"c\"\nprovider = \"dyn\"\nusername = \"u\"\npassword_file = \"/p\"\n"}},
             Severity::Error,
             "needs hosts"},
        Case{"RelativeCaFile",
             {{"[[ddns.account]]", kAccount + "ca_file = \"ca.pem\"\n"}},
             Severity::Error,
             "ca_file: \"ca.pem\" must be an absolute path"},
        Case{"MinIntervalBelowThePresets",
             {{"[[ddns.account]]", kAccount + "min_interval = \"1m\"\n"}},
             Severity::Error,
             "min_interval 1m is below provider dyn's minimum interval of 2m"},
        Case{"MinIntervalBelowTheFloor",
             {{"[[ddns.account]]",
               "name = \"c\"\nprovider = \"custom\"\nurl = \"https://ddns.example.net/nic/update\"\n"
               "username = \"u\"\npassword_file = \"/p\"\nhosts = [\"office.example.com\"]\n"
               "min_interval = \"5s\"\n"}},
             Severity::Error,
             "min_interval 5s is below the least dynmx allows, 10s"},
        Case{"ShortRetry",
             {{"[[ddns.account]]", kAccount + "retry_after_server_error = \"5m\"\n"}},
             Severity::Warning,
             "raised to 30m"},
        Case{"HttpWebSource",
             {{"ddns.detect", "web_sources = [\"http://ip.example.net/\"]\n"}},
             Severity::Error,
             "must be an https:// URL"},
        Case{"NoAddressSource",
             {{"ddns.detect", "ipv4 = true\n"}, {"[[ddns.account]]", kAccount}},
             Severity::Error,
             "needs an interface or web_sources"},
        Case{"NoFamily",
             {{"ddns.detect", "interface = \"eth0\"\nipv4 = false\n"}},
             Severity::Error,
             "ipv4 and ipv6 are both false"},
        Case{"PublicMetrics",
             {{"daemon", "metrics = \"0.0.0.0:9387\"\n"}},
             Severity::Error,
             "must listen on loopback"},
        Case{"RelativeHook",
             {{"[[daemon.hook]]", "argv = [\"fw.sh\"]\n"}},
             Severity::Error,
             "must be an absolute path: hooks run without a shell"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(PolicySemantics, DocumentationAndPublicStaticAddressesAreAccepted) {
  for (const char* a : {"203.0.113.7", "198.51.100.1", "8.8.8.8", "2001:db8::7", "2a00:1450::1"}) {
    PolicyLoad load =
        parsePolicy(policyText({{"ddns", std::string("static_address = \"") + a + "\"\n"}}), "p.toml");
    EXPECT_TRUE(load.policy.has_value())
        << a << ": " << ::testing::PrintToString(formatted(load.diagnostics));
  }
}

TEST(PolicySemantics, MultidropNeedsNoDdns) {
  PolicyLoad load = parsePolicy(policyText({{"mail", "mode = \"multidrop\"\ndomains = [\"example.com\"]\n"},
                                            {"ddns", "enabled = true\n"}}),
                                "p.toml");
  EXPECT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
}

TEST(PolicySemantics, DirectNeedsNoIspOrEnvelope) {
  PolicyLoad load = parsePolicy(policyText({{"mail", "mode = \"direct\"\ndomains = [\"example.com\"]\n"},
                                            {"isp", ""},
                                            {"envelope", ""},
                                            {"users", ""}}),
                                "p.toml");
  EXPECT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
}

TEST(PolicySemantics, ClearTextToLoopbackIsFine) {
  PolicyLoad load = parsePolicy(
      policyText({{"isp", "server = \"127.0.0.1\"\nuser = \"u\"\npassword_file = \"/p\"\ntls = \"none\"\n"}}),
      "p.toml");
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());
}

TEST(PolicySemantics, InsecureHttpAllowedWhenAsked) {
  PolicyLoad load =
      parsePolicy(policyText({{"[[ddns.account]]",
                               "name = \"c\"\nprovider = \"custom\"\nurl = \"http://127.0.0.1:8245/u\"\n"
                               "allow_insecure_http = true\nusername = \"u\"\npassword_file = \"/p\"\n"
                               "hosts = [\"office.example.com\"]\n"}}),
                  "p.toml");
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());
}

TEST(PolicySemantics, MissingEnvelopePointsAtTheModeOrTheTable) {
  PolicyLoad load = parsePolicy(policyText({{"envelope", ""}}), "p.toml");
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_EQ(load.diagnostics[0].line, 2);  // mode = "auto"
  load = parsePolicy(policyText({{"envelope", "skip = 0\n"}}), "p.toml");
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_EQ(load.diagnostics[0].line, 10);  // [envelope]
  EXPECT_EQ(load.diagnostics[0].column, 1);
}

// A secret must never be echoed, whatever the admin got wrong around it.
class SecretNeverShown : public ::testing::TestWithParam<std::string> {};

constexpr const char* kSecret = "Sup3rS3cretValue";

TEST_P(SecretNeverShown, InAnyDiagnostic) {
  PolicyLoad load = parsePolicy(GetParam(), "s.toml");
  EXPECT_FALSE(load.diagnostics.empty()) << "the case must produce a finding";
  for (const auto& line : formatted(load.diagnostics)) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr(kSecret)));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("Sup3r")));
  }
}

std::string withIsp(const std::string& body) {
  return "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n[envelope]\nheader = \"Delivered-To\"\n"
         "[users]\nwildcard = true\npostmaster = \"pm\"\n[isp]\nserver = \"pop.isp.example\"\nuser = "
         "\"u\"\n" +
         body;
}

INSTANTIATE_TEST_SUITE_P(
    Secrets, SecretNeverShown,
    ::testing::Values(
        withIsp(std::string("password = \"") + kSecret + "\"\n"),
        withIsp(std::string("password = \"") + kSecret + "\"\npassword_file = \"/p\"\n"),
        withIsp(std::string("password = [\"") + kSecret + "\"]\n"),
        withIsp(std::string("password = { v = \"") + kSecret + "\" }\n"),
        withIsp(std::string("password = ") + kSecret + "\n"),
        withIsp(std::string("password = \"") + kSecret + "\n"),
        withIsp(std::string("password = \"") + kSecret + "\\q\"\n"),
        withIsp(std::string("password = 'S") + "up3r\n"),
        withIsp(std::string("password = \"") + kSecret + "\"\ntls = \"none\"\n"),
        withIsp(std::string("pasword = \"") + kSecret + "\"\n"),
        std::string("[[ddns.account]]\nname = \"a\"\nprovider = \"dyn\"\nusername = \"u\"\npassword = \"") +
            kSecret + "\"\nhosts = [\"h.example.com\"]\nurl = \"http://x.example/\"\n"),
    [](const auto& tp) { return "Case" + std::to_string(tp.index); });

}  // namespace
}  // namespace dynmx
