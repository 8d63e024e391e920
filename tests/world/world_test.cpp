// The senders' world under test: every scenario × variant is one test (ctest label
// `world`), and the ISP's envelope headers are pinned.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

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
}

INSTANTIATE_TEST_SUITE_P(Scenarios, WorldRow, ::testing::ValuesIn(allRows()),
                         [](const ::testing::TestParamInfo<RowName>& row) {
                           return row.param.scenario + "_" + row.param.variant;
                         });

// The ISP of this world stores one copy per envelope recipient, each with the envelope
// header dynmx's fetchmail sorts by: X-Original-To (and Delivered-To) naming that recipient.
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

}  // namespace
}  // namespace dynmx::world
