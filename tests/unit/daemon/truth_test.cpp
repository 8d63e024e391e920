// Status that tells the truth, asserted on the PRINTED report (the human text and the JSON
// `dynmx status --json` prints): exit codes say what they mean, a refusing local mail server
// is a delivery error, a daemon that is not running is CRITICAL and says how it stopped.
// Also the journal events a log line is tagged with.
#include <gtest/gtest.h>

#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/log_events.hpp"
#include "dynmx/status/state.hpp"
#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;

const TimePoint kNow = at("2026-11-23T12:13:00Z");

/// The JSON exactly as `dynmx status --json` prints it, parsed back for the assertions.
nlohmann::json printedJson(const Report& r) {
  return nlohmann::json::parse(dumpJson(toJson(r), 2));
}

bool hasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(PrintedStatus, LastExitSaysWhatItMeans) {
  Report r = test::multidropMismatch();  // last exit 1
  computeHealth(r);
  const std::string text = renderHuman(r, kNow);
  EXPECT_TRUE(hasLine(text, "last exit:  1 (NOMAIL: no mail waiting)")) << text;
  EXPECT_EQ(printedJson(r)["fetchmail"]["last_exit_meaning"], "NOMAIL: no mail waiting");
  r.fetchmail.lastExit = 2;
  EXPECT_TRUE(hasLine(renderHuman(r, kNow), "last exit:  2 (SOCKET: cannot connect to the mail server)"));
  r.fetchmail.lastExit.reset();
  EXPECT_TRUE(printedJson(r)["fetchmail"]["last_exit_meaning"].is_null());
}

TEST(PrintedStatus, ALocalMailServerThatRefusesEveryMessageIsADeliveryError) {
  // What the supervisor records when fetchmail fetched 2 messages and the MTA said 451 to both.
  Report r = test::multidropMismatch();
  r.mode.policy = "multidrop";
  r.mode.reasons = {{"policy.multidrop", "the policy fixes the mode to multidrop", {}}};
  r.fetchmail.polls = 1;
  r.fetchmail.pollErrors = 1;
  r.fetchmail.lastExit = 10;
  r.fetchmail.messagesWaiting = 2;
  r.fetchmail.lastError =
      "SMTP: the local mail server refused the fetched mail (451 4.3.0 try later); it stays at the ISP";
  computeHealth(r);
  const std::string text = renderHuman(r, kNow);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "dynmx: WARNING: mail via multidrop since 2026-11-23T10:00:00Z (fetchmail.delivery_failed: local "
            "delivery "
            "fails: SMTP: the local mail server refused the fetched mail (451 4.3.0 try later); it stays at "
            "the ISP)");
  EXPECT_TRUE(hasLine(
      text,
      "fetchmail:  running, polling now (pid 456), last poll 2026-11-23T12:10:00Z; 1 polls, 1 errors, 0 restarts; 2 "
      "waiting at the ISP"))
      << text;
  EXPECT_TRUE(
      hasLine(text, "last exit:  10 (SMTP: local delivery (SMTP/LMTP) failed; mail stays at the ISP)"))
      << text;
  const auto j = printedJson(r);
  EXPECT_EQ(j["health"], "warning");
  EXPECT_EQ(j["health_reasons"][0]["code"], "fetchmail.delivery_failed");
  EXPECT_EQ(j["fetchmail"]["poll_errors"], 1);
}

TEST(PrintedStatus, ADaemonThatStoppedCleanlyIsCriticalAndSaysWhen) {
  Report last = test::directHealthy();
  last.daemon.running = false;
  last.daemon.stoppedAt = at("2026-11-23T11:30:00Z");
  const Report r = staleReport(last, "/var/lib/dynmx/state.json", at("2026-11-23T11:30:00Z"));
  const std::string text = renderHuman(r, kNow);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "dynmx: CRITICAL: mail via direct since 2026-11-23T10:00:00Z (daemon.not_running: daemon stopped "
            "cleanly "
            "at 2026-11-23T11:30:00Z; last known state from /var/lib/dynmx/state.json)");
  EXPECT_TRUE(hasLine(text, "daemon:     stopped cleanly at 2026-11-23T11:30:00Z, version 0.1.0")) << text;
  const auto j = printedJson(r);
  EXPECT_EQ(j["health"], "critical");
  EXPECT_EQ(j["daemon"]["running"], false);
  EXPECT_EQ(j["daemon"]["stopped_at"], "2026-11-23T11:30:00Z");
  EXPECT_EQ(j["health_reasons"][0]["code"], "daemon.not_running");
}

TEST(PrintedStatus, ADaemonThatDiedIsCriticalAndSaysSo) {
  const Report r =
      staleReport(test::directHealthy(), "/var/lib/dynmx/state.json", at("2026-11-23T11:00:00Z"));
  const std::string text = renderHuman(r, kNow);
  EXPECT_EQ(
      text.substr(0, text.find('\n')),
      "dynmx: CRITICAL: mail via direct since 2026-11-23T10:00:00Z (daemon.not_running: daemon died or was "
      "killed (no clean stop recorded); last known state from /var/lib/dynmx/state.json, written at "
      "2026-11-23T11:00:00Z)");
  EXPECT_TRUE(hasLine(text, "daemon:     not running (died or killed), version 0.1.0")) << text;
  const auto j = printedJson(r);
  EXPECT_EQ(j["health"], "critical");
  EXPECT_TRUE(j["daemon"]["stopped_at"].is_null());
}

