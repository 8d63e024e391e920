#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>

#include "dynmx/async_process.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

namespace {
// Run the loop until `done` or a generous bound (a hang fails the test instead of blocking).
void runUntil(boost::asio::io_context& io, const bool& done) {
  boost::asio::steady_timer guard(io, 20s);
  guard.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) io.stop();
  });
  while (!done && !io.stopped()) io.run_one();
}
}  // namespace

TEST(AsyncProcess, DeliversLinesThenExit) {
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  std::vector<std::string> out, err;
  ChildExit exit;
  bool done = false;
  std::string error;
  auto child = launcher->launch({.argv = {"sh", "-c", "echo one; echo two >&2; printf tail; exit 4"},
                                 .timeout = 0ms},
                                {.onStdout = [&](const std::string& l) { out.push_back(l); },
                                 .onStderr = [&](const std::string& l) { err.push_back(l); },
                                 .onExit = [&](const ChildExit& e) { exit = e; done = true; }},
                                error);
  ASSERT_NE(child, nullptr) << error;
  runUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "tail"}));
  EXPECT_EQ(err, std::vector<std::string>{"two"});
  EXPECT_EQ(exit.exitCode, 4);
  EXPECT_FALSE(child->running());
}

TEST(AsyncProcess, TimeoutKills) {
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  ChildExit exit;
  bool done = false;
  std::string error;
  auto child = launcher->launch({.argv = {"sleep", "60"}, .timeout = 100ms},
                                {.onExit = [&](const ChildExit& e) { exit = e; done = true; }}, error);
  ASSERT_NE(child, nullptr) << error;
  runUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_TRUE(exit.timedOut);
  EXPECT_EQ(exit.signal, SIGKILL);
}

TEST(AsyncProcess, SignalStopsAndManyChildrenAreReaped) {
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  int finished = 0;
  std::string error;
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < 10; ++i) {
    children.push_back(launcher->launch({.argv = {"true"}, .timeout = 0ms},
                                        {.onExit = [&](const ChildExit&) { ++finished; }}, error));
    ASSERT_NE(children.back(), nullptr) << error;
  }
  bool sleeperDone = false;
  ChildExit sleeperExit;
  auto sleeper = launcher->launch({.argv = {"sleep", "60"}, .timeout = 0ms},
                                  {.onExit = [&](const ChildExit& e) { sleeperExit = e; sleeperDone = true; }},
                                  error);
  sleeper->signal(SIGTERM);
  runUntil(io, sleeperDone);
  bool allDone = false;
  boost::asio::steady_timer poll(io);
  std::function<void()> check = [&] {
    if (finished == 10) { allDone = true; return; }
    poll.expires_after(10ms);
    poll.async_wait([&](const boost::system::error_code&) { check(); });
  };
  check();
  runUntil(io, allDone);
  EXPECT_EQ(finished, 10);
  EXPECT_EQ(sleeperExit.signal, SIGTERM);
}

TEST(AsyncProcess, MissingProgramIsAnError) {
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  std::string error;
  auto child = launcher->launch({.argv = {"/nonexistent/fetchmail"}}, {}, error);
  EXPECT_EQ(child, nullptr);
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}
