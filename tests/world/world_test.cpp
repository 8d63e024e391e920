// The senders' world under test: every scenario × variant is one test (ctest label
// `world`), and the ISP's envelope headers are pinned.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "scenario.hpp"
#include "smtp_client.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/mail_sink.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;

struct RowName {
  std::string scenario, variant;
};

std::vector<RowName> allRows() {
  std::vector<RowName> rows;
  for (const auto& s : scenarios())
    for (const auto& v : variants()) rows.push_back({s.id, v.name});
  return rows;
}

/// How gtest and ctest name a row's parameter.
void PrintTo(const RowName& row, std::ostream* os) { *os << row.scenario << "/" << row.variant; }

class WorldRow : public ::testing::TestWithParam<RowName> {};

TEST_P(WorldRow, NothingLostNothingDuplicatedExposureAsPinned) {
  const Scenario* s = findScenario(GetParam().scenario);
  const Variant* v = findVariant(GetParam().variant);
  ASSERT_NE(s, nullptr);
  ASSERT_NE(v, nullptr);
  auto row = runRow(*s, *v, dynmxBinary(), dyndns2dBinary());
  ASSERT_TRUE(row.ok()) << row.error();
  std::string timeline;
  for (const auto& t : row->timeline) timeline += t + "\n";
  const auto problems = checkRow(*s, *row);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems) << "\n"
                                << rowJson(*row).dump(2) << "\n" << timeline;
  // Shown for every run, so a change of the measured numbers is visible in the CI log.
  std::cout << rowJson(*row).dump() << "\n";
  if (std::getenv("WORLD_TIMELINE") != nullptr) std::cout << timeline;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, WorldRow, ::testing::ValuesIn(allRows()),
                         [](const ::testing::TestParamInfo<RowName>& row) {
                           return row.param.scenario + "_" + row.param.variant;
                         });

// The ISP of this world stores one copy per envelope recipient, each with the envelope
// header dynmx's fetchmail sorts by: X-Original-To (and Delivered-To) naming that recipient.
// SMTP's own duplicates (RFC 5321 6.1): the world counts an extra delivery apart from the
// duplicates only for a message whose end-of-data reply the senders' Postfix says it lost.
// Real log lines of the g_restart_multidrop/offline row of one clean-clone run.
TEST(WorldAccount, ASendersWarningThatAMessageMayBeSentTwiceIsTiedToItsMessage) {
  const std::string maillog =
      "Dec 02 00:14:20 sender world-sender/cleanup[20670]: 7AACAA78046: message-id=<m0003@sender.example.org>\n"
      "Dec 02 00:14:20 sender world-sender/cleanup[20670]: 7BBBBA78047: message-id=<m0004@sender.example.org>\n"
      "Dec 02 00:14:50 sender world-sender/smtp[20681]: 7AACAA78046: conversation with "
      "office.dyn.example.net[203.0.113.7] timed out while sending end of data -- message may be sent more than once\n"
      "Dec 02 00:14:50 sender world-sender/smtp[20682]: 7BBBBA78047: conversation with "
      "office.dyn.example.net[203.0.113.7] timed out while sending RCPT TO\n"
      "Dec 02 00:14:51 sender world-sender/smtp[20683]: 7CCCCA78048: lost connection with "
      "office.dyn.example.net[203.0.113.7] while sending end of data -- message may be sent more than once\n";
  // m0004 timed out before its data: it cannot have been delivered, so no warning; the
  // last warning names a queue id without a message-id line: nothing to tie it to.
  EXPECT_EQ(mayBeSentTwice(maillog), (std::map<std::string, int>{{"m0003", 1}}));
  EXPECT_TRUE(mayBeSentTwice("").empty());
}

