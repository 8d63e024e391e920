// The guard's policy keys and what the rc says with the guard on or off.
#include <gtest/gtest.h>

#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/guard_server.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::guard {
namespace {

const std::string kBase =
    "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n"
    "[isp]\nserver = \"pop.isp.example\"\nuser = \"office\"\npassword = \"pw\"\n"
    "[envelope]\nheader = \"Delivered-To\"\nskip = 1\n"
    "[users]\nmap = { alice = \"alice\", Bob = \"robert\" }\npostmaster = \"postmaster\"\n"
    "[ddns]\nenabled = false\n[daemon]\nstate_dir = \"/var/lib/dynmx\"\n";

std::string errors(const PolicyLoad& l) {
  std::string s;
  for (const auto& d : l.diagnostics)
    if (d.severity == Severity::Error) s += formatDiagnostic(d) + "\n";
  return s;
}

TEST(GuardPolicy, OnByDefaultAndItsKeys) {
  auto l = parsePolicy(kBase + "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = 25\n", "p.toml");
  ASSERT_TRUE(l.policy) << errors(l);
  EXPECT_TRUE(l.policy->delivery.guard);
  EXPECT_TRUE(fetchmail::guardActive(*l.policy));
  EXPECT_EQ(fetchmail::guardSocket(*l.policy), "/var/lib/dynmx/guard.sock");
  GuardConfig c = configFromPolicy(*l.policy);
  EXPECT_EQ(c.socketPath, "/var/lib/dynmx/guard.sock");
  EXPECT_EQ(c.journalPath, "/var/lib/dynmx/guard.journal");
  EXPECT_FALSE(c.mtaLmtp);
  EXPECT_EQ(c.mtaPort, 25);
  EXPECT_EQ(c.users.names.at("bob"), "robert") << "map keys compare in lower case";
  EXPECT_EQ(c.rule.skip, 1);
  EXPECT_FALSE(c.syncEachMessage);

  auto g = parsePolicy(kBase +
                           "[delivery]\nmethod = \"lmtp\"\nhost = \"127.0.0.1\"\nport = 24\nguard = true\n"
                           "[guard]\nsocket = \"/run/g.sock\"\njournal = \"/j\"\nreceived_above = 1\nmax_received = 20\n"
                           "max_message_size = 2048\nretention = \"2d\"\njournal_sync = \"message\"\n",
                       "p.toml");
  ASSERT_TRUE(g.policy) << errors(g);
  c = configFromPolicy(*g.policy);
  EXPECT_EQ(c.socketPath, "/run/g.sock");
  EXPECT_EQ(c.journalPath, "/j");
  EXPECT_EQ(c.rule.receivedAbove, 1);
  EXPECT_EQ(c.loop.maxReceived, 20);
  EXPECT_EQ(c.limits.maxMessageBytes, 2048u);
  EXPECT_EQ(c.retention, std::chrono::hours(48));
  EXPECT_TRUE(c.syncEachMessage);
  EXPECT_TRUE(c.mtaLmtp);

  auto off = parsePolicy(kBase + "[delivery]\nguard = false\n", "p.toml");
  ASSERT_TRUE(off.policy) << errors(off);
  EXPECT_FALSE(fetchmail::guardActive(*off.policy));
  auto mda = parsePolicy(kBase + "[delivery]\nmethod = \"mda\"\nmda = \"/usr/bin/procmail -d %T\"\n", "p.toml");
  ASSERT_TRUE(mda.policy) << errors(mda);
  EXPECT_FALSE(fetchmail::guardActive(*mda.policy)) << "an MDA cannot be guarded";
}

TEST(GuardPolicy, BadValuesNameTheirPlace) {
  struct Case {
    std::string toml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"[guard]\nmax_received = 0\n", "p.toml:19:16: error: guard.max_received must be 1-1000"},
      {"[guard]\nreceived_above = -1\n", "p.toml:19:18: error: guard.received_above must be 0-100"},
      {"[guard]\nmax_message_size = 10\n", "p.toml:19:20: error: guard.max_message_size must be 1024 bytes to 2 GiB"},
      {"[guard]\njournal_sync = \"never\"\n", "p.toml:19:16: error: guard.journal_sync: expected \"second\" or \"message\""},
  };
  for (const auto& c : cases) {
    auto l = parsePolicy(kBase + c.toml, "p.toml");
    EXPECT_FALSE(l.policy) << c.toml;
    EXPECT_EQ(errors(l), c.error + "\n") << c.toml;
  }
  auto unknown = parsePolicy(kBase + "[guard]\nsocekt = \"x\"\n", "p.toml");
  EXPECT_NE(errors(unknown).find("p.toml:19:1: error: unknown key 'socekt' in [guard]"), std::string::npos)
      << errors(unknown);
}

TEST(GuardRender, TheRcDeliversToTheGuardsSocket) {
  auto l = parsePolicy(kBase + "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = 25\n", "p.toml");
  ASSERT_TRUE(l.policy) << errors(l);
  fetchmail::RenderInput in;
  in.redactPassword = true;
  auto rc = fetchmail::renderRc(*l.policy, in);
  ASSERT_TRUE(rc.ok()) << rc.error();
  EXPECT_NE(rc->find("    lmtp smtphost \"\\x2fvar\\x2flib\\x2fdynmx\\x2fguard.sock\" smtpaddress \"example.com\"\n"),
            std::string::npos)
      << *rc;
  EXPECT_EQ(rc->find("dropdelivered"), std::string::npos) << "the guard needs the ISP's Delivered-To lines";
  EXPECT_EQ(rc->find("127.0.0.1"), std::string::npos) << "fetchmail never talks to the MTA itself";

  l.policy->delivery.guard = false;
  auto direct = fetchmail::renderRc(*l.policy, in);
  ASSERT_TRUE(direct.ok());
  EXPECT_NE(direct->find("    smtphost \"127.0.0.1\\x2f25\" smtpaddress \"example.com\"\n"), std::string::npos) << *direct;
  EXPECT_NE(direct->find("dropdelivered"), std::string::npos);
}

}  // namespace
}  // namespace dynmx::guard
