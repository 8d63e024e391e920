#include "dynmx/status/health.hpp"

#include <cctype>
#include <functional>
#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;

struct HealthCase {
  const char* name;
  std::function<Report()> make;
  Health expected;
  const char* firstCode;  ///< the first health reason's code ("" = no reasons)
};

void PrintTo(const HealthCase& c, std::ostream* os) { *os << c.name; }

Report multidropByPolicy() {
  Report r = test::multidropMismatch();
  r.mode.policy = "multidrop";
  r.mode.reasons = {{"policy.multidrop", "the policy says multidrop", {}}};
  return r;
}

const HealthCase kCases[] = {
    {"direct and healthy", test::directHealthy, Health::Ok, ""},
    {"multidrop by policy, fetchmail fine", multidropByPolicy, Health::Ok, ""},
    {"multidrop because of a DDNS failure", test::multidropMismatch, Health::Warning, "ddns.mismatch"},
    {"multidrop because the link is a dial-up",
     [] {
       Report r = test::multidropMismatch();
       r.mode.reasons = {{"link.dialup", "the link is a dial-up", {}}};
       return r;
     },
     Health::Warning, "link.dialup"},
    {"direct while DDNS starts failing (within grace)",
     [] {
       Report r = test::directHealthy();
       r.ddns.health = "failing";
       r.ddns.code = "ddns.provider_retrying";
       r.ddns.text = "911 from the provider";
       return r;
     },
     Health::Warning, "ddns.provider_retrying"},
    {"direct with the link down (within grace)",
     [] {
       Report r = test::directHealthy();
       r.link.up = false;
       return r;
     },
     Health::Warning, "link.down"},
    {"direct, the last sweep of the ISP mailbox failed",
     [] {
       Report r = test::directHealthy();
       r.sweep.interval = std::chrono::minutes(15);
       r.sweep.last = at("2026-11-23T10:00:02Z");
       r.sweep.lastOk = false;
       r.sweep.lastDetail = "fetchmail exit 3 (AUTHFAIL)";
       r.sweep.failures = 2;
       return r;
     },
     Health::Warning, "fetchmail.sweep_failed"},
    {"direct, the last sweep succeeded",
     [] {
       Report r = test::directHealthy();
       r.sweep.interval = std::chrono::minutes(15);
       r.sweep.last = at("2026-11-23T10:00:02Z");
       r.sweep.lastDetail = "1 poll(s), the box is empty";
       return r;
     },
     Health::Ok, ""},
    {"a hook of the last switch failed",
     [] {
       Report r = test::directHealthy();
       r.hooks.push_back({at("2026-11-23T10:00:02Z"), "/usr/local/sbin/smtp-off", "multidrop", false, "exit 1"});
       return r;
     },
     Health::Warning, "hook.failed"},
    {"a hook failed before the last switch (old news)",
     [] {
       Report r = test::directHealthy();
       r.hooks.insert(r.hooks.begin(), {at("2026-11-22T10:00:00Z"), "/bin/false", "direct", false, "exit 1"});
       return r;
     },
     Health::Ok, ""},
    {"policy reload errors pending",
     [] {
       Report r = test::directHealthy();
       r.daemon.policyErrors = {"/etc/dynmx/dynmx.toml:4:7: error: expected a duration"};
       return r;
     },
     Health::Warning, "policy.reload_failed"},
    {"switching back to direct (draining)",
     [] {
       Report r = multidropByPolicy();
       r.mode.policy = "direct";
       r.mode.wanted = "direct";
       r.mode.switching = true;
       r.mode.reasons = {{"policy.direct", "the policy says direct", {}}};
       return r;
     },
     Health::Warning, "mode.switching"},
    {"multidrop needed, fetchmail not running",
     [] {
       Report r = multidropByPolicy();
       r.fetchmail.running = false;
       r.fetchmail.pid = 0;
       return r;
     },
     Health::Critical, "fetchmail.not_running"},
    {"multidrop needed, fetchmail authentication failure",
     [] {
       Report r = multidropByPolicy();
       r.fetchmail.lastExit = 3;
       r.fetchmail.lastError = "AUTHFAIL: the ISP mailbox refused the user name or password";
       return r;
     },
     Health::Critical, "fetchmail.authfail"},
    {"multidrop needed, fetchmail keeps failing",
     [] {
       Report r = multidropByPolicy();
       r.fetchmail.lastExit = 2;
       r.fetchmail.lastError = "SOCKET: cannot connect to the mail server";
       r.fetchmail.restarts = 5;
       return r;
     },
     Health::Critical, "fetchmail.failing"},
    {"multidrop, one fetchmail error",
     [] {
       Report r = multidropByPolicy();
       r.fetchmail.lastExit = 2;
       r.fetchmail.lastError = "SOCKET: cannot connect to the mail server";
       return r;
     },
     Health::Warning, "fetchmail.error"},
    {"multidrop needed, the rc cannot be installed",
     [] {
       Report r = test::multidropMismatch();
       r.mode.reasons.push_back({"fetchmail.rc_failed", "fetchmail --configdump: syntax error", {}});
       r.fetchmail.running = false;
       return r;
     },
     Health::Critical, "fetchmail.rc_failed"},
    {"fetchmail down while direct is fine",
     [] {
       Report r = test::directHealthy();
       r.fetchmail.lastExit = 3;
       return r;
     },
     Health::Ok, ""},
    {"a DDNS host got a fatal provider answer",
     [] {
       Report r = test::directHealthy();
       r.ddns.hosts[1].fatal = "badauth";
       return r;
     },
     Health::Critical, "ddns.provider_fatal"},
    {"daemon down, state says direct and healthy",
     [] {
       Report r = test::directHealthy();
       r.daemon.running = false;
       return r;
     },
     Health::Critical, "daemon.not_running"},
    {"daemon down, state says critical",
     [] {
       Report r = multidropByPolicy();
       r.daemon.running = false;
       r.fetchmail.lastExit = 3;
       return r;
     },
     Health::Critical, "fetchmail.authfail"},
    {"nonsense mode",
     [] {
       Report r = test::directHealthy();
       r.mode.current = "carrier-pigeon";
       r.mode.wanted = "carrier-pigeon";
       return r;
     },
     Health::Unknown, "mode.unknown"},
};

