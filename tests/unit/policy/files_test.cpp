// Secret files: readable only by the owner, read exactly, and never quoted in an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using testing::formatted;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

constexpr const char* kSecret = "Sup3rS3cretValue";

TEST(SecretFile, StripsExactlyOneTrailingNewline) {
  TempDir dir;
  EXPECT_EQ(readSecretFile(dir.write("a", "pw\n")).secret, "pw");
  EXPECT_EQ(readSecretFile(dir.write("b", "pw\n\n")).secret, "pw\n");
  EXPECT_EQ(readSecretFile(dir.write("c", "pw")).secret, "pw");
  EXPECT_EQ(readSecretFile(dir.write("d", " p\"w\\ \xc3\xa9")).secret, " p\"w\\ \xc3\xa9");
}

TEST(SecretFile, GroupReadableIsRefusedWithTheChmodToRun) {
  TempDir dir;
  const std::string path = dir.write("isp.password", std::string(kSecret) + "\n", 0644);
  SecretRead r = readSecretFile(path);
  EXPECT_FALSE(r.secret.has_value());
  EXPECT_EQ(r.error,
            "password file " + path + " is readable by group/other (mode 0644): run chmod 600 " + path);
  EXPECT_THAT(r.error, Not(HasSubstr(kSecret)));
}

TEST(SecretFile, OtherBitsAloneAreRefusedToo) {
  TempDir dir;
  SecretRead r = readSecretFile(dir.write("p", kSecret, 0604));
  EXPECT_THAT(r.error, HasSubstr("(mode 0604)"));
  r = readSecretFile(dir.write("q", kSecret, 0620));
  EXPECT_THAT(r.error, HasSubstr("(mode 0620)"));
  r = readSecretFile(dir.write("r", kSecret, 0400));
  EXPECT_EQ(r.secret, kSecret);
}

TEST(SecretFile, MissingEmptyAndNotRegular) {
  TempDir dir;
  EXPECT_EQ(readSecretFile(dir.path() + "/nope").error,
            "password file " + dir.path() + "/nope does not exist");
  EXPECT_EQ(readSecretFile(dir.write("e", "")).error, "password file " + dir.path() + "/e is empty");
  EXPECT_EQ(readSecretFile(dir.write("n", "\n")).error, "password file " + dir.path() + "/n is empty");
  ::chmod(dir.path().c_str(), 0700);
  EXPECT_EQ(readSecretFile(dir.path()).error, "password file " + dir.path() + " is not a regular file");
}

TEST(SecretFile, OversizedIsRefusedWithoutContent) {
  TempDir dir;
  std::string big(5000, 'x');
  big += kSecret;
  SecretRead r = readSecretFile(dir.write("big", big));
  EXPECT_FALSE(r.secret.has_value());
  EXPECT_THAT(r.error, Not(HasSubstr(kSecret)));
  EXPECT_THAT(r.error, HasSubstr("larger than 4096 bytes"));
}

std::string policyWithPasswordFile(const std::string& file) {
  return "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n[envelope]\nheader = \"Delivered-To\"\n"
         "[users]\nwildcard = true\npostmaster = \"pm\"\n[isp]\nserver = \"pop.isp.example\"\nuser = \"u\"\n"
         "password_file = \"" +
         file + "\"\n";
}

TEST(LoadPolicy, PasswordFileModePointsAtTheKey) {
  TempDir dir;
  const std::string pw = dir.write("isp.password", kSecret, 0644);
  const std::string policy = dir.write("dynmx.toml", policyWithPasswordFile(pw));
  PolicyLoad load = loadPolicy(policy);
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_FALSE(load.unreadable);
  EXPECT_THAT(formatted(load.diagnostics),
              ::testing::ElementsAre(policy + ":12:17: error: isp.password_file: password file " + pw +
                                     " is readable by group/other (mode 0644): run chmod 600 " + pw));
}

