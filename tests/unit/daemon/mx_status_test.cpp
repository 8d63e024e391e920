// MX steering in the one status shape: JSON round trip, health (exposure is WARNING at
// least) and the printed report.
#include <gtest/gtest.h>

#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;

const TimePoint kNow = at("2026-11-23T12:13:00Z");

Report steered() {
  Report r = test::multidropMismatch();
  MxInfo m;
  m.domain = "example.com";
  m.lever = "rfc2136";
  m.wanted = "multidrop";
  m.records = {"10 mx.isp.example"};
  m.state = "verified";
  m.verified = true;
  m.publishedAt = at("2026-11-23T10:00:01Z");
  m.verifiedAt = at("2026-11-23T10:00:03Z");
  m.detail = "10 mx.isp.example verified at 2 authoritative server(s)";
  r.mx = {m};
  r.mode.multidropActive = true;
  r.steps = {{at("2026-11-23T09:00:00Z"), "aborted", "the decision is multidrop again"}};
  r.ddns.intent = "withdraw";
  r.ddns.hosts[0].condition = "withdrawal-pending";
  return r;
}

TEST(MxStatus, RoundTripsTheNewFields) {
  Report r = steered();
  r.mode.step = "sender-caches";
  r.mode.stepSince = at("2026-11-23T12:00:00Z");
  r.mode.stepUntil = at("2026-11-23T12:10:00Z");
  r.exposure = {true, "exposed: senders still use office.example.com", at("2026-11-23T10:10:01Z")};
  auto back = reportFromJson(std::string_view(dumpJson(toJson(r))));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(toJson(*back), toJson(r));
  ASSERT_EQ(back->mx.size(), 1u);
  EXPECT_EQ(back->mx[0].records, std::vector<std::string>{"10 mx.isp.example"});
  EXPECT_TRUE(back->mx[0].verified);
  EXPECT_EQ(back->mode.step, "sender-caches");
  EXPECT_EQ(back->mode.stepUntil, at("2026-11-23T12:10:00Z"));
  EXPECT_TRUE(back->exposure.exposed);
  EXPECT_EQ(back->ddns.intent, "withdraw");
  EXPECT_EQ(back->ddns.hosts[0].condition, "withdrawal-pending");
  EXPECT_EQ(back->steps.at(0).step, "aborted");
  const auto j = toJson(r);
  EXPECT_EQ(j["exposure"]["direct_mx_until"], "2026-11-23T10:10:01Z");
  EXPECT_EQ(j["mode"]["multidrop_active"], true);
  EXPECT_EQ(j["mx"][0]["state"], "verified");
}

TEST(MxStatus, ExposureIsAWarningWithItsReason) {
  Report r = steered();
  r.mode.policy = "multidrop";  // no other warning on the way
  r.mode.reasons = {{"policy.multidrop", "the policy says multidrop", {}}};
  computeHealth(r);
  EXPECT_EQ(r.health, Health::Ok);
  r.exposure.exposed = true;
  r.exposure.text =
      "exposed: senders still use office.example.com (MX of example.com), which may no "
      "longer point here (no MX lever configured for example.com)";
  computeHealth(r);
  EXPECT_EQ(r.health, Health::Warning);
  ASSERT_FALSE(r.healthReasons.empty());
  EXPECT_EQ(r.healthReasons[0].code, "mx.exposed");
  EXPECT_EQ(r.healthReasons[0].text, r.exposure.text);
}

TEST(MxStatus, SendersCachingTheDirectMxIsAWarningUntilTheTtlEnds) {
  Report r = steered();
  r.mode.policy = "multidrop";
  r.mode.reasons = {{"policy.multidrop", "the policy says multidrop", {}}};
  r.exposure.directMxUntil = at("2026-11-23T12:20:00Z");
  computeHealth(r);
  EXPECT_EQ(r.health, Health::Warning);
  EXPECT_EQ(r.healthReasons.at(0).code, "mx.direct_cached");
  EXPECT_EQ(
      r.healthReasons.at(0).text,
      "senders may still use the direct MX until 2026-11-23T12:20:00Z (TTL from the last published set)");
}

TEST(MxStatus, PrintedReportShowsTheSetTheStepAndTheExposure) {
  Report r = steered();
  r.mode.wanted = "direct";
  r.mode.step = "sender-caches";
  r.mode.stepSince = at("2026-11-23T12:03:00Z");
  r.mode.stepUntil = at("2026-11-23T12:13:00Z");
  r.exposure.directMxUntil = at("2026-11-23T12:20:00Z");
  computeHealth(r);
  const std::string text = renderHuman(r, kNow);
  EXPECT_NE(text.find("returning:  step sender-caches since 2026-11-23T12:03:00Z, for 10m, until "
                      "2026-11-23T12:13:00Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("multidrop:  active (rc installed, fetchmail running, MX withdrawal verified)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("exposure:   senders may still use the direct MX until 2026-11-23T12:20:00Z (TTL of "
                      "the last published set)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mx example.com: multidrop set (10 mx.isp.example), lever rfc2136, verified since "
                      "2026-11-23T10:00:03Z: 10 mx.isp.example verified at 2 authoritative server(s)\n"),
            std::string::npos)
      << text;
  r.exposure = {true, "exposed: senders still use office.example.com", {}};
  r.mode.multidropActive = false;
  const std::string exposed = renderHuman(r, kNow);
  EXPECT_NE(exposed.find("exposure:   exposed: senders still use office.example.com\n"), std::string::npos)
      << exposed;
  EXPECT_NE(exposed.find("multidrop:  not fully active\n"), std::string::npos) << exposed;
}

}  // namespace
}  // namespace dynmx::status
