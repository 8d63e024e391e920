#include <gtest/gtest.h>

#include "dynmx/process.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

TEST(RunProcess, CapturesOutputAndExitCode) {
  auto r = runProcess({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.exitCode, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.succeeded());
}

TEST(RunProcess, PassesEnvironmentWithoutShell) {
  auto r = runProcess({.argv = {"printenv", "DYNMX_X"}, .env = {{"DYNMX_X", "a b;$(c)"}}});
  ASSERT_TRUE(r.succeeded()) << r.error << r.err;
  EXPECT_EQ(r.out, "a b;$(c)\n");
}

TEST(RunProcess, MissingBinaryIsAnErrorValue) {
  auto r = runProcess({.argv = {"/nonexistent/dynmx-no-such-binary"}});
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
}

TEST(RunProcess, TimeoutKillsTheChild) {
  auto r = runProcess({.argv = {"sleep", "30"}, .timeout = 200ms});
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timedOut);
  EXPECT_EQ(r.signal, SIGKILL);
}
