// The rfc2136 provider kind: its policy keys (dynmx check, file:line:col), the guarded
// UPDATE the engine builds per host, and how each outcome maps to the engine's discipline.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <regex>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/policy.hpp"
#include "publish_rfc2136.hpp"

namespace dynmx {
namespace {

std::string example() {
  std::ifstream in(std::string(DYNMX_SOURCE_DIR) + "/docs/examples/dynmx.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The example policy with its [[ddns.account]] replaced by `account`.
std::string withAccount(const std::string& account) {
  std::string p = example();
  const auto from = p.find("[[ddns.account]]");
  const auto to = p.find("[daemon]");
  return p.substr(0, from) + account + "\n" + p.substr(to);
}

/// The line [[ddns.account]] starts on in the example (the expectations below are written
/// for line 88; the example grows, so they are shifted to where it really is).
int accountLine() {
  const std::string p = example();
  const auto at = p.find("[[ddns.account]]");
  return 1 + static_cast<int>(std::count(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

/// `expect` with its ":LINE:COL: error" position moved by the example's growth since line 88.
std::string shifted(const std::string& expect) {
  static const std::regex pos(":([0-9]+):([0-9]+): error");
  std::smatch m;
  if (!std::regex_search(expect, m, pos)) return expect;
  const int line = std::stoi(m[1].str()) - 88 + accountLine();
  return std::string(m.prefix()) + ":" + std::to_string(line) + ":" + m[2].str() + ": error" +
         std::string(m.suffix());
}

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += formatDiagnostic(d) + "\n";
  return out;
}

const char* kGood =
    "[[ddns.account]]\nname = \"own\"\nprovider = \"rfc2136\"\nkey_file = \"/etc/dynmx/k.key\"\n"
    "zone = \"Example.COM.\"\nserver = \"192.0.2.53:5353\"\nttl = 120\nhosts = [\"office.example.com\"]\n";

TEST(Rfc2136Policy, AcceptsTheKindsKeys) {
  auto load = parsePolicy(withAccount(kGood), "p.toml");
  ASSERT_TRUE(load.policy.has_value()) << all(load.diagnostics);
  const auto& a = load.policy->ddns.accounts.at(0);
  EXPECT_EQ(a.provider, "rfc2136");
  EXPECT_EQ(a.rfc2136.keyFile, "/etc/dynmx/k.key");
  EXPECT_EQ(a.rfc2136.zone, "example.com");
  EXPECT_EQ(a.rfc2136.server, "192.0.2.53:5353");
  EXPECT_EQ(a.rfc2136.ttl, 120);
  EXPECT_GT(a.rfc2136.keyFilePos.line, 0);
}

struct Bad {
  const char* label;
  std::string account;
  const char* expect;  ///< fragment of the diagnostic, with its position "p.toml:LINE:"
};

class Rfc2136PolicyRefuses : public ::testing::TestWithParam<Bad> {};

TEST_P(Rfc2136PolicyRefuses, AtTheLine) {
  auto load = parsePolicy(withAccount(GetParam().account), "p.toml");
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_NE(all(load.diagnostics).find(shifted(GetParam().expect)), std::string::npos)
      << all(load.diagnostics);
}

const std::string kHead = "[[ddns.account]]\nname = \"own\"\nprovider = \"rfc2136\"\n";  // lines 88-90

INSTANTIATE_TEST_SUITE_P(
    Table, Rfc2136PolicyRefuses,
    ::testing::Values(
        Bad{"no key", kHead + "zone = \"example.com\"\nhosts = [\"office.example.com\"]\n",
            "p.toml:88:1: error: ddns.account[1] needs key_file"},
        Bad{"relative key",
            kHead + "key_file = \"k.key\"\nzone = \"example.com\"\nhosts = [\"office.example.com\"]\n",
            "p.toml:91:12: error: ddns.account[1].key_file: \"k.key\" must be an absolute path"},
        Bad{"no zone", kHead + "key_file = \"/k\"\nhosts = [\"office.example.com\"]\n", "needs zone"},
        Bad{"host outside",
            kHead + "key_file = \"/k\"\nzone = \"example.com\"\nhosts = [\"office.example.org\"]\n",
            "p.toml:93:9: error: ddns.account[1].hosts: \"office.example.org\" is not inside zone "
            "example.com"},
        Bad{"server name",
            kHead + "key_file = \"/k\"\nzone = \"example.com\"\nserver = \"ns1.example.com\"\nhosts = "
                    "[\"office.example.com\"]\n",
            "p.toml:93:10: error: ddns.account[1].server: \"ns1.example.com\" is not an IP address"},
        Bad{"ttl zero",
            kHead + "key_file = \"/k\"\nzone = \"example.com\"\nttl = 0\nhosts = [\"office.example.com\"]\n",
            "ddns.account[1].ttl: 0 is not between 1 and 86400"},
        Bad{"password",
            kHead + "key_file = \"/k\"\nzone = \"example.com\"\npassword_file = \"/p\"\nhosts = "
                    "[\"office.example.com\"]\n",
            "ddns.account[1].password_file does not apply to provider rfc2136"},
        Bad{"zone on dyndns2",
            "[[ddns.account]]\nname = \"d\"\nprovider = \"dyn\"\nusername = \"u\"\npassword_file = \"/p\"\n"
            "zone = \"example.com\"\nhosts = [\"office.example.com\"]\n",
            "ddns.account[1].zone is for provider = \"rfc2136\" only"}),
    [](const ::testing::TestParamInfo<Bad>& i) { return "case" + std::to_string(i.index); });

TEST(Rfc2136Policy, CheckLoadsTheKeyFileAtItsLine) {
  char tmpl[] = "/tmp/dynmx-kind-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string key = dir + "/k.key";
  std::ofstream(key)
      << "key \"k\" { algorithm hmac-sha256; secret \"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=\"; };\n";
  ::chmod(key.c_str(), 0644);
  const std::string policy = dir + "/p.toml";
  std::ofstream(policy) << withAccount(kHead + "key_file = \"" + key +
                                       "\"\nzone = \"example.com\"\nhosts = [\"office.example.com\"]\n");
  auto load = loadPolicy(policy);
  const std::string text = all(load.diagnostics);
  EXPECT_NE(text.find(shifted(":91:12: error: ddns.account[1].key_file: key file " + key +
                              " is readable or writable by group/other")),
            std::string::npos)
      << text;
  ::chmod(key.c_str(), 0600);
  auto fixed = loadPolicy(policy);
  EXPECT_EQ(all(fixed.diagnostics).find("key_file"), std::string::npos) << all(fixed.diagnostics);
  std::filesystem::remove_all(dir);
}

// --- the engine side ---

DdnsAccount account() {
  DdnsAccount a;
  a.name = "own";
  a.provider = "rfc2136";
  a.rfc2136 = {"/k", "example.test", "", 90, {}};
  a.hosts = {"office.example.test"};
  return a;
}

ddns::AddressSet addrs(const char* v4, const char* v6) {
  ddns::AddressSet s;
  if (v4) s.v4 = ddns::IpAddress::parse(v4);
  if (v6) s.v6 = ddns::IpAddress::parse(v6);
  return s;
}

TEST(Rfc2136Engine, FirstPublicationRequiresNoRRset) {
  auto m = ddns::rfc2136Message(account(), "office.example.test", addrs("203.0.113.7", "2001:db8::7"),
                                ddns::HostState{});
  EXPECT_EQ(m.zone, "example.test");
  ASSERT_EQ(m.prerequisites.size(), 2u);
  EXPECT_EQ(m.prerequisites[0].kind, dnsupdate::Prerequisite::Kind::RRsetNotExists);
  EXPECT_EQ(m.prerequisites[0].rrset.type, dnsupdate::RecordType::A);
  EXPECT_EQ(m.prerequisites[1].rrset.type, dnsupdate::RecordType::AAAA);
  ASSERT_EQ(m.changes.size(), 2u);
  EXPECT_EQ(m.changes[0].kind, dnsupdate::Change::Kind::ReplaceRRset);
  EXPECT_EQ(m.changes[0].rrset.records, std::vector<std::string>{"203.0.113.7"});
  EXPECT_EQ(m.changes[0].rrset.ttl, 90u);
  EXPECT_EQ(m.changes[1].rrset.records, std::vector<std::string>{"2001:db8::7"});
}

TEST(Rfc2136Engine, LaterPublicationsAreGuardedByWhatWePublished) {
  ddns::HostState st;
  st.confirmedAddress = addrs("203.0.113.7", "2001:db8::7").toString();
  auto m = ddns::rfc2136Message(account(), "office.example.test", addrs("203.0.113.8", nullptr), st);
  ASSERT_EQ(m.prerequisites.size(), 2u);
  EXPECT_EQ(m.prerequisites[0].kind, dnsupdate::Prerequisite::Kind::RRsetEquals);
  EXPECT_EQ(m.prerequisites[0].rrset.records, std::vector<std::string>{"203.0.113.7"});
  EXPECT_EQ(m.prerequisites[1].kind, dnsupdate::Prerequisite::Kind::RRsetEquals);
  EXPECT_EQ(m.prerequisites[1].rrset.records, std::vector<std::string>{"2001:db8::7"});
  ASSERT_EQ(m.changes.size(), 2u);
  EXPECT_EQ(m.changes[0].rrset.records, std::vector<std::string>{"203.0.113.8"});
  EXPECT_EQ(m.changes[1].kind, dnsupdate::Change::Kind::DeleteRRset);  // the v6 address is gone
  EXPECT_EQ(m.changes[1].rrset.type, dnsupdate::RecordType::AAAA);
}

struct Mapping {
  dnsupdate::Verdict verdict;
  const char* rcode;
  ddns::ResultCode code;
  ddns::Consequence consequence;
};

class Rfc2136Mapping : public ::testing::TestWithParam<Mapping> {};

TEST_P(Rfc2136Mapping, SameDisciplineAsDyndns2) {
  dnsupdate::UpdateOutcome o;
  o.verdict = GetParam().verdict;
  o.rcode = GetParam().rcode;
  o.server = "192.0.2.53:53";
  o.detail = "the detail";
  auto r = ddns::rfc2136Result("office.example.test", o);
  EXPECT_EQ(r.code, GetParam().code) << ddns::toString(r.code);
  EXPECT_EQ(r.consequence, GetParam().consequence) << ddns::toString(r.consequence);
  EXPECT_FALSE(r.detail.empty());
}

using ddns::Consequence;
using ddns::ResultCode;
using dnsupdate::Verdict;
INSTANTIATE_TEST_SUITE_P(
    Table, Rfc2136Mapping,
    ::testing::Values(
        Mapping{Verdict::Applied, "NOERROR", ResultCode::Good, Consequence::Ok},
        Mapping{Verdict::PrereqFailed, "YXRRSET", ResultCode::NotYours, Consequence::RetryLater},
        Mapping{Verdict::Retry, "timeout", ResultCode::Timeout, Consequence::Transient},
        Mapping{Verdict::Retry, "connection-refused", ResultCode::ConnectError, Consequence::Transient},
        Mapping{Verdict::Retry, "SERVFAIL", ResultCode::DnsErr, Consequence::Transient},
        Mapping{Verdict::BackOff, "BADTIME", ResultCode::DnsErr, Consequence::RetryLater},
        Mapping{Verdict::Fatal, "REFUSED", ResultCode::NotYours, Consequence::FatalHost},
        Mapping{Verdict::Fatal, "BADKEY", ResultCode::BadAuth, Consequence::FatalAccount},
        Mapping{Verdict::Fatal, "NOTAUTH", ResultCode::BadAuth, Consequence::FatalAccount}),
    [](const ::testing::TestParamInfo<Mapping>& i) { return "case" + std::to_string(i.index); });

}  // namespace
}  // namespace dynmx
