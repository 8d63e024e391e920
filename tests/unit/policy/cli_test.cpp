// `dynmx check` as the admin runs it: the built binary, its output lines and exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "dynmx/process.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

ProcessResult check(const std::vector<std::string>& args) {
  const char* bin = std::getenv("DYNMX_BINARY");
  EXPECT_NE(bin, nullptr) << "DYNMX_BINARY is set by the test harness";
  ProcessSpec spec;
  spec.argv = {bin == nullptr ? "dynmx" : bin, "check"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = std::chrono::seconds(30);
  ProcessResult r = runProcess(spec);
  EXPECT_TRUE(r.started) << r.error;
  return r;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST(CheckCommand, ThreeErrorsThreeLinesAndFailure) {
  // The data file names /etc/dynmx/isp.password; point it at a good 0600 file so the three
  // errors in the text are the only ones.
  TempDir dir;
  std::string text = testing::dataFile("three_errors.toml");
  text = std::regex_replace(text, std::regex("/etc/dynmx/isp.password"), dir.write("isp.pw", "a"));
  const std::string file = dir.write("three_errors.toml", text);
  ProcessResult r = check({"-c", file});
  EXPECT_EQ(r.exitCode, 1);
  auto out = lines(r.out);
  std::regex located("^" + std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                     R"(:\d+:\d+: error: .+$)");
  std::size_t located_lines = 0;
  for (const auto& l : out) located_lines += std::regex_match(l, located) ? 1 : 0;
  EXPECT_EQ(located_lines, 3U) << r.out;
  ASSERT_EQ(out.size(), 4U) << r.out;
  EXPECT_EQ(out[3], file + ": 3 errors, 0 warnings");
}

TEST(CheckCommand, ShippedExamplePasses) {
  TempDir dir;
  std::string text = testing::sourceFile("docs/examples/dynmx.toml");
  ASSERT_FALSE(text.empty());
  text = std::regex_replace(text, std::regex("/etc/dynmx/isp.password"), dir.write("isp.pw", "a"));
  text = std::regex_replace(text, std::regex("/etc/dynmx/ddns.password"), dir.write("ddns.pw", "b"));
  const std::string file = dir.write("dynmx.toml", text);
  ProcessResult r = check({"-c", file});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, file + ": OK\n");
}

// Issue 12 item 8: `explain` honours the policy's link type. A dial-up policy was explained
// as if its link were dedicated (and so: direct).
TEST(ExplainCommand, ADialupPolicyIsExplainedAsDialup) {
  TempDir dir;
  std::string text = testing::sourceFile("docs/examples/dynmx.toml");
  ASSERT_FALSE(text.empty());
  text = std::regex_replace(text, std::regex("/etc/dynmx/isp.password"), dir.write("isp.pw", "a"));
  text = std::regex_replace(text, std::regex("/etc/dynmx/ddns.password"), dir.write("ddns.pw", "b"));
  text = std::regex_replace(text, std::regex("type = \"dedicated\""), "type = \"dialup\"");
  const std::string file = dir.write("dynmx.toml", text);
  const char* bin = std::getenv("DYNMX_BINARY");
  ASSERT_NE(bin, nullptr);
  ProcessSpec spec;
  spec.argv = {bin, "explain", "-c", file};
  spec.timeout = std::chrono::seconds(30);
  ProcessResult r = runProcess(spec);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("link:    dialup, up"));
  EXPECT_THAT(r.out, HasSubstr("decision:  multidrop"));
  // The command line still describes another situation when asked to.
  spec.argv = {bin, "explain", "-c", file, "--link", "dedicated"};
  r = runProcess(spec);
  EXPECT_THAT(r.out, HasSubstr("link:    dedicated, up"));
}

TEST(CheckCommand, WarningsAloneExitZeroAndQuietHidesThem) {
  TempDir dir;
  const std::string file =
      dir.write("w.toml",
                "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n[link]\ntype = \"dialup\"\n"
                "[ddns]\nstatic_address = \"203.0.113.7\"\n");
  ProcessResult r = check({"-c", file});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_THAT(r.out, HasSubstr(file + ":2:8: warning: mail mode direct on a dialup link"));
  EXPECT_THAT(r.out, HasSubstr(file + ": 0 errors, 1 warning\n"));
  r = check({"-c", file, "--quiet"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "");
}

TEST(CheckCommand, UnreadableFileExitsTwo) {
  TempDir dir;
  ProcessResult r = check({"-c", dir.path() + "/missing.toml"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_THAT(r.out, HasSubstr("missing.toml: error: cannot read the policy file"));
}

TEST(CheckCommand, NeverPrintsASecret) {
  TempDir dir;
  const std::string secret = "Sup3rS3cretValue";
  const std::string pwFile = dir.write("pw", secret + "\n", 0644);
  const std::string file = dir.write(
      "s.toml",
      "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n[envelope]\nheader = \"Delivered-To\"\n"
      "[users]\nwildcard = true\npostmaster = \"pm\"\n[isp]\nserver = \"pop.isp.example\"\nuser = \"u\"\n"
      "password = \"" +
          secret +
          "\"\ntls = \"none\"\n[[ddns.account]]\nname = \"a\"\nprovider = \"dyn\"\n"
          "username = \"u\"\npassword_file = \"" +
          pwFile + "\"\npassword = \"" + secret + "\"\nhosts = [\"h.example.com\"]\n");
  ProcessResult r = check({"-c", file});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.out, HasSubstr("chmod 600"));  // the file check ran
  EXPECT_THAT(r.out, HasSubstr("prefer password_file"));
  EXPECT_THAT(r.out + r.err, ::testing::Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace dynmx
