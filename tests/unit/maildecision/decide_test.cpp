// Table-driven tests for mail::decide: every rule of docs/decision.md, and every
// threshold exactly at its boundary and one second before.
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fixtures.hpp"

namespace dynmx::mail::test {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// One situation and what decide() must answer. Durations are "for how long until now".
struct Case {
  std::string name;
  MailPolicy policy = MailPolicy::Auto;
  bool ddnsEnabled = true;
  bool staticAddress = false;
  LinkType linkType = LinkType::Dedicated;
  bool linkUp = true;
  Duration linkFor = days(1);
  DdnsState ddns = DdnsState::Healthy;
  Duration ddnsFor = days(1);
  MailMode current = MailMode::Multidrop;
  Duration currentFor = days(1);
  HealthSection health = defaultHealth();
  // Expected:
  MailMode mode = MailMode::Multidrop;
  std::vector<std::string> codes;
  std::optional<Duration> reviewIn;  // reviewAt - now; nullopt = no reviewAt
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.name;
}

struct Built {
  Policy policy;
  DecisionInput in;
};

Built build(const Case& c, TimePoint now = kT0) {
  Built b{makePolicy(c.policy, c.ddnsEnabled, c.staticAddress, c.health), {}};
  b.in.link = {c.linkType, c.linkUp, now - c.linkFor};
  b.in.ddns = {
      c.ddns, now - c.ddnsFor, c.ddns == DdnsState::Failing ? "ddns.mismatch" : "",
      c.ddns == DdnsState::Failing ? "office.example.com resolves to 198.51.100.9 at ns1.example.net" : ""};
  b.in.current = {c.current, now - c.currentFor};
  b.in.now = now;
  return b;
}

Decision run(Built& b) {
  b.in.policy = &b.policy;
  return decide(b.in);
}

const MailMode D = MailMode::Direct;
const MailMode M = MailMode::Multidrop;

HealthSection health(Duration ddnsMax, Duration linkMax, Duration hold) {
  HealthSection h;
  h.ddnsFailingMax = ddnsMax;
  h.linkDownMax = linkMax;
  h.holdDown = hold;
  return h;
}

// clang-format off
const std::vector<Case> kCases = {
  // --- explicit policy wins -------------------------------------------------------------
  {.name = "policy_direct_healthy", .policy = MailPolicy::Direct,
   .mode = D, .codes = {"policy.direct"}},
  {.name = "policy_direct_everything_failing", .policy = MailPolicy::Direct,
   .linkUp = false, .ddns = DdnsState::Failing, .ddnsFor = days(3), .current = M, .currentFor = seconds(0),
   .mode = D, .codes = {"policy.direct"}},
  {.name = "policy_direct_on_dialup_warns", .policy = MailPolicy::Direct, .linkType = LinkType::Dialup,
   .mode = D, .codes = {"policy.direct", "warning.direct_on_dialup"}},
  {.name = "policy_multidrop_all_healthy_from_direct", .policy = MailPolicy::Multidrop, .current = D,
   .mode = M, .codes = {"policy.multidrop"}},
  {.name = "policy_multidrop_on_dialup", .policy = MailPolicy::Multidrop, .linkType = LinkType::Dialup,
   .mode = M, .codes = {"policy.multidrop"}},

  // --- structural conditions: multidrop, and from direct at once -----------------------
  {.name = "dialup_from_multidrop", .linkType = LinkType::Dialup,
   .mode = M, .codes = {"link.dialup"}},
  {.name = "dialup_from_direct_leaves_at_once", .linkType = LinkType::Dialup, .current = D,
   .mode = M, .codes = {"link.dialup"}},
  {.name = "dialup_down_reports_only_dialup", .linkType = LinkType::Dialup, .linkUp = false, .linkFor = seconds(1),
   .current = D, .mode = M, .codes = {"link.dialup"}},
  {.name = "dialup_and_ddns_failing", .linkType = LinkType::Dialup, .ddns = DdnsState::Failing,
   .mode = M, .codes = {"link.dialup", "ddns.failing"}},
  {.name = "unresolved_link_type_is_not_trusted", .linkType = LinkType::Auto, .current = D,
   .mode = M, .codes = {"link.unresolved"}},
  {.name = "ddns_disabled_in_policy_from_direct", .ddnsEnabled = false, .ddns = DdnsState::Disabled, .current = D,
   .mode = M, .codes = {"ddns.disabled"}},
  {.name = "ddns_disabled_in_policy_engine_says_healthy", .ddnsEnabled = false, .ddns = DdnsState::Healthy,
   .mode = M, .codes = {"ddns.disabled"}},
  {.name = "ddns_disabled_by_engine_from_direct", .ddns = DdnsState::Disabled, .current = D,
   .mode = M, .codes = {"ddns.disabled"}},
  {.name = "link_down_and_ddns_disabled_from_direct", .ddnsEnabled = false, .linkUp = false, .linkFor = seconds(10),
   .ddns = DdnsState::Disabled, .current = D, .mode = M, .codes = {"link.down", "ddns.disabled"}},

  // --- static address: DDNS health ignored, hold-down on the link alone -----------------
  {.name = "static_ddns_disabled_healthy_link", .ddnsEnabled = false, .staticAddress = true, .ddns = DdnsState::Disabled,
   .mode = D, .codes = {"auto.healthy"}},
  {.name = "static_ddns_failing_is_ignored", .staticAddress = true, .ddns = DdnsState::Failing, .ddnsFor = seconds(1),
   .mode = D, .codes = {"auto.healthy"}},
  {.name = "static_link_up_one_second_short", .ddnsEnabled = false, .staticAddress = true, .linkFor = seconds(3599),
   .ddns = DdnsState::Disabled, .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(1)},
  {.name = "static_link_up_exactly_holddown", .ddnsEnabled = false, .staticAddress = true, .linkFor = seconds(3600),
   .ddns = DdnsState::Disabled, .mode = D, .codes = {"auto.healthy"}},
  {.name = "static_link_down_from_direct_grace", .staticAddress = true, .linkUp = false, .linkFor = seconds(119),
   .ddns = DdnsState::Disabled, .current = D, .mode = D, .codes = {"grace.link"}, .reviewIn = seconds(1)},
  {.name = "static_on_dialup_still_multidrop", .staticAddress = true, .linkType = LinkType::Dialup,
   .mode = M, .codes = {"link.dialup"}},

  // --- auto from multidrop: returning needs the whole hold-down ------------------------
  {.name = "multidrop_all_healthy_long", .mode = D, .codes = {"auto.healthy"}},
  {.name = "multidrop_ddns_healthy_exactly_holddown", .ddnsFor = seconds(3600), .mode = D, .codes = {"auto.healthy"}},
  {.name = "multidrop_ddns_healthy_one_second_short", .ddnsFor = seconds(3599),
   .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(1)},
  {.name = "multidrop_link_up_exactly_holddown", .linkFor = seconds(3600), .mode = D, .codes = {"auto.healthy"}},
  {.name = "multidrop_link_up_one_second_short", .linkFor = seconds(3599),
   .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(1)},
  {.name = "multidrop_entered_exactly_holddown_ago", .currentFor = seconds(3600), .mode = D, .codes = {"auto.healthy"}},
  {.name = "multidrop_entered_one_second_short", .currentFor = seconds(3599),
   .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(1)},
  {.name = "multidrop_latest_of_three_sinces_counts", .linkFor = seconds(600), .ddnsFor = seconds(100),
   .currentFor = seconds(10), .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(3590)},
  {.name = "multidrop_just_recovered", .ddnsFor = seconds(0),
   .mode = M, .codes = {"holddown.pending"}, .reviewIn = seconds(3600)},
  {.name = "multidrop_zero_holddown_returns_at_once", .ddnsFor = seconds(0), .currentFor = seconds(0),
   .health = health(minutes(5), minutes(2), seconds(0)), .mode = D, .codes = {"auto.healthy"}},
  {.name = "multidrop_link_down", .linkUp = false, .mode = M, .codes = {"link.down"}},
  {.name = "multidrop_ddns_failing", .ddns = DdnsState::Failing, .mode = M, .codes = {"ddns.failing"}},
  {.name = "multidrop_ddns_unknown", .ddns = DdnsState::Unknown, .mode = M, .codes = {"ddns.unknown"}},
  {.name = "multidrop_link_down_and_ddns_failing", .linkUp = false, .ddns = DdnsState::Failing,
   .mode = M, .codes = {"link.down", "ddns.failing"}},
  {.name = "multidrop_fresh_failure_no_grace", .linkUp = false, .linkFor = seconds(1),
   .mode = M, .codes = {"link.down"}},

  // --- auto from direct: stay until a failure outlasts its threshold -------------------
  {.name = "direct_healthy_stays_without_holddown", .linkFor = seconds(5), .ddnsFor = seconds(5), .current = D,
   .currentFor = seconds(5), .mode = D, .codes = {"auto.healthy"}},
  {.name = "direct_ddns_failing_one_second_short", .ddns = DdnsState::Failing, .ddnsFor = seconds(299), .current = D,
   .mode = D, .codes = {"grace.ddns"}, .reviewIn = seconds(1)},
  {.name = "direct_ddns_failing_exactly_threshold", .ddns = DdnsState::Failing, .ddnsFor = seconds(300), .current = D,
   .mode = M, .codes = {"ddns.failing"}},
  {.name = "direct_ddns_failing_just_began", .ddns = DdnsState::Failing, .ddnsFor = seconds(0), .current = D,
   .mode = D, .codes = {"grace.ddns"}, .reviewIn = seconds(300)},
  {.name = "direct_ddns_unknown_one_second_short", .ddns = DdnsState::Unknown, .ddnsFor = seconds(299), .current = D,
   .mode = D, .codes = {"grace.ddns"}, .reviewIn = seconds(1)},
  {.name = "direct_ddns_unknown_exactly_threshold", .ddns = DdnsState::Unknown, .ddnsFor = seconds(300), .current = D,
   .mode = M, .codes = {"ddns.unknown"}},
  {.name = "direct_link_down_one_second_short", .linkUp = false, .linkFor = seconds(119), .current = D,
   .mode = D, .codes = {"grace.link"}, .reviewIn = seconds(1)},
  {.name = "direct_link_down_exactly_threshold", .linkUp = false, .linkFor = seconds(120), .current = D,
   .mode = M, .codes = {"link.down"}},
  {.name = "direct_both_in_grace_earliest_deadline", .linkUp = false, .linkFor = seconds(60),
   .ddns = DdnsState::Failing, .ddnsFor = seconds(100), .current = D,
   .mode = D, .codes = {"grace.link", "grace.ddns"}, .reviewIn = seconds(60)},
  {.name = "direct_both_in_grace_ddns_first", .linkUp = false, .linkFor = seconds(10),
   .ddns = DdnsState::Failing, .ddnsFor = seconds(295), .current = D,
   .mode = D, .codes = {"grace.link", "grace.ddns"}, .reviewIn = seconds(5)},
  {.name = "direct_link_over_ddns_in_grace", .linkUp = false, .linkFor = seconds(120),
   .ddns = DdnsState::Failing, .ddnsFor = seconds(100), .current = D,
   .mode = M, .codes = {"link.down", "ddns.failing"}},
  {.name = "direct_ddns_over_link_in_grace", .linkUp = false, .linkFor = seconds(10),
   .ddns = DdnsState::Failing, .ddnsFor = seconds(300), .current = D,
   .mode = M, .codes = {"link.down", "ddns.failing"}},
  {.name = "direct_zero_link_threshold_leaves_at_once", .linkUp = false, .linkFor = seconds(0), .current = D,
   .health = health(minutes(5), seconds(0), hours(1)), .mode = M, .codes = {"link.down"}},
  {.name = "direct_failure_since_in_future_counts_as_now", .ddns = DdnsState::Failing, .ddnsFor = seconds(-30),
   .current = D, .mode = D, .codes = {"grace.ddns"}, .reviewIn = seconds(330)},
};
// clang-format on

class DecideTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTable, ModeReasonsAndReviewAt) {
  const Case& c = GetParam();
  Built b = build(c);
  const Decision d = run(b);
  EXPECT_EQ(toString(d.mode), std::string(toString(c.mode)));
  EXPECT_EQ(codesOf(d), c.codes);
  ASSERT_EQ(d.reviewAt.has_value(), c.reviewIn.has_value()) << explain(d);
  if (c.reviewIn) {
    EXPECT_EQ((*d.reviewAt - kT0).count(), c.reviewIn->count()) << explain(d);
  }
  for (const auto& r : d.reasons) EXPECT_FALSE(r.text.empty()) << r.code;
}

