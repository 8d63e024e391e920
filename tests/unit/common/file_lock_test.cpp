// The state lock: one holder at a time, released with the holder.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "dynmx/file_lock.hpp"

namespace dynmx {
namespace {

class FileLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dynmx-lock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FileLockTest, SecondHolderIsRefusedUntilTheFirstLetsGo) {
  const std::string path = dir_ + "/ddns-state.lock";
  EXPECT_FALSE(FileLock::heldElsewhere(path));
  {
    auto first = FileLock::tryAcquire(path);
    ASSERT_TRUE(first.ok()) << first.error();
    EXPECT_TRUE(FileLock::heldElsewhere(path));
    auto second = FileLock::tryAcquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().find("held by another process"), std::string::npos) << second.error();
  }
  EXPECT_FALSE(FileLock::heldElsewhere(path));
  auto again = FileLock::tryAcquire(path);
  EXPECT_TRUE(again.ok());
}

TEST_F(FileLockTest, RefusesASymlinkInsteadOfLockingItsTarget) {
  const std::string target = dir_ + "/elsewhere";
  const std::string link = dir_ + "/ddns-state.lock";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto lock = FileLock::tryAcquire(link);
  EXPECT_FALSE(lock.ok());
  EXPECT_FALSE(std::filesystem::exists(target)) << "the link's target must not be created";
}

}  // namespace
}  // namespace dynmx
