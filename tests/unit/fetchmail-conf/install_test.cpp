// installRc(): validate the staged temp file, then rename; on failure the old file stays.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
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

// Issue 12 item 6: the daemon's rc install never blocks the loop. `fetchmail --configdump`
// (here a stand-in that takes a while) runs as a child; a handler posted after the install
// began runs before it completes.
TEST(InstallAsync, TheLoopRunsWhileFetchmailValidates) {
  TempDir d;
  const std::string fake = d.path + "/fake-fetchmail";
  {
    std::ofstream out(fake);
    out << "#!/bin/sh\nsleep 0.3\ncase \"$4\" in *rc*) exit 0;; esac\nexit 9\n";
  }
  ::chmod(fake.c_str(), 0755);
  const std::string rc = d.path + "/fetchmailrc";
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  std::optional<Status<>> result;
  bool ranWhileValidating = false;
  installRcAsync(io, *launcher, rc, "poll x\n", fake, d.path, {}, {}, [&](Status<> s) { result = std::move(s); });
  EXPECT_FALSE(result.has_value()) << "installRcAsync returned only after fetchmail finished";
  boost::asio::post(io, [&] { ranWhileValidating = !result.has_value(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!result && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok()) << result->error();
  EXPECT_TRUE(ranWhileValidating);
  EXPECT_EQ(*readFile(rc), "poll x\n");
  EXPECT_EQ(modeOf(rc), 0600);
}

TEST(InstallAsync, ARejectedCandidateLeavesThePreviousFile) {
  TempDir d;
  const std::string fake = d.path + "/fake-fetchmail";
  {
    std::ofstream out(fake);
    out << "#!/bin/sh\necho 'fetchmail: syntax error' >&2\nexit 6\n";
  }
  ::chmod(fake.c_str(), 0755);
  const std::string rc = d.path + "/fetchmailrc";
  ASSERT_TRUE(writeFileAtomic(rc, "old\n").ok());
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  std::optional<Status<>> result;
  installRcAsync(io, *launcher, rc, "new\n", fake, d.path, {}, {}, [&](Status<> s) { result = std::move(s); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!result && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_NE(result->error().find("exit 6"), std::string::npos) << result->error();
  EXPECT_EQ(*readFile(rc), "old\n");
  EXPECT_EQ(d.entries().size(), 2u) << "no candidate left behind";
}

TEST(Scrub, RemovesPasswordsAsWrittenAndAsRead) {
  std::string rc = "user \"u\" there with password \"p\\x20w\\x22d\" is a b here\n";
  std::string text = "error near p\\x20w\\x22d and near p w\"d\n";
  EXPECT_EQ(scrubSecrets(text, rc), "error near ******** and near ********\n");
}

}  // namespace
}  // namespace dynmx::fetchmail