// reviewAt is the earliest change: the same inputs one second before it give the same
// answer, and at it the mode changes. Without reviewAt, time alone changes nothing.
TEST_P(DecideTable, ReviewAtIsTheEarliestChange) {
  const Case& c = GetParam();
  Built b = build(c);
  const Decision d = run(b);
  const TimePoint now = b.in.now;
  if (d.reviewAt) {
    ASSERT_GT(*d.reviewAt, now);
    b.in.now = *d.reviewAt - seconds(1);
    const Decision before = run(b);
    EXPECT_EQ(before.mode, d.mode);
    EXPECT_EQ(codesOf(before), codesOf(d));
    EXPECT_EQ(before.reviewAt, d.reviewAt);
    b.in.now = *d.reviewAt;
    EXPECT_NE(run(b).mode, d.mode);
  } else {
    for (Duration later : {Duration{1}, Duration{hours(1)}, Duration{days(30)}}) {
      b.in.now = now + later;
      const Decision after = run(b);
      EXPECT_EQ(after.mode, d.mode);
      EXPECT_EQ(codesOf(after), codesOf(d));
      EXPECT_FALSE(after.reviewAt.has_value());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, DecideTable, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// --- texts -------------------------------------------------------------------------------

TEST(DecideText, FailingCarriesTheEngineCodeAndText) {
  Built b = build({.ddns = DdnsState::Failing, .ddnsFor = seconds(400), .current = D});
  b.in.ddns.code = "ddns.provider_fatal";
  b.in.ddns.text = "office.example.com (dyn) disabled by the provider's \"nohost\"";
  const Decision d = run(b);
  ASSERT_EQ(codesOf(d), std::vector<std::string>{"ddns.failing"});
  EXPECT_NE(d.reasons[0].text.find("ddns.provider_fatal"), std::string::npos) << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find("disabled by the provider's \"nohost\""), std::string::npos)
      << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find("6m40s"), std::string::npos) << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find("5m limit"), std::string::npos) << d.reasons[0].text;
}

