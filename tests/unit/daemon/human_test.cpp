#include "dynmx/status/human.hpp"

#include <gtest/gtest.h>

#include "dynmx/status/health.hpp"
#include "dynmx/status/state.hpp"
#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;

const TimePoint kNow = at("2026-11-23T12:13:00Z");

TEST(Human, MultidropWarningGolden) {
  Report r = test::multidropMismatch();
  computeHealth(r);
  test::expectGolden("multidrop_warning.txt", renderHuman(r, kNow));
}

TEST(Human, DirectOkGolden) {
  Report r = test::directHealthy();
  r.mode.since = at("2026-11-20T09:00:00Z");
  computeHealth(r);
  test::expectGolden("direct_ok.txt", renderHuman(r, kNow));
}

TEST(Human, CriticalWithFailuresGolden) {
  Report r = test::multidropMismatch();
  r.mode.policy = "multidrop";
  r.mode.reasons = {{"policy.multidrop", "the policy says multidrop", {}}};
  r.fetchmail.lastExit = 3;
  r.fetchmail.lastError = "AUTHFAIL: the ISP mailbox refused the user name or password";
  r.fetchmail.restarts = 2;
  r.ddns.hosts[1].fatal = "badauth";
  r.hooks.push_back({at("2026-11-23T10:00:02Z"), "/usr/local/sbin/notify", "multidrop", false, "timed out after 30s"});
  r.daemon.policyErrors = {"/etc/dynmx/dynmx.toml:4:7: error: expected a duration like 5m"};
  computeHealth(r);
  test::expectGolden("critical.txt", renderHuman(r, kNow));
}

TEST(Human, StaleGolden) {
  Report r = staleReport(test::directHealthy(), "/var/lib/dynmx/state.json", at("2026-11-23T11:00:00Z"));
  test::expectGolden("stale.txt", renderHuman(r, kNow));
}

TEST(Human, FirstLineSaysModeSinceAndWhy) {
  Report r = test::multidropMismatch();
  computeHealth(r);
  EXPECT_EQ(summaryLine(r),
            "dynmx: WARNING: mail via multidrop since 2026-11-23T10:00:00Z (ddns.mismatch: office.example.com "
            "resolves to 198.51.100.9 at ns1, expected 203.0.113.7)");
}

TEST(Human, SaysForHowLong) {
  Report r = test::multidropMismatch();
  computeHealth(r);
  EXPECT_NE(renderHuman(r, kNow).find("since 2026-11-23T10:00:00Z, for 2h13m"), std::string::npos);
}

TEST(Human, TheSweepSaysItsIntervalItsLastResultAndItsNextTime) {
  Report r = test::directHealthy();
  EXPECT_EQ(renderHuman(r, kNow).find("sweep:"), std::string::npos) << "no sweep configured, no line";
  r.sweep.interval = std::chrono::minutes(15);
  r.sweep.last = at("2026-11-23T12:00:00Z");
  r.sweep.lastOk = false;
  r.sweep.lastDetail = "fetchmail exit 2 (SOCKET)";
  r.sweep.failures = 3;
  r.sweep.next = at("2026-11-23T12:15:00Z");
  computeHealth(r);
  const std::string text = renderHuman(r, kNow);
  EXPECT_NE(text.find("sweep:      every 15m while direct; last 2026-11-23T12:00:00Z FAILED (fetchmail exit 2 "
                      "(SOCKET)), 3 failures in a row; next 2026-11-23T12:15:00Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("fetchmail.sweep_failed: the sweep of the ISP mailbox failed 3 times in a row"), std::string::npos)
      << text;
}

TEST(Human, StaleReportNamesTheFileAndTime) {
  Report r = staleReport(test::directHealthy(), "/var/lib/dynmx/state.json", at("2026-11-23T11:00:00Z"));
  const std::string text = renderHuman(r, kNow);
  EXPECT_NE(text.find("daemon died or was killed (no clean stop recorded); last known state from "
                      "/var/lib/dynmx/state.json, written at 2026-11-23T11:00:00Z"),
            std::string::npos)
      << text;
}

TEST(Human, UnknownWithoutState) {
  Report r = unknownReport("daemon not answering; no state file");
  EXPECT_EQ(summaryLine(r), "dynmx: UNKNOWN: mail mode unknown (daemon not answering; no state file)");
  EXPECT_EQ(renderHuman(r, kNow),
            "dynmx: UNKNOWN: mail mode unknown (daemon not answering; no state file)\n"
            "daemon not answering; no state file\n");
}

}  // namespace
}  // namespace dynmx::status
