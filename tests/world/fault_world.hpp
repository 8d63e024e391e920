#pragma once
// What the fault classes in the senders' world share (header only; each class is its own
// test binary): the daemon's status as JSON, its steady states, the multidrop MX set seen at
// the authority, and the world's final count after the faults.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "world.hpp"

namespace dynmx::world {

/// `dynmx status --json`, or an empty object if the daemon did not answer.
inline nlohmann::json statusOf(const World& w) {
  auto s = w.status();
  return s ? *s : nlohmann::json::object();
}

/// Mail is on `mode` and not on its way elsewhere.
inline bool steadyOn(const nlohmann::json& st, const std::string& mode) {
  return st["mode"]["current"] == mode && st["mode"]["switching"] == false && st["mode"]["step"].is_null();
}

/// The MX set example.com publishes on multidrop (the world's `[[mx]]`).
inline constexpr const char* kMultidropMx = "10 mx.isp.example.";

/// True once BIND publishes the multidrop MX set and dynmx has verified it there.
inline bool multidropMxVerified(const World& w) {
  auto mx = w.dig(kMailDomain, "MX");
  if (!mx.ok() || *mx != kMultidropMx) return false;
  const nlohmann::json st = statusOf(w);
  for (const auto& m : st["mx"])
    if (m["wanted"] == "multidrop" && m["verified"] == true) return true;
  return false;
}

/// The world's final count after the faults (the stream stops, the queues drain): every
/// copy once, none lost, none left at the ISP, none at a stranger or the hijacker, the
/// feeder never refused, the daemon alive.
inline void expectFinalCount(World& w, std::chrono::milliseconds bound = std::chrono::seconds(150)) {
  auto drained = w.drain(bound);
  ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << w.logs();
  const Account a = w.account();
  std::cout << "[ world    ] " << a.toJson().dump() << std::endl;
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.atIsp, 0);
  EXPECT_EQ(a.fetching, 0) << "copies fetched but never deleted from the box";
  EXPECT_EQ(a.misdirected, 0);
  EXPECT_GT(a.copies, 0);
  EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
  ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
}

}  // namespace dynmx::world
