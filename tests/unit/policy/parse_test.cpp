// Parsing: every key lands in its struct field, and syntax/type/key/value errors are
// reported all at once with the exact text and position the admin sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using testing::dataFile;
using ::testing::ElementsAre;
using testing::formatted;
using ::testing::HasSubstr;

TEST(PolicyParse, FullPolicyFillsEveryField) {
  PolicyLoad load = parsePolicy(dataFile("full.toml"), "full.toml");
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  // custom http with allow_insecure_http is accepted silently; no other findings.
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());
  const Policy& p = *load.policy;
  EXPECT_EQ(p.sourceFile, "full.toml");
  EXPECT_EQ(p.mail.mode, MailPolicy::Auto);
  EXPECT_EQ(p.mail.modePos.line, 2);
  EXPECT_EQ(p.mail.modePos.column, 8);
  EXPECT_THAT(p.mail.domains, ElementsAre("example.com", "example.net"));
  EXPECT_EQ(p.link.type, LinkType::Dedicated);
  EXPECT_EQ(p.link.interface, "eth1");
  EXPECT_EQ(p.health.ddnsFailingMax, std::chrono::minutes(10));
  EXPECT_EQ(p.health.linkDownMax, std::chrono::seconds(90));
  EXPECT_EQ(p.health.holdDown, std::chrono::hours(2));
  EXPECT_EQ(p.isp.server, "pop.isp.example");
  EXPECT_EQ(p.isp.protocol, MailProtocol::Imap);
  EXPECT_EQ(p.isp.port, 993);
  EXPECT_EQ(p.isp.tls, TlsMode::StartTls);
  EXPECT_TRUE(p.isp.certificateCheck);
  EXPECT_EQ(p.isp.sslProto, "TLS1.3+");
  EXPECT_EQ(p.isp.user, "example.com");
  EXPECT_EQ(p.isp.passwordFile, "/etc/dynmx/isp.password");
  EXPECT_EQ(p.isp.passwordFilePos.line, 22);
  EXPECT_EQ(p.isp.passwordFilePos.column, 17);
  EXPECT_FALSE(p.isp.password.has_value());
  EXPECT_EQ(p.isp.timeout, std::chrono::seconds(45));
  EXPECT_TRUE(p.isp.keep);
  EXPECT_FALSE(p.isp.fetchAll);
  EXPECT_EQ(p.envelope.header, "X-Original-To");
  EXPECT_EQ(p.envelope.skip, 1);
  EXPECT_EQ(p.users.map, (std::map<std::string, std::string>{{"alice", "alice"}, {"sales", "bob"}}));
  EXPECT_TRUE(p.users.wildcard);
  EXPECT_EQ(p.users.postmaster, "pm");
  EXPECT_EQ(p.delivery.method, DeliveryMethod::Lmtp);
  EXPECT_EQ(p.delivery.target.host, "::1");
  EXPECT_EQ(p.delivery.target.port, 24);
  EXPECT_EQ(p.fetchmail.binary, "/usr/local/bin/fetchmail");
  EXPECT_EQ(p.fetchmail.rcPath, "/var/lib/dynmx/rc");
  EXPECT_EQ(p.fetchmail.user, "fetchmail");
  EXPECT_EQ(p.fetchmail.home, "/var/lib/dynmx/fm");
  EXPECT_EQ(p.fetchmail.pollInterval, std::chrono::minutes(2));
  EXPECT_TRUE(p.ddns.enabled);
  EXPECT_FALSE(p.ddns.staticAddress.has_value());
  EXPECT_EQ(p.ddns.checkInterval, std::chrono::minutes(3));
  EXPECT_EQ(p.ddns.requestTimeout, std::chrono::seconds(20));
  EXPECT_TRUE(p.ddns.detect.ipv4);
  EXPECT_TRUE(p.ddns.detect.ipv6);
  EXPECT_EQ(p.ddns.detect.interface, "eth1");
  EXPECT_THAT(p.ddns.detect.webSources, ElementsAre("https://ip.example.net/"));
  EXPECT_EQ(p.ddns.detect.agreement, "first");
  EXPECT_EQ(p.ddns.detect.timeout, std::chrono::seconds(7));
  ASSERT_EQ(p.ddns.verify.servers.size(), 2U);
  EXPECT_EQ(p.ddns.verify.servers[0].host, "127.0.0.1");
  EXPECT_EQ(p.ddns.verify.servers[0].port, 5300);
  EXPECT_EQ(p.ddns.verify.servers[1].host, "::1");
  EXPECT_EQ(p.ddns.verify.servers[1].port, 5301);
  EXPECT_EQ(p.ddns.verify.interval, std::chrono::minutes(4));
  EXPECT_EQ(p.ddns.verify.timeout, std::chrono::seconds(3));
  ASSERT_EQ(p.ddns.accounts.size(), 2U);
  const DdnsAccount& a = p.ddns.accounts[0];
  EXPECT_EQ(a.name, "office");
  EXPECT_EQ(a.provider, "custom");
  EXPECT_EQ(a.url, "http://127.0.0.1:8245/nic/update");
  EXPECT_TRUE(a.allowInsecureHttp);
  EXPECT_TRUE(a.tlsVerify);
  EXPECT_EQ(a.username, "office-admin");
  EXPECT_EQ(a.passwordFile, "/etc/dynmx/ddns.password");
  EXPECT_EQ(a.passwordFilePos.line, 76);
  EXPECT_THAT(a.hosts, ElementsAre("office.example.com", "mx.example.net"));
  EXPECT_TRUE(a.offlineOnMultidrop);
  EXPECT_EQ(a.retryAfterServerError, std::chrono::minutes(45));
  EXPECT_EQ(a.minInterval, std::chrono::seconds(15));
  EXPECT_EQ(a.pos.line, 69);
  const DdnsAccount& b = p.ddns.accounts[1];
  EXPECT_EQ(b.name, "backup");
  EXPECT_EQ(b.provider, "noip");
  EXPECT_TRUE(b.url.empty());
  EXPECT_FALSE(b.offlineOnMultidrop);
  EXPECT_EQ(b.retryAfterServerError, std::chrono::minutes(30));
  EXPECT_FALSE(b.minInterval.has_value());
  EXPECT_EQ(p.daemon.stateDir, "/var/lib/dynmx-test");
  EXPECT_EQ(p.daemon.controlSocket, "/run/dynmx/c.sock");
  EXPECT_EQ(p.daemon.log, "stderr");
  EXPECT_EQ(p.daemon.logLevel, "debug");
  ASSERT_TRUE(p.daemon.metrics.has_value());
  EXPECT_EQ(p.daemon.metrics->host, "127.0.0.1");
  EXPECT_EQ(p.daemon.metrics->port, 9387);
  EXPECT_TRUE(p.daemon.offlineOnShutdown);
  ASSERT_EQ(p.daemon.hooks.size(), 2U);
  EXPECT_THAT(p.daemon.hooks[0].argv, ElementsAre("/usr/local/sbin/fw", "--mode"));
  EXPECT_EQ(p.daemon.hooks[0].timeout, std::chrono::seconds(15));
  EXPECT_EQ(p.daemon.hooks[1].timeout, std::chrono::seconds(30));
}