TEST(DecideText, GraceSaysWhenMailLeaves) {
  Built b = build({.ddns = DdnsState::Failing, .ddnsFor = seconds(60), .current = D});
  const Decision d = run(b);
  ASSERT_EQ(codesOf(d), std::vector<std::string>{"grace.ddns"});
  EXPECT_NE(d.reasons[0].text.find("ddns.mismatch"), std::string::npos) << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find("leaves direct in 4m"), std::string::npos) << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find(formatTime(kT0 + minutes(4))), std::string::npos) << d.reasons[0].text;
}

TEST(DecideText, HolddownSaysTimeLeft) {
  Built b = build({.ddnsFor = minutes(20)});
  const Decision d = run(b);
  ASSERT_EQ(codesOf(d), std::vector<std::string>{"holddown.pending"});
  EXPECT_NE(d.reasons[0].text.find("ends in 40m"), std::string::npos) << d.reasons[0].text;
  EXPECT_NE(d.reasons[0].text.find("1h hold-down"), std::string::npos) << d.reasons[0].text;
}

TEST(DecideText, StaticAddressIsNamed) {
  Built b = build({.ddnsEnabled = false, .staticAddress = true, .ddns = DdnsState::Disabled});
  const Decision d = run(b);
  ASSERT_EQ(codesOf(d), std::vector<std::string>{"auto.healthy"});
  EXPECT_NE(d.reasons[0].text.find("203.0.113.7"), std::string::npos) << d.reasons[0].text;
}

