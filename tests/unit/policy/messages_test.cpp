// Messages that point where the problem starts and stay readable: a string left open is
// reported at its opening quote (toml++ alone would name the end of the file), and long
// bad values are cut to kShownValueChars characters with "…". Exact texts, as admins see them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using testing::formatted;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> messages(const std::string& text) {
  return formatted(parsePolicy(text, "p.toml").diagnostics);
}

TEST(PolicyMessages, UnterminatedMultiLineBasicStringIsReportedWhereItOpens) {
  EXPECT_THAT(
      messages("[mail]\nmode = \"auto\"\n\n[daemon]\nlog = \"\"\"syslog\n\n[link]\ntype = \"auto\"\n"),
      ElementsAre("p.toml:5:7: error: TOML syntax: the string opened here with \"\"\" is never closed"));
}

TEST(PolicyMessages, UnterminatedMultiLineLiteralStringIsReportedWhereItOpens) {
  EXPECT_THAT(messages("[mail]\nmode = '''auto\ndomains = [\"example.com\"]\n"),
              ElementsAre("p.toml:2:8: error: TOML syntax: the string opened here with ''' is never closed"));
}

TEST(PolicyMessages, UnterminatedBasicStringIsReportedWhereItOpens) {
  EXPECT_THAT(
      messages("[mail]\nmode = \"auto\ndomains = [\"example.com\"]\n"),
      ElementsAre(
          "p.toml:2:8: error: TOML syntax: the string opened here with \" is not closed on its line"));
}

TEST(PolicyMessages, UnterminatedLiteralStringIsReportedWhereItOpens) {
  EXPECT_THAT(
      messages("[mail]\nmode = 'auto\n"),
      ElementsAre("p.toml:2:8: error: TOML syntax: the string opened here with ' is not closed on its line"));
}

TEST(PolicyMessages, ClosedStringsCommentsAndEscapesBeforeTheOpenOneAreSkipped) {
  // A '#' inside a string, a quote inside a comment, an escaped quote, a multi-line string
  // ending in two quotes of its own, a non-ASCII character (one column), then the open one.
  const std::string text =
      "[mail]\n"
      "mode = \"auto # not a comment\"  # it's a comment\n"
      "domains = [\"ex\\\"ample.com\", '''a\n''b''''']\n"
      "[link]\n"
      "interface = \"é\" # é\n"
      "type = \"\"\"dedicated\n";
  EXPECT_THAT(
      messages(text),
      ElementsAre("p.toml:7:8: error: TOML syntax: the string opened here with \"\"\" is never closed"));
}

TEST(PolicyMessages, ColumnsCountCharactersNotBytes) {
  EXPECT_THAT(messages("[link]\ninterface = \"é\"; type = \"x\n"),
              ElementsAre(HasSubstr("p.toml:2:")));  // toml++ itself stops at the ';'
  EXPECT_THAT(
      messages("[users]\nmap = { \"é\" = \"alice\", bob = \"bob }\n"),
      ElementsAre(
          "p.toml:2:30: error: TOML syntax: the string opened here with \" is not closed on its line"));
}

TEST(PolicyMessages, AnOpenPasswordStringNamesNoSecret) {
  const auto out = messages("[isp]\npassword = \"hunter2 and more\n");
  EXPECT_THAT(
      out, ElementsAre(
               "p.toml:2:12: error: TOML syntax: the string opened here with \" is not closed on its line"));
  EXPECT_THAT(out[0], Not(HasSubstr("hunter2")));
}

TEST(PolicyMessages, OtherSyntaxErrorsKeepTomlppsPosition) {
  // The array is unclosed; every string is closed, so toml++'s position and text stand.
  const auto out = messages("[mail]\nmode = \"auto\"\ndomains = [\"example.com\"\n");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_THAT(out[0], HasSubstr("p.toml:3:"));
  EXPECT_THAT(out[0], Not(HasSubstr("opened here")));
}

TEST(PolicyMessages, LongBadValueIsCutAfterSixtyCharacters) {
  const std::string value(100, 'x');
  // The other findings follow from the unknown mode (auto is assumed); the first is the one.
  EXPECT_THAT(messages("[mail]\nmode = \"" + value + "\"\ndomains = [\"example.com\"]\n"),
              Contains("p.toml:2:8: error: mail.mode: unknown value \"" + std::string(60, 'x') +
                       "\u2026\": expected one of direct, multidrop, auto"));
}

TEST(PolicyMessages, SixtyCharactersAreShownWhole) {
  const std::string value(60, 'y');
  // The other findings follow from the unknown mode (auto is assumed); the first is the one.
  EXPECT_THAT(messages("[mail]\nmode = \"" + value + "\"\ndomains = [\"example.com\"]\n"),
              Contains("p.toml:2:8: error: mail.mode: unknown value \"" + value +
                       "\": expected one of direct, multidrop, auto"));
}

TEST(PolicyMessages, LongValuesAreCutBetweenCharactersNotInsideOne) {
  std::string value;
  for (int i = 0; i < 70; ++i) value += "\u00e9";  // two bytes each
  std::string shown;
  for (int i = 0; i < 60; ++i) shown += "\u00e9";
  EXPECT_THAT(messages("[mail]\nmode = \"direct\"\ndomains = [\"" + value + "\"]\n[ddns]\nenabled = false\n"),
              ElementsAre("p.toml:3:12: error: mail.domains: \"" + shown +
                          "\u2026\" is not a domain name (e.g. \"example.com\")"));
}

TEST(PolicyMessages, LongUnknownKeyIsCut) {
  const std::string key(80, 'k');
  EXPECT_THAT(messages("[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n" + key +
                       " = 1\n[ddns]\nenabled = false\n"),
              ElementsAre("p.toml:4:1: error: unknown key '" + std::string(60, 'k') + "\u2026' in [mail]"));
}

TEST(PolicyMessages, LongBadDurationAndPathAreCut) {
  const std::string junk(75, 'z');
  const auto out = messages(
      "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n[ddns]\nenabled = false\n"
      "[health]\nhold_down = \"" +
      junk + "\"\n[daemon]\nstate_dir = \"" + junk + "\"\n");
  const std::string shown = "\"" + std::string(60, 'z') + "\u2026\"";
  EXPECT_THAT(out,
              ElementsAre("p.toml:7:13: error: health.hold_down: invalid duration " + shown +
                              ": write a number and a unit (s, m, h, d, w), e.g. \"90s\", \"5m\", \"1h\" or "
                              "\"1h30m\"",
                          HasSubstr("daemon.state_dir: " + shown + " must be an absolute path")));
}

}  // namespace
}  // namespace dynmx