TEST(PolicyParse, OmittedKeysKeepTheirDefaults) {
  PolicyLoad load = parsePolicy(
      "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n"
      "[ddns]\nstatic_address = \"203.0.113.7\"\n",
      "min.toml");
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_TRUE(load.diagnostics.empty());
  const Policy& p = *load.policy;
  const Policy defaults;
  EXPECT_EQ(p.link.type, defaults.link.type);
  EXPECT_EQ(p.health.holdDown, defaults.health.holdDown);
  EXPECT_EQ(p.isp.tls, TlsMode::Implicit);
  EXPECT_EQ(p.isp.port, 0);
  EXPECT_EQ(p.delivery.target.host, "127.0.0.1");
  EXPECT_EQ(p.delivery.target.port, 25);
  EXPECT_EQ(p.fetchmail.user, "fetchmail");
  EXPECT_EQ(p.fetchmail.pollInterval, std::chrono::minutes(5));
  EXPECT_EQ(p.ddns.staticAddress, "203.0.113.7");
  EXPECT_FALSE(p.daemon.metrics.has_value());
}

TEST(PolicyParse, ThreeErrorsGiveExactlyThreePinnedLines) {
  PolicyLoad load = parsePolicy(dataFile("three_errors.toml"), "three_errors.toml");
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_THAT(
      formatted(load.diagnostics),
      ElementsAre(
          "three_errors.toml:3:8: error: mail mode multidrop needs [envelope] header (e.g. header = "
          "\"Delivered-To\"): without the envelope header fetchmail guesses recipients from To/Cc, so Bcc "
          "and "
          "mailing-list mail are misrouted or lost",
          "three_errors.toml:10:1: error: unknown key 'timout' in [isp] (did you mean 'timeout'?)",
          "three_errors.toml:17:17: error: fetchmail.poll_interval: invalid duration \"5 minutes\": write a "
          "number and a unit (s, m, h, d, w), e.g. \"90s\", \"5m\", \"1h\" or \"1h30m\""));
}