TEST(WorldIsp, OneCopyPerRecipientWithEnvelopeHeaders) {
  World w(dynmxBinary(), dyndns2dBinary(), "wisp");
  auto started = w.start({"direct", "dedicated", ""});  // direct: nothing fetches the box
  ASSERT_TRUE(started.ok()) << started.error();
  Submission m{"news@example.org",
               {"alice@example.com", "bob@example.com"},
               "From: news@example.org\r\nTo: staff@lists.example.org\r\nSubject: isp pin\r\n"
               "X-Test-Id: isp-1\r\n\r\nhello\r\n"};
  auto sent = submitSmtp(kIspMxAddress, 25, m);
  ASSERT_TRUE(sent.ok()) << sent.error();
  ASSERT_TRUE(testbed::eventually([&] { return w.ispBox().count("office") == 2; }, 30s))
      << w.isp().maillog();
  std::multiset<std::string> originalTo, deliveredTo;
  for (const auto& e : std::filesystem::directory_iterator(w.ispBox().maildir("office") + "/new")) {
    const std::string text = testbed::slurp(e.path().string());
    EXPECT_EQ(testbed::headerValue(text, "X-Test-Id"), "isp-1");
    originalTo.insert(testbed::headerValue(text, "X-Original-To"));
    deliveredTo.insert(testbed::headerValue(text, "Delivered-To"));
  }
  const std::multiset<std::string> both = {"alice@example.com", "bob@example.com"};
  EXPECT_EQ(originalTo, both) << "one copy per recipient, each naming its own (Bcc'd bob too)";
  EXPECT_EQ(deliveredTo, both);
  const Account a = w.account();
  EXPECT_EQ(a.messages, 0) << "the stream never ran";
}

// The end-to-end story of tests/integration-e2e, with the mail sent by the senders instead
// of being put into the ISP box: the office's link drops, the senders fall back to the ISP,
// dynmx leaves direct and fetches; the link returns, dynmx waits out the hold-down, drains
// the box and returns to direct. Every copy arrives exactly once, none at a stranger.
TEST(WorldEndToEnd, FailoverAndRecoveryBySenders) {
  World w(dynmxBinary(), dyndns2dBinary(), "we2e");
  auto started = w.start({"auto", "dedicated", ""});
  ASSERT_TRUE(started.ok()) << started.error();
  auto modeIs = [&](const std::string& want) {
    auto st = w.status();
    return st && (*st)["mode"]["current"] == want && !(*st)["mode"]["switching"].get<bool>();
  };
  ASSERT_TRUE(modeIs("direct"));
  w.startStream(1000ms);
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(w.linkDown().ok());
  ASSERT_TRUE(testbed::eventually([&] { return modeIs("multidrop"); }, 30s)) << w.logs();
  auto down = w.status();
  ASSERT_TRUE(down);
  EXPECT_NE((*down)["mode"]["reasons"].dump().find("link.down"), std::string::npos) << (*down)["mode"].dump(2);
  // The senders' mail now reaches the office through the ISP box and fetchmail.
  ASSERT_TRUE(testbed::eventually([&] { return w.account().viaIsp > 0; }, 40s)) << w.logs();
  ASSERT_TRUE(w.linkUp().ok());
  ASSERT_TRUE(testbed::eventually([&] { return modeIs("direct"); }, 60s)) << w.logs();
  std::this_thread::sleep_for(3s);  // direct again: the senders' mail reaches the office itself
  auto drained = w.drain(120s);
  ASSERT_TRUE(drained.ok()) << drained.error();
  const Account a = w.account();
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.misdirected, 0);
  EXPECT_EQ(a.atIsp, 0) << "the drain before direct left mail at the ISP";
  EXPECT_GT(a.viaIsp, 0);
  EXPECT_GT(a.direct, 0);
  EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
  auto end = w.status();
  ASSERT_TRUE(end);
  const auto& switches = (*end)["switches"];
  ASSERT_GE(switches.size(), 3u) << switches.dump(2);  // start → direct, → multidrop, → direct
  EXPECT_EQ(switches[switches.size() - 2]["to"], "multidrop") << switches.dump(2);
  EXPECT_EQ(switches.back()["to"], "direct") << switches.dump(2);
  std::cout << a.toJson().dump() << "\n";
}

}  // namespace
}  // namespace dynmx::world
