#include "dynmx/status/state.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include "dynmx/status/json.hpp"
#include "fixtures.hpp"

namespace dynmx::status {
namespace {

namespace fs = std::filesystem;

class StateFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dynmx-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/state.json";
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& content) { std::ofstream(path_, std::ios::binary) << content; }

  std::string dir_;
  std::string path_;
};

TEST_F(StateFile, RoundTrip) {
  Report r = test::multidropMismatch();
  ASSERT_TRUE(saveState(path_, r).ok());
  auto back = loadState(path_);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(toJson(*back), toJson(r));
}

TEST_F(StateFile, IsWrittenWithMode0640) {
  ASSERT_TRUE(saveState(path_, test::directHealthy()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(StateFile, MissingIsAnError) {
  auto r = loadState(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find(path_), std::string::npos);
}

TEST_F(StateFile, TornFileIsAnErrorValue) {
  Report r = test::multidropMismatch();
  std::string full = dumpJson(toJson(r), 2);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, full.size() / 3, full.size() / 2, full.size() - 2}) {
    write(full.substr(0, cut));
    auto back = loadState(path_);
    EXPECT_FALSE(back.ok()) << "cut at " << cut;
  }
}

TEST_F(StateFile, GarbageIsAnErrorValue) {
  for (const std::string& garbage : {std::string("\x00\x01\x02", 3), std::string("[1,2,3]"), std::string("{\"mode\": 5}"),
                                    std::string("{\"switches\": [{\"at\": 12}]}")}) {
    write(garbage);
    EXPECT_NO_THROW({
      auto back = loadState(path_);
      EXPECT_FALSE(back.ok());
    });
  }
}

TEST_F(StateFile, DirectoryIsNotAStateFile) {
  auto r = loadState(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not a regular file"), std::string::npos);
}

TEST_F(StateFile, SaveIntoMissingDirectoryIsAnErrorValue) {
  EXPECT_FALSE(saveState(dir_ + "/nope/state.json", test::directHealthy()).ok());
}

TEST(StaleReport, ADaemonThatIsNotRunningIsCritical) {
  Report r = staleReport(test::directHealthy(), "/var/lib/dynmx/state.json", test::at("2026-11-23T11:00:00Z"));
  EXPECT_FALSE(r.daemon.running);
  EXPECT_EQ(r.health, Health::Critical);
}

TEST(StaleReport, KeepsCritical) {
  Report c = test::multidropMismatch();
  c.ddns.hosts[0].fatal = "abuse";
  Report r = staleReport(c, "/var/lib/dynmx/state.json", test::at("2026-11-23T11:00:00Z"));
  EXPECT_EQ(r.health, Health::Critical);
}

TEST(UnknownReport, IsUnknown) {
  Report r = unknownReport("no state");
  EXPECT_EQ(r.health, Health::Unknown);
  EXPECT_FALSE(r.daemon.running);
}

}  // namespace
}  // namespace dynmx::status
