// Issue 12 item 7: an exception escaping a handler of the daemon's loop is caught, reported
// and turned into a failed run, never a silent death.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "dynmx/loop_guard.hpp"

namespace dynmx {
namespace {

TEST(LoopGuard, AnEscapingExceptionIsReportedAndTheRunFails) {
  boost::asio::io_context io;
  bool later = false;
  boost::asio::post(io, [] { throw std::runtime_error("state machine broke"); });
  boost::asio::post(io, [&] { later = true; });
  std::string reported;
  EXPECT_FALSE(runLoopGuarded(io, [&](const std::string& what) { reported = what; }));
  EXPECT_EQ(reported, "state machine broke");
  EXPECT_FALSE(later) << "the loop stops at the failure";
  EXPECT_NE(kExitLoopCrashed, 0);
}

TEST(LoopGuard, ANormalEndIsClean) {
  boost::asio::io_context io;
  int ran = 0;
  boost::asio::post(io, [&] { ++ran; });
  bool crashed = false;
  EXPECT_TRUE(runLoopGuarded(io, [&](const std::string&) { crashed = true; }));
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(crashed);
}

TEST(LoopGuard, NonStandardExceptionsToo) {
  boost::asio::io_context io;
  boost::asio::post(io, [] { throw 42; });
  std::string reported;
  EXPECT_FALSE(runLoopGuarded(io, [&](const std::string& what) { reported = what; }));
  EXPECT_EQ(reported, "unknown exception");
}

}  // namespace
}  // namespace dynmx