TEST(LoadPolicy, GoodPasswordFileGivesAPolicy) {
  TempDir dir;
  const std::string pw = dir.write("isp.password", kSecret, 0600);
  PolicyLoad load = loadPolicy(dir.write("dynmx.toml", policyWithPasswordFile(pw)));
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_EQ(readSecretFile(load.policy->isp.passwordFile).secret, kSecret);
}

TEST(LoadPolicy, MissingPasswordFileIsAnError) {
  TempDir dir;
  const std::string policy = dir.write("dynmx.toml", policyWithPasswordFile(dir.path() + "/absent"));
  PolicyLoad load = loadPolicy(policy);
  EXPECT_THAT(formatted(load.diagnostics),
              ::testing::ElementsAre(policy + ":12:17: error: isp.password_file: password file " +
                                     dir.path() + "/absent does not exist"));
}

TEST(LoadPolicy, FileChecksRunEvenWhenTheTextHasErrors) {
  TempDir dir;
  const std::string pw = dir.write("isp.password", kSecret, 0640);
  const std::string policy = dir.write("dynmx.toml", policyWithPasswordFile(pw) + "bogus = 1\n");
  PolicyLoad load = loadPolicy(policy);
  ASSERT_EQ(load.diagnostics.size(), 2U) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_THAT(load.diagnostics[0].message, HasSubstr("chmod 600"));
  EXPECT_THAT(load.diagnostics[1].message, HasSubstr("unknown key 'bogus'"));
}

TEST(LoadPolicy, UnreadablePolicyFile) {
  TempDir dir;
  PolicyLoad load = loadPolicy(dir.path() + "/none.toml");
  EXPECT_TRUE(load.unreadable);
  EXPECT_FALSE(load.policy.has_value());
  ASSERT_EQ(load.diagnostics.size(), 1U);
  EXPECT_EQ(load.diagnostics[0].line, 0);
}

/// The shipped example with its password files pointed at fresh 0600 files.
}  // namespace
/// The shipped example with its password files pointed at fresh 0600 files (shared with cli_test).
std::string exampleWithSecrets(const TempDir& dir) {
  std::string text = testing::sourceFile("docs/examples/dynmx.toml");
  EXPECT_FALSE(text.empty());
  text = std::regex_replace(text, std::regex("/etc/dynmx/isp.password"), dir.write("isp.pw", "a"));
  text = std::regex_replace(text, std::regex("/etc/dynmx/ddns.password"), dir.write("ddns.pw", "b"));
  return text;
}
namespace {

TEST(LoadPolicy, ShippedExampleIsValidAndClean) {
  TempDir dir;
  PolicyLoad load = loadPolicy(dir.write("dynmx.toml", exampleWithSecrets(dir)));
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());
  EXPECT_EQ(load.policy->mail.domains, std::vector<std::string>{"example.com"});
  EXPECT_EQ(load.policy->isp.server, "pop.isp.example");
}

}  // namespace
}  // namespace dynmx