class HealthTable : public ::testing::TestWithParam<HealthCase> {};

TEST_P(HealthTable, Verdict) {
  Report r = GetParam().make();
  r.health = Health::Unknown;
  r.healthReasons = {{"stale", "from before", {}}};
  computeHealth(r);
  EXPECT_EQ(r.health, GetParam().expected) << toString(r.health);
  if (std::string(GetParam().firstCode).empty()) {
    EXPECT_TRUE(r.healthReasons.empty()) << r.healthReasons.front().code;
  } else {
    ASSERT_FALSE(r.healthReasons.empty());
    EXPECT_EQ(r.healthReasons.front().code, GetParam().firstCode);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, HealthTable, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<HealthCase>& p) {
                           std::string n;
                           for (const char* c = p.param.name; *c; ++c)
                             n += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return n;
                         });

TEST(Health, WorseOrdersCriticalAboveUnknownAboveWarning) {
  EXPECT_EQ(worse(Health::Ok, Health::Warning), Health::Warning);
  EXPECT_EQ(worse(Health::Unknown, Health::Warning), Health::Unknown);
  EXPECT_EQ(worse(Health::Unknown, Health::Critical), Health::Critical);
  EXPECT_EQ(worse(Health::Critical, Health::Ok), Health::Critical);
}

TEST(Health, ExitCodesAreNagios) {
  EXPECT_EQ(static_cast<int>(Health::Ok), 0);
  EXPECT_EQ(static_cast<int>(Health::Warning), 1);
  EXPECT_EQ(static_cast<int>(Health::Critical), 2);
  EXPECT_EQ(static_cast<int>(Health::Unknown), 3);
}

TEST(Health, RestartThresholdIsConfigurable) {
  Report r = test::multidropMismatch();
  r.mode.policy = "multidrop";
  r.fetchmail.lastError = "SOCKET: cannot connect";
  r.fetchmail.restarts = 1;
  computeHealth(r, HealthOptions{.fetchmailRestartsCritical = 1});
  EXPECT_EQ(r.health, Health::Critical);
}

}  // namespace
}  // namespace dynmx::status