TEST(PrintedStatus, AStaleReportDatesItsReasons) {
  // The reasons' texts were written with the state file; the report must not pass them off
  // as current.
  const Report r =
      staleReport(test::directHealthy(), "/var/lib/dynmx/state.json", at("2026-11-23T11:00:00Z"));
  EXPECT_TRUE(hasLine(renderHuman(r, kNow), "why (as of 2026-11-23T11:00:00Z, the last state written):"))
      << renderHuman(r, kNow);
}

TEST(PrintedStatus, StoppedAtSurvivesTheStateFile) {
  Report r = test::directHealthy();
  r.daemon.stoppedAt = at("2026-11-23T11:30:00Z");
  auto back = reportFromJson(std::string_view(dumpJson(toJson(r), 2)));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->daemon.stoppedAt, r.daemon.stoppedAt);
}

/// A daemon restarted at 12:10 resuming direct: the first check could not reach the
/// authoritative servers yet, and the decision rides it out within the grace period.
Report restartedDirect() {
  Report r = test::directHealthy();
  r.daemon.since = at("2026-11-23T12:10:00Z");
  r.ddns.health = "failing";
  r.ddns.code = "ddns.resolution_failing";
  r.ddns.text = "office.example.com: no authoritative answer (ns1.example.net: timeout)";
  r.ddns.since = at("2026-11-23T12:09:59Z");
  r.mode.reasons = {{"grace.ddns",
                     "DDNS is failing (ddns.resolution_failing: ...) (for 3m1s); mail leaves direct in 1m59s "
                     "(2026-11-23T12:14:59Z) unless it recovers",
                     {}}};
  return r;
}

TEST(PrintedStatus, AfterARestartDirectWithinGraceIsNotAWarning) {
  Report r = restartedDirect();
  computeHealth(r);
  const std::string text = renderHuman(r, kNow);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "dynmx: OK: mail via direct since 2026-11-23T10:00:00Z (grace.ddns: DDNS is failing "
            "(ddns.resolution_failing: ...) (for 3m1s); mail leaves direct in 1m59s (2026-11-23T12:14:59Z) "
            "unless it "
            "recovers)");
  EXPECT_EQ(printedJson(r)["health"], "ok");
}

TEST(PrintedStatus, AFailureAfterTheStartIsStillAWarning) {
  // Verified once since the start, failing again: that is news.
  Report r = restartedDirect();
  r.ddns.since = at("2026-11-23T12:11:00Z");
  computeHealth(r);
  EXPECT_EQ(printedJson(r)["health"], "warning");
  EXPECT_EQ(printedJson(r)["health_reasons"][0]["code"], "ddns.resolution_failing");
  // So is a provider's refusal at the first update, however early.
  Report p = restartedDirect();
  p.ddns.code = "ddns.provider_retrying";
  computeHealth(p);
  EXPECT_EQ(printedJson(p)["health"], "warning");
}

TEST(LogEvents, SwitchesReloadsAndProviderAnswersHaveFixedIds) {
  struct Case {
    const char* line;
    const char* name;
    const char* id;
  };
  for (const Case& c : {
           Case{"switching mail to multidrop: DDNS is failing (ddns.mismatch: ...)", "mode.multidrop",
                "4dc9cc8f614342e490512ecfa3db98f8"},
           Case{"returning mail to direct SMTP: draining the ISP mailbox first", "mode.draining",
                "fcdec9a011b94175b5f07490ea92784e"},
           Case{"mail is direct again (the ISP mailbox is empty)", "mode.direct",
                "0a7eadc8d2384a1db4bd2ddc682b33fa"},
           Case{"not returning to direct: the decision changed while draining", "mode.direct_refused",
                "e768d6cddcc2469597177f2e64c630c6"},
           Case{"policy reloaded from /etc/dynmx/dynmx.toml", "policy.reloaded",
                "fcd7343d41fc4d209b0428240799093d"},
           Case{"policy reload rejected (2 errors); keeping the running policy", "policy.rejected",
                "abd46dbbaf594dfa92e228ea24cc0dd5"},
       }) {
    auto e = logEventOf(c.line);
    ASSERT_TRUE(e.has_value()) << c.line;
    EXPECT_STREQ(e->name, c.name);
    EXPECT_STREQ(e->messageId, c.id);
  }
  auto a = logEventOf("office.example.com: 911 from dyn for 203.0.113.7, retry after 2026-11-23T12:30:00Z");
  ASSERT_TRUE(a.has_value());
  EXPECT_STREQ(a->name, "ddns.answer");
  EXPECT_STREQ(a->messageId, "30f63da1c22948eda6fdf990d784f296");
  EXPECT_EQ(a->host, "office.example.com");
  EXPECT_EQ(a->result, "911");
  EXPECT_FALSE(logEventOf("fetchmail: SMTP error: 451 4.3.0 try later").has_value());
  EXPECT_FALSE(logEventOf("link eth0 is up").has_value());
}

}  // namespace
}  // namespace dynmx::status