namespace dynmx {
namespace {

// Issue 12 item 4: a symbolic link is refused, never followed, and never answered with a
// chmod advice for its target (a link to /etc/shadow once got "run chmod 600").
TEST(SecretFile, ASymlinkIsRefusedWithoutChmodAdvice) {
  TempDir dir;
  const std::string target = dir.write("real.password", kSecret, 0644);
  const std::string link = dir.path() + "/isp.password";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  SecretRead r = readSecretFile(link);
  EXPECT_FALSE(r.secret.has_value());
  EXPECT_THAT(r.error, HasSubstr("is a symbolic link"));
  EXPECT_THAT(r.error, Not(HasSubstr("chmod")));
  ASSERT_EQ(::symlink("/etc/shadow", (dir.path() + "/shadow").c_str()), 0);
  r = readSecretFile(dir.path() + "/shadow");
  EXPECT_THAT(r.error, HasSubstr("is a symbolic link"));
  EXPECT_THAT(r.error, Not(HasSubstr("chmod")));
  PolicyLoad load = loadPolicy(dir.write("dynmx.toml", policyWithPasswordFile(dir.path() + "/shadow")));
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_THAT(formatted(load.diagnostics), ::testing::Contains(HasSubstr("is a symbolic link")));
}

// Issue 12 item 4: one rule: the daemon user can read it, nobody else. Checked as root,
// a root-owned 0600 file is refused: the daemon, no longer root, could not read it.
TEST(LoadPolicy, AsRootThePasswordFileMustBelongToTheDaemonUser) {
  ASSERT_EQ(::geteuid(), 0u) << "checks what `dynmx check` run as root says";
  ASSERT_NE(::getpwnam("dynmx"), nullptr) << "the daemon user dynmx (scripts/deps.sh)";
  TempDir dir;
  const std::string pw = dir.write("isp.password", kSecret, 0600);
  ASSERT_EQ(::chown(pw.c_str(), 0, 0), 0);
  PolicyLoad load = loadPolicy(dir.write("dynmx.toml", policyWithPasswordFile(pw)));
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_THAT(formatted(load.diagnostics),
              ::testing::Contains(HasSubstr("belongs to root, not to the daemon user dynmx who must read it: "
                                            "run chown dynmx " + pw)));
  // The daemon user's own file passes.
  const passwd* d = ::getpwnam("dynmx");
  ASSERT_EQ(::chown(pw.c_str(), d->pw_uid, d->pw_gid), 0);
  EXPECT_TRUE(loadPolicy(dir.path() + "/dynmx.toml").policy.has_value());
}

// Issue 12 item 4: secrets from systemd's LoadCredential= and from the environment.
TEST(LoadPolicy, SecretsFromCredentialsDirectoryAndEnvironment) {
  TempDir dir;
  const std::string creds = dir.path() + "/creds";
  ASSERT_EQ(::mkdir(creds.c_str(), 0700), 0);
  {
    std::ofstream(creds + "/isp") << "cred-" << kSecret << "\n";
  }
  ::chmod((creds + "/isp").c_str(), 0400);
  std::string text = policyWithPasswordFile("X");
  text.replace(text.find("password_file = \"X\""), std::string("password_file = \"X\"").size(),
               "password_credential = \"isp\"");
  ::setenv("CREDENTIALS_DIRECTORY", creds.c_str(), 1);
  PolicyLoad load = loadPolicy(dir.write("cred.toml", text));
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_EQ(load.policy->isp.password, "cred-" + std::string(kSecret));
  EXPECT_THAT(formatted(load.diagnostics), ::testing::IsEmpty());

  // Outside systemd the credential cannot be read: check says so, as a warning.
  load = loadPolicy(dir.path() + "/cred.toml");
  EXPECT_THAT(formatted(load.diagnostics), ::testing::Contains(HasSubstr("$CREDENTIALS_DIRECTORY is not set")));

  std::string envText = text;
  envText.replace(envText.find("password_credential = \"isp\""), std::string("password_credential = \"isp\"").size(),
                  "password_env = \"DYNMX_TEST_ISP_PASSWORD\"");
  ::setenv("DYNMX_TEST_ISP_PASSWORD", kSecret, 1);
  load = loadPolicy(dir.write("env.toml", envText));
  ::unsetenv("DYNMX_TEST_ISP_PASSWORD");
  ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
  EXPECT_EQ(load.policy->isp.password, kSecret);

  // One way only.
  std::string both = text;
  both += "";
  both.insert(both.find("password_credential"), "password_file = \"/etc/dynmx/isp.password\"\n");
  load = loadPolicy(dir.write("both.toml", both));
  EXPECT_THAT(formatted(load.diagnostics), ::testing::Contains(HasSubstr("give the secret one way only")));
}

}  // namespace
}  // namespace dynmx