TEST(PolicyParse, SyntaxErrorHasPositionAndNoPolicy) {
  PolicyLoad load = parsePolicy("[mail]\nmode = \"auto\"\ndomains = [\"example.com\"\n", "s.toml");
  EXPECT_FALSE(load.policy.has_value());
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_EQ(load.diagnostics[0].line, 3);  // the unclosed array
  EXPECT_THAT(load.diagnostics[0].message, HasSubstr("TOML syntax: "));
}

struct Case {
  const char* name;
  const char* text;
  const char* expected;  ///< the one formatted diagnostic
};

class OneFinding : public ::testing::TestWithParam<Case> {};

// Each text holds exactly one mistake on top of a valid direct/static policy.
constexpr const char* kValid =
    "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n"
    "[ddns]\nstatic_address = \"203.0.113.7\"\n";

TEST_P(OneFinding, ReportsExactlyIt) {
  const Case& c = GetParam();
  PolicyLoad load = parsePolicy(std::string(kValid) + c.text, "p.toml");
  EXPECT_THAT(formatted(load.diagnostics), ElementsAre(c.expected));
  EXPECT_FALSE(load.policy.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Keys, OneFinding,
    ::testing::Values(
        Case{"TopLevelTypo", "[delivry]\nmethod = \"smtp\"\n",
             "p.toml:6:2: error: unknown key 'delivry' at the top level (did you mean 'delivery'?)"},
        Case{"TopLevelFar", "[frobnicate]\n", "p.toml:6:2: error: unknown key 'frobnicate' at the top level"},
        Case{"NestedTable", "[ddns.detect]\nipv4 = true\nagrement = \"all\"\n",
             "p.toml:8:1: error: unknown key 'agrement' in [ddns.detect] (did you mean 'agreement'?)"},
        Case{"AccountKey",
             "[[ddns.account]]\nname = \"a\"\nprovider = \"dyn\"\nusername = \"u\"\npassword_file = \"/x\"\n"
             "hosts = [\"h.example.com\"]\nhost = \"x\"\n[ddns.detect]\ninterface = \"eth0\"\n",
             "p.toml:12:1: error: unknown key 'host' in [[ddns.account]] (did you mean 'hosts'?)"},
        Case{"HookKey", "[[daemon.hook]]\nargv = [\"/bin/true\"]\ntimeuot = \"1s\"\n",
             "p.toml:8:1: error: unknown key 'timeuot' in [[daemon.hook]] (did you mean 'timeout'?)"}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Types, OneFinding,
    ::testing::Values(
        Case{"StringGotInteger", "[link]\ninterface = 3\n",
             "p.toml:7:13: error: link.interface: expected a string, got integer"},
        Case{"BoolGotString", "[isp]\nkeep = \"yes\"\n",
             "p.toml:7:8: error: isp.keep: expected a boolean (true or false), got string"},
        Case{"IntGotFloat", "[delivery]\nport = 25.0\n",
             "p.toml:7:8: error: delivery.port: expected an integer, got float"},
        Case{"ArrayElement", "[ddns.detect]\nweb_sources = [\"https://a.example/\", 7]\n",
             "p.toml:7:38: error: ddns.detect.web_sources[2]: expected a string, got integer"},
        Case{"TableGotString", "[users]\nmap = \"alice\"\n",
             "p.toml:7:7: error: users.map: expected a table, got string"},
        Case{"TablesGotString", "[daemon]\nhook = \"/bin/true\"\n",
             "p.toml:7:8: error: daemon.hook: expected an array of tables ([[daemon.hook]]), got string"},
        Case{"MapValue", "[users]\nmap = { alice = 1 }\n",
             "p.toml:7:17: error: users.map.alice: expected a string (a local user name), got integer"}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Values, OneFinding,
    ::testing::Values(
        Case{"LinkEnum", "[link]\ntype = \"dsl\"\n",
             "p.toml:7:8: error: link.type: unknown value \"dsl\": expected one of dedicated, dialup, auto"},
        Case{"TlsEnum", "[isp]\ntls = \"ssl\"\n",
             "p.toml:7:7: error: isp.tls: unknown value \"ssl\": expected one of implicit, starttls, none"},
        Case{"ProtocolEnum", "[isp]\nprotocol = \"pop\"\n",
             "p.toml:7:12: error: isp.protocol: unknown value \"pop\": expected one of pop3, imap"},
        Case{"DeliveryEnum", "[delivery]\nmethod = \"procmail\"\n",
             "p.toml:7:10: error: delivery.method: unknown value \"procmail\": expected one of smtp, lmtp, "
             "mda"},
        Case{"PortHigh", "[delivery]\nport = 70000\n",
             "p.toml:7:8: error: delivery.port: port 70000 is out of range (1-65535)"},
        Case{"PortZero", "[isp]\nport = 0\n",
             "p.toml:7:8: error: isp.port: port 0 is out of range (1-65535)"},
        Case{"VerifyServer", "[ddns.verify]\nservers = [\"127.0.0.1\"]\n",
             "p.toml:7:12: error: ddns.verify.servers: \"127.0.0.1\" is not HOST:PORT (e.g. "
             "\"192.0.2.53:53\" or "
             "\"[2001:db8::53]:53\")"},
        Case{"Provider",
             "[[ddns.account]]\nname = \"a\"\nprovider = \"dyndns\"\nusername = \"u\"\n"
             "password_file = \"/x\"\nhosts = [\"h.example.com\"]\n[ddns.detect]\ninterface = \"eth0\"\n",
             "p.toml:8:12: error: ddns.account[1].provider: unknown provider \"dyndns\": expected one of "
             "dyn, noip, "
             "dynu, freedns, custom, rfc2136"},
        Case{"Agreement", "[ddns.detect]\ninterface = \"eth0\"\nagreement = \"most\"\n",
             "p.toml:8:13: error: ddns.detect.agreement: unknown value \"most\": expected one of majority, "
             "all, first"},
        Case{"LogLevel", "[daemon]\nlog_level = \"verbose\"\n",
             "p.toml:7:13: error: daemon.log_level: unknown value \"verbose\": expected one of trace, debug, "
             "info, "
             "warn, error, critical, off"}),
    [](const auto& tp) { return std::string(tp.param.name); });

struct DurationCase {
  const char* value;
  bool ok;
  long long seconds;
};

class Durations : public ::testing::TestWithParam<DurationCase> {};

TEST_P(Durations, ParseOrExplain) {
  const auto& c = GetParam();
  PolicyLoad load = parsePolicy(std::string(kValid) + "[health]\nhold_down = " + c.value + "\n", "d.toml");
  if (c.ok) {
    ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
    EXPECT_EQ(load.policy->health.holdDown.count(), c.seconds);
  } else {
    ASSERT_EQ(load.diagnostics.size(), 1U) << ::testing::PrintToString(formatted(load.diagnostics));
    const std::string msg = formatDiagnostic(load.diagnostics[0]);
    EXPECT_THAT(msg, ::testing::StartsWith("d.toml:7:13: error: health.hold_down: "));
    EXPECT_THAT(msg, HasSubstr("\"90s\", \"5m\""));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Health, Durations,
    ::testing::Values(DurationCase{"\"90s\"", true, 90}, DurationCase{"\"5m\"", true, 300},
                      DurationCase{"\"1h30m\"", true, 5400}, DurationCase{"\"2d\"", true, 172800},
                      DurationCase{"\"1 hour\"", false, 0}, DurationCase{"\"5x\"", false, 0},
                      DurationCase{"\"-5m\"", false, 0}, DurationCase{"\"\"", false, 0},
                      DurationCase{"300", false, 0}, DurationCase{"\"1h30\"", false, 0}));

TEST(PolicyParse, AllErrorsAtOnceNotJustTheFirst) {
  PolicyLoad load = parsePolicy(
      std::string(kValid) + "[link]\ntype = 1\n[isp]\ntls = \"x\"\nport = -1\n[fetchmail]\nusr = \"f\"\n",
      "m.toml");
  EXPECT_EQ(load.diagnostics.size(), 4U) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_TRUE(std::is_sorted(load.diagnostics.begin(), load.diagnostics.end(),
                             [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; }));
}

TEST(PolicyParse, ProviderListIsShared) {
  EXPECT_THAT(knownDdnsProviders(), ElementsAre("dyn", "noip", "dynu", "freedns", "custom", "rfc2136"));
}

TEST(PolicyParse, EnumNamesRoundTrip) {
  EXPECT_STREQ(toString(MailPolicy::Multidrop), "multidrop");
  EXPECT_STREQ(toString(LinkType::Dialup), "dialup");
  EXPECT_STREQ(toString(MailProtocol::Imap), "imap");
  EXPECT_STREQ(toString(TlsMode::StartTls), "starttls");
  EXPECT_STREQ(toString(DeliveryMethod::Mda), "mda");
}

}  // namespace
}  // namespace dynmx

namespace dynmx {
namespace {

// toml++ quotes the character it stopped at; on a password line that character is part of
// the secret, so it is replaced. On other lines it stays, because it helps.
TEST(PolicyParse, SyntaxErrorOnAPasswordLineHidesTheQuotedCharacter) {
  PolicyLoad load = parsePolicy("[isp]\npassword = 7Qsecret\n", "s.toml");
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_THAT(load.diagnostics[0].message, ::testing::Not(::testing::HasSubstr("'Q'")));
  EXPECT_THAT(load.diagnostics[0].message, ::testing::HasSubstr("(hidden: secret value)"));
  load = parsePolicy("[isp]\nport = 7Q\n", "s.toml");
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_THAT(load.diagnostics[0].message, ::testing::HasSubstr("'Q'"));
}

}  // namespace
}  // namespace dynmx

namespace dynmx {
namespace {

TEST(SalvageDaemonPaths, FromAPolicyWithErrorsElsewhere) {
  // A TOML syntax error (a table defined twice) outside [daemon].
  const std::string broken =
      "[mail]\nmode = \"auto\"\n[daemon]\nstate_dir = \"/srv/dynmx\"  # ours\n"
      "control_socket = \"/srv/dynmx/ctl.sock\"\n[mail]\nmdoe = \"direct\"\n";
  ASSERT_FALSE(parsePolicy(broken, "p.toml").policy);
  auto paths = salvageDaemonPaths(broken);
  ASSERT_TRUE(paths);
  EXPECT_EQ(paths->stateDir, "/srv/dynmx");
  EXPECT_EQ(paths->controlSocket, "/srv/dynmx/ctl.sock");

  // Semantic errors only: the whole file parses as TOML.
  auto semantic = salvageDaemonPaths("[mail]\nmode = \"sometimes\"\n[daemon]\nstate_dir = \"/var/x\"\n");
  ASSERT_TRUE(semantic);
  EXPECT_EQ(semantic->stateDir, "/var/x");
  EXPECT_EQ(semantic->controlSocket, DaemonSection{}.controlSocket) << "unwritten keys keep their defaults";

  // No [daemon] table at all: the defaults.
  auto none = salvageDaemonPaths("[mail\nmode = 1\n");
  EXPECT_FALSE(none) << "nothing to salvage from a file whose [daemon] is missing and which does not parse";
  // [daemon] itself broken: nothing to salvage.
  EXPECT_FALSE(salvageDaemonPaths("[daemon]\nstate_dir = \"/x\nx = [\n"));
}

}  // namespace
}  // namespace dynmx
