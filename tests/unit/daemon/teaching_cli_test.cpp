// `dynmx explain` and `dynmx render-fetchmail` as teaching tools, against the built binary:
// they read no secret (a missing password file is a note), explain refuses durations
// without a unit and options the situation ignores, and labels what it assumes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dynmx/process.hpp"

namespace dynmx {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TeachingCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("DYNMX_BINARY");
    ASSERT_NE(bin, nullptr) << "DYNMX_BINARY is set by the test harness";
    binary_ = bin;
    char tmpl[] = "/tmp/dynmx-teach-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    policy_ = write("dynmx.toml", policyText("auto", "auto"));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string policyText(const std::string& mode, const std::string& link) const {
    return "[mail]\nmode = \"" + mode +
           "\"\ndomains = [\"example.com\"]\n"
           "[link]\ntype = \"" +
           link +
           "\"\n"
           "[health]\nddns_failing_max = \"5m\"\nlink_down_max = \"2m\"\nhold_down = \"1h\"\n"
           "[isp]\nserver = \"pop.isp.example\"\nuser = \"office\"\npassword_file = \"" +
           dir_ +
           "/isp.password\"\n"
           "[envelope]\nheader = \"X-Original-To\"\n"
           "[users]\nwildcard = true\npostmaster = \"postmaster\"\n"
           "[[ddns.account]]\nname = \"main\"\nprovider = \"dyn\"\nusername = \"office\"\n"
           "password_file = \"" +
           dir_ +
           "/ddns.password\"\nhosts = [\"office.example.com\"]\n"
           "[ddns.detect]\nweb_sources = [\"https://ip.example.net/\"]\n"
           "[daemon]\nstate_dir = \"" +
           dir_ + "/state\"\n";
  }

  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  ProcessResult run(std::vector<std::string> args) const {
    ProcessSpec spec;
    spec.argv = {binary_};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = 20s;
    ProcessResult r = runProcess(spec);
    EXPECT_TRUE(r.started) << r.error;
    return r;
  }

  /// The notes both commands print for the two missing password files.
  std::string missingSecretNotes() const {
    return policy_ + ":13:17: note: isp.password_file: password file " + dir_ +
           "/isp.password does not exist (not needed here; `dynmx run` and `render-fetchmail --write` need "
           "it)\n" +
           policy_ + ":23:17: note: ddns.account[1].password_file: password file " + dir_ +
           "/ddns.password does not exist (not needed here; `dynmx run` and `render-fetchmail --write` need "
           "it)\n";
  }

  std::string binary_;
  std::string dir_;
  std::string policy_;
};

TEST_F(TeachingCli, ExplainLabelsTheAssumedSituationAndNeedsNoSecret) {
  auto r = run({"explain", "-c", policy_, "--now", "2026-11-23T10:00:00Z"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, missingSecretNotes());
  EXPECT_EQ(r.out, "policy:    auto (" + policy_ +
                       ")\n"
                       "situation: described here, not read from the running daemon\n"
                       "  link:    dedicated, up for 1d (assumed)\n"
                       "  ddns:    healthy for 1d (assumed)\n"
                       "  current: multidrop for 1d (assumed)\n"
                       "decision:  direct\n"
                       "  - [auto.healthy] the link is dedicated and up, DDNS is verified; healthy for 1d "
                       "and multidrop for 1d, "
                       "both at least the 1h hold-down\n"
                       "review:    only new input changes this\n");
}

TEST_F(TeachingCli, ExplainMarksWhatWasGiven) {
  auto r = run({"explain", "-c", policy_, "--now", "2026-11-23T10:00:00Z", "--current", "direct", "--ddns",
                "failing", "--ddns-for", "2m"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "policy:    auto (" + policy_ +
                ")\n"
                "situation: described here, not read from the running daemon\n"
                "  link:    dedicated, up for 1d (assumed)\n"
                "  ddns:    failing (ddns.mismatch) for 2m (given)\n"
                "  current: direct for 1d (given)\n"
                "decision:  direct\n"
                "  - [grace.ddns] DDNS is failing (ddns.mismatch: simulated) (for 2m); mail leaves direct in "
                "3m (2026-11-23T10:03:00Z) unless it recovers\n"
                "review:    in 3m (2026-11-23T10:03:00Z) if nothing else changes\n");
}

TEST_F(TeachingCli, ExplainTakesThePolicysLinkType) {
  const std::string dialup = write("dialup.toml", policyText("auto", "dialup"));
  auto r = run({"explain", "-c", dialup, "--now", "2026-11-23T10:00:00Z"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("  link:    dialup, up for 1d (assumed)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decision:  multidrop\n"), std::string::npos) << r.out;
}

TEST_F(TeachingCli, ExplainRejectsADurationWithoutAUnit) {
  auto r = run({"explain", "-c", policy_, "--ddns", "failing", "--ddns-for", "90"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(
      r.err,
      missingSecretNotes() +
          "dynmx explain: --ddns-for 90: write a number and a unit (s, m, h, d, w), e.g. 90s, 5m, 1h, 2d\n");
}

TEST_F(TeachingCli, ExplainRejectsAnOptionTheSituationIgnores) {
  // A code only means something for failing DDNS.
  auto code = run({"explain", "-c", policy_, "--ddns-code", "ddns.provider_fatal"});
  EXPECT_EQ(code.exitCode, 2);
  EXPECT_EQ(code.out, "");
  EXPECT_EQ(code.err,
            missingSecretNotes() +
                "dynmx explain: --ddns-code is ignored in this situation (the decision is the same whatever "
                "its value); leave it out\n");
  // From direct, how long mail has been direct changes nothing.
  auto forDirect = run({"explain", "-c", policy_, "--current", "direct", "--current-for", "3h"});
  EXPECT_EQ(forDirect.exitCode, 2);
  EXPECT_NE(forDirect.err.find("dynmx explain: --current-for is ignored in this situation"),
            std::string::npos)
      << forDirect.err;
  // A policy that fixes the mode ignores every part of the situation it does not warn about.
  const std::string fixed = write("fixed.toml", policyText("multidrop", "auto"));
  auto ddns = run({"explain", "-c", fixed, "--ddns", "failing"});
  EXPECT_EQ(ddns.exitCode, 2);
  EXPECT_NE(ddns.err.find(
                "dynmx explain: --ddns is ignored in this situation (the decision is the same whatever its "
                "value: the policy fixes the mode); leave it out\n"),
            std::string::npos)
      << ddns.err;
}

TEST_F(TeachingCli, RenderFetchmailNeedsNoSecret) {
  auto r = run({"render-fetchmail", "-c", policy_});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, missingSecretNotes());
  EXPECT_NE(r.out.find("poll \"pop.isp.example\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("isp.password"), std::string::npos) << "the password is redacted, its file never read";
  // --write reads the secret: there a missing file is an error.
  auto w = run({"render-fetchmail", "-c", policy_, "--write"});
  EXPECT_EQ(w.exitCode, 2) << w.out << w.err;
  EXPECT_NE(
      w.err.find(":13:17: error: isp.password_file: password file " + dir_ + "/isp.password does not exist"),
      std::string::npos)
      << w.err;
  // --password-file without --write is an option that would be ignored.
  auto p = run({"render-fetchmail", "-c", policy_, "--password-file", dir_ + "/other"});
  EXPECT_EQ(p.exitCode, 2);
  EXPECT_EQ(p.err, "dynmx render-fetchmail: --password-file is only read with --write; leave it out\n");
}

}  // namespace
}  // namespace dynmx
