#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>

#include "dynmx/atomic_file.hpp"

using namespace dynmx;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dynmx-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};
}  // namespace

TEST(AtomicFile, WritesWithModeAndReplaces) {
  TempDir dir;
  auto file = (dir.path / "state.json").string();
  ASSERT_TRUE(writeFileAtomic(file, "one").ok());
  ASSERT_TRUE(writeFileAtomic(file, "two", {.mode = 0640}).ok());
  EXPECT_EQ(*readFile(file), "two");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // No temp files left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, StagedFileNotCommittedLeavesOldFile) {
  TempDir dir;
  auto file = (dir.path / "rc").string();
  ASSERT_TRUE(writeFileAtomic(file, "old").ok());
  {
    StagedFile staged(file, "new", {});
    ASSERT_TRUE(staged.ok());
    EXPECT_TRUE(fs::exists(staged.tempPath()));
  }
  EXPECT_EQ(*readFile(file), "old");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, MissingDirectoryIsAnErrorValue) {
  auto r = writeFileAtomic("/nonexistent-dynmx-dir/x", "data");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("/nonexistent-dynmx-dir/x"), std::string::npos);
  EXPECT_FALSE(readFile("/nonexistent-dynmx-dir/x").ok());
}
