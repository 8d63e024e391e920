// installRc(): validate the staged temp file, then rename; on failure the old file stays.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "dynmx/atomic_file.hpp"
#include "dynmx/fetchmail_conf.hpp"

namespace dynmx::fetchmail {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/dynmx-fmc-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  [[nodiscard]] std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(Install, ValidatesTheTempFileThenRenames) {
  TempDir d;
  const std::string rc = d.path + "/fetchmailrc";
  std::string seenPath;
  mode_t seenMode = 0;
  std::string seenContent;
  Validator v = [&](const std::string& path) {
    seenPath = path;
    seenMode = modeOf(path);
    seenContent = *readFile(path);
    return Validation{true, 0, ""};
  };
  ASSERT_TRUE(installRc(rc, "set daemon 60\n", v).ok());
  EXPECT_NE(seenPath, rc);                       // the candidate, not the live file
  EXPECT_EQ(seenPath.rfind(rc, 0), 0u);          // next to it, so rename is atomic
  EXPECT_EQ(seenMode, 0600);                     // never group/world readable, even staged
  EXPECT_EQ(seenContent, "set daemon 60\n");
  EXPECT_EQ(*readFile(rc), "set daemon 60\n");
  EXPECT_EQ(modeOf(rc), 0600);
  EXPECT_EQ(d.entries(), std::vector<std::string>{"fetchmailrc"});
}

TEST(Install, FailedValidationKeepsThePreviousFile) {
  TempDir d;
  const std::string rc = d.path + "/fetchmailrc";
  ASSERT_TRUE(writeFileAtomic(rc, "previous\n").ok());
  Validator reject = [](const std::string& path) {
    return Validation{false, 5, "fetchmail:" + path + ":3: syntax error at user\n"};
  };
  auto r = installRc(rc, "password \"hunter2\"\n", reject);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("exit 5"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("syntax error"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find(rc + " (candidate)"), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find("hunter2"), std::string::npos) << r.error();
  EXPECT_EQ(*readFile(rc), "previous\n");
  EXPECT_EQ(d.entries(), std::vector<std::string>{"fetchmailrc"});  // temp removed
}

TEST(Install, OwnerIsApplied) {
  TempDir d;
  const std::string rc = d.path + "/fetchmailrc";
  InstallOptions o;
  o.owner = ::geteuid();
  o.group = ::getegid();
  ASSERT_TRUE(installRc(rc, "x\n", [](const std::string&) { return Validation{true, 0, ""}; }, o).ok());
  struct stat st {};
  ASSERT_EQ(::stat(rc.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(modeOf(rc), 0600);
}

TEST(Install, UnwritableDirectoryIsAnError) {
  auto r = installRc("/nonexistent-dynmx-dir/fetchmailrc", "x\n",
                     [](const std::string&) { return Validation{true, 0, ""}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("/nonexistent-dynmx-dir/fetchmailrc"), std::string::npos);
}

TEST(Scrub, RemovesPasswordsAsWrittenAndAsRead) {
  std::string rc = "user \"u\" there with password \"p\\x20w\\x22d\" is a b here\n";
  std::string text = "error near p\\x20w\\x22d and near p w\"d\n";
  EXPECT_EQ(scrubSecrets(text, rc), "error near ******** and near ********\n");
}

}  // namespace
}  // namespace dynmx::fetchmail