TEST(DecideText, SecretsInThePolicyNeverAppear) {
  for (const Case& c : kCases) {
    Built b = build(c);
    b.policy.isp.password = "hunter2-isp-secret";
    DdnsAccount account;
    account.name = "main";
    account.password = "hunter2-ddns-secret";
    b.policy.ddns.accounts.push_back(account);
    const std::string text = explain(run(b));
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << c.name;
  }
}

TEST(DecideText, ExplainListsModeReasonsAndReview) {
  Built b = build({.ddns = DdnsState::Failing, .ddnsFor = seconds(60), .current = D});
  const std::string text = explain(run(b));
  EXPECT_EQ(text.rfind("mode: direct\nbecause:\n  - [grace.ddns] ", 0), 0U) << text;
  EXPECT_NE(text.find("review at: " + formatTime(kT0 + minutes(4)) + "\n"), std::string::npos) << text;

  Built m = build({.policy = MailPolicy::Multidrop});
  EXPECT_EQ(explain(run(m)),
            "mode: multidrop\nbecause:\n  - [policy.multidrop] the policy fixes the mode to multidrop\n"
            "review at: never by itself; only new input can change this\n");
}

TEST(DecideApi, NullPolicyIsAProgrammingError) {
  DecisionInput in;
  in.now = kT0;
  EXPECT_THROW(decide(in), std::invalid_argument);
}

TEST(DecideApi, Names) {
  EXPECT_STREQ(toString(MailMode::Direct), "direct");
  EXPECT_STREQ(toString(MailMode::Multidrop), "multidrop");
  EXPECT_STREQ(toString(DdnsState::Disabled), "disabled");
  EXPECT_STREQ(toString(DdnsState::Healthy), "healthy");
  EXPECT_STREQ(toString(DdnsState::Failing), "failing");
  EXPECT_STREQ(toString(DdnsState::Unknown), "unknown");
}

}  // namespace
}  // namespace dynmx::mail::test
