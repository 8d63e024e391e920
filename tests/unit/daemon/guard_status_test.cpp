// The envelope guard in the one status shape (docs/guard.md, "What you see"): the last
// 24 hours in `dynmx status`, the same counts in `--json` (round trip) and in the metrics,
// a rise of messages without an envelope header as WARNING, and a guard that does not
// listen while multidrop needs it as CRITICAL.
#include <gtest/gtest.h>

#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/metrics.hpp"
#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;

const TimePoint kNow = at("2026-11-23T12:13:00Z");

/// A day of guarded multidrop: 132 fetched, 129 delivered, 2 to the postmaster without an
/// envelope header, 1 duplicate suppressed (the example in the issue and in docs/guard.md).
GuardInfo aDay() {
  GuardInfo g;
  g.enabled = true;
  g.listening = true;
  g.socket = "/var/lib/dynmx/guard.sock";
  g.fetched = 132;
  g.delivered = 129;
  g.postmaster = 2;
  g.postmasterReasons = {{"no-envelope", 2}};
  g.duplicates = 1;
  g.noEnvelope = 2;
  g.summary = "fetched 132: delivered 129, to postmaster 2 (no envelope header 2), duplicates suppressed 1";
  return g;
}

Report guardedMultidrop(GuardInfo g) {
  Report r = test::directHealthy();
  r.mode.current = "multidrop";
  r.mode.wanted = "multidrop";
  r.mode.policy = "multidrop";
  r.mode.multidropActive = true;
  r.mode.reasons = {{"policy.multidrop", "the policy says multidrop", {}}};
  r.fetchmail.wanted = true;
  r.fetchmail.running = true;
  r.fetchmail.lastPoll = at("2026-11-23T12:12:00Z");
  r.fetchmail.lastExit = 0;
  r.guard = std::move(g);
  return r;
}

bool hasReason(const Report& r, const std::string& code) {
  for (const auto& reason : r.healthReasons)
    if (reason.code == code) return true;
  return false;
}

TEST(GuardStatus, TheLast24HoursInTheReportTheJsonAndTheMetrics) {
  Report r = guardedMultidrop(aDay());
  computeHealth(r);

  const std::string text = renderHuman(r, kNow);
  EXPECT_NE(text.find("guard:      listening; last 24 h: fetched 132: delivered 129, to postmaster 2 (no envelope "
                      "header 2), duplicates suppressed 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("guard warning"), std::string::npos) << text;

  const auto j = toJson(r);
  EXPECT_EQ(j["guard"]["fetched"], 132);
  EXPECT_EQ(j["guard"]["delivered"], 129);
  EXPECT_EQ(j["guard"]["postmaster"], 2);
  EXPECT_EQ(j["guard"]["postmaster_reasons"]["no-envelope"], 2);
  EXPECT_EQ(j["guard"]["duplicates"], 1);
  EXPECT_EQ(j["guard"]["no_envelope"], 2);
  auto back = reportFromJson(std::string_view(dumpJson(j)));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(toJson(*back), j) << "the guard block survives `status --json` and the state file";

  const std::string page = renderMetrics(r, {});
  for (const char* line : {"dynmx_guard_listening 1\n", "dynmx_guard_messages_24h{outcome=\"fetched\"} 132\n",
                           "dynmx_guard_messages_24h{outcome=\"delivered\"} 129\n",
                           "dynmx_guard_messages_24h{outcome=\"postmaster\"} 2\n",
                           "dynmx_guard_messages_24h{outcome=\"duplicate\"} 1\n",
                           "dynmx_guard_postmaster_24h{reason=\"no-envelope\"} 2\n"})
    EXPECT_NE(page.find(line), std::string::npos) << line << "\n" << page;

  EXPECT_EQ(r.health, Health::Ok) << "two of 132 without an envelope header is no rise";
  EXPECT_FALSE(hasReason(r, "guard.no_envelope"));
}

TEST(GuardStatus, ARiseOfMessagesWithoutAnEnvelopeHeaderIsAWarning) {
  GuardInfo g = aDay();
  g.warning = "14 of 132 messages in the last 24 h had no envelope header where the ISP writes it";
  Report r = guardedMultidrop(g);
  computeHealth(r);
  EXPECT_EQ(r.health, Health::Warning);
  EXPECT_TRUE(hasReason(r, "guard.no_envelope"));
  EXPECT_NE(renderHuman(r, kNow).find("guard warning: 14 of 132"), std::string::npos);
}

TEST(GuardStatus, AGuardThatDoesNotListenWhileMultidropNeedsItIsCritical) {
  GuardInfo g = aDay();
  g.listening = false;
  g.lastError = "guard journal /var/lib/dynmx/guard.journal is in use by another guard";
  Report r = guardedMultidrop(g);
  r.daemon.running = true;
  computeHealth(r);
  EXPECT_EQ(r.health, Health::Critical);
  EXPECT_TRUE(hasReason(r, "guard.not_listening"));
  const std::string text = renderHuman(r, kNow);
  EXPECT_NE(text.find("guard:      NOT listening"), std::string::npos) << text;
  EXPECT_NE(text.find("in use by another guard"), std::string::npos) << text;
  EXPECT_NE(renderMetrics(r, {}).find("dynmx_guard_listening 0\n"), std::string::npos);

  // On direct nothing needs it right now: the same fault is a WARNING, not CRITICAL.
  Report direct = guardedMultidrop(g);
  direct.mode.current = "direct";
  direct.mode.wanted = "direct";
  direct.mode.policy = "auto";
  direct.mode.multidropActive = false;
  direct.mode.reasons = {{"ddns.healthy", "every host verified", {}}};
  direct.fetchmail = {};
  direct.daemon.running = true;
  computeHealth(direct);
  EXPECT_EQ(direct.health, Health::Warning);
  EXPECT_TRUE(hasReason(direct, "guard.error"));
}

}  // namespace
}  // namespace dynmx::status
