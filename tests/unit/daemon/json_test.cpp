#include "dynmx/status/json.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace dynmx::status {
namespace {

using test::at;
using nlohmann::json;

TEST(StatusJson, UsesTheDesignSketchShape) {
  Report r = test::multidropMismatch();
  r.health = Health::Warning;
  json j = toJson(r);
  EXPECT_EQ(j["daemon"]["pid"], 123);
  EXPECT_EQ(j["daemon"]["since"], "2026-11-23T08:00:00Z");
  EXPECT_EQ(j["daemon"]["policy"], "/etc/dynmx/dynmx.toml");
  EXPECT_TRUE(j["daemon"]["policy_errors"].is_array());
  EXPECT_EQ(j["mode"]["current"], "multidrop");
  EXPECT_EQ(j["mode"]["reasons"][0]["code"], "ddns.mismatch");
  EXPECT_EQ(j["mode"]["reasons"][0]["since"], "2026-11-23T09:55:00Z");
  EXPECT_EQ(j["mode"]["review_at"], "2026-11-23T12:30:00Z");
  EXPECT_EQ(j["link"]["type"], "dedicated");
  EXPECT_EQ(j["link"]["up"], true);
  ASSERT_TRUE(j["ddns"].is_array());
  EXPECT_EQ(j["ddns"][0]["host"], "office.example.com");
  EXPECT_EQ(j["ddns"][0]["verified"], false);
  EXPECT_EQ(j["ddns"][0]["last_result"], "good");
  EXPECT_TRUE(j["ddns"][0]["retry_after"].is_null());
  EXPECT_TRUE(j["ddns"][0]["fatal"].is_null());
  EXPECT_EQ(j["ddns"][1]["retry_after"], "2026-11-23T10:30:00Z");
  EXPECT_EQ(j["ddns_health"]["state"], "failing");
  EXPECT_EQ(j["fetchmail"]["running"], true);
  EXPECT_EQ(j["fetchmail"]["last_exit"], 1);
  EXPECT_TRUE(j["fetchmail"]["last_error"].is_null());
  EXPECT_EQ(j["switches"][0]["from"], "direct");
  EXPECT_EQ(j["switches"][0]["reasons"][0], "ddns.mismatch");
  EXPECT_EQ(j["health"], "warning");
}

TEST(StatusJson, AbsentOptionalsAreNull) {
  Report r;
  json j = toJson(r);
  EXPECT_TRUE(j["daemon"]["since"].is_null());
  EXPECT_TRUE(j["mode"]["since"].is_null());
  EXPECT_TRUE(j["mode"]["review_at"].is_null());
  EXPECT_TRUE(j["fetchmail"]["last_poll"].is_null());
  EXPECT_TRUE(j["fetchmail"]["last_exit"].is_null());
  EXPECT_TRUE(j["fetchmail"]["messages_waiting"].is_null());
  EXPECT_EQ(j["health"], "unknown");
}

TEST(StatusJson, RoundTripsEveryField) {
  Report r = test::multidropMismatch();
  r.daemon.policyErrors = {"/etc/dynmx/dynmx.toml:3:1: error: unknown key"};
  r.ddns.hosts[0].fatal = "badauth";
  r.fetchmail.lastError = "AUTHFAIL: refused";
  r.fetchmail.lastExit = 3;
  r.hooks.push_back({at("2026-11-23T10:00:02Z"), "/bin/false", "multidrop", false, "exit 1"});
  r.ddns.hosts[1].withdrawn = true;
  r.ddns.withdrawalCacheTtl = std::chrono::seconds(900);
  r.sweep = {std::chrono::minutes(15), at("2026-11-23T10:00:00Z"), false, "exit 2", at("2026-11-23T10:15:00Z"), 2};
  r.health = Health::Critical;
  r.healthReasons = {{"fetchmail.authfail", "x", {}}};
  auto back = reportFromJson(std::string_view(dumpJson(toJson(r))));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(toJson(*back), toJson(r));
  EXPECT_EQ(back->ddns.hosts[0].fatal, "badauth");
  EXPECT_EQ(back->fetchmail.lastExit, 3);
  EXPECT_EQ(back->hooks.back().error, "exit 1");
  EXPECT_EQ(back->health, Health::Critical);
  EXPECT_TRUE(back->ddns.hosts[1].withdrawn);
  EXPECT_EQ(back->ddns.withdrawalCacheTtl, std::chrono::seconds(900));
  EXPECT_EQ(back->sweep.failures, 2);
  EXPECT_EQ(back->sweep.next, at("2026-11-23T10:15:00Z"));
  EXPECT_FALSE(back->sweep.lastOk);
}

TEST(StatusJson, IgnoresUnknownKeysAndKeepsDefaultsForMissingOnes) {
  auto r = reportFromJson(std::string_view(R"({"future": 1, "mode": {"current": "direct", "x": [1]}})"));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->mode.current, "direct");
  EXPECT_EQ(r->mode.policy, "auto");
  EXPECT_EQ(r->health, Health::Unknown);
}

struct BadCase {
  const char* json;
  const char* error;
};

class StatusJsonRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(StatusJsonRejects, WithTheKeyInTheMessage) {
  auto r = reportFromJson(std::string_view(GetParam().json));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StatusJsonRejects,
    ::testing::Values(
        BadCase{"", "status: not valid JSON"}, BadCase{"{", "status: not valid JSON"},
        BadCase{"[]", "status: expected a JSON object"},
        BadCase{R"({"daemon": 1})", "daemon: expected an object"},
        BadCase{R"({"daemon": {"pid": "123"}})", "daemon.pid: expected an integer"},
        BadCase{R"({"daemon": {"pid": 1.5}})", "daemon.pid: expected an integer"},
        BadCase{R"({"daemon": {"pid": 99999999999}})", "daemon.pid: integer out of range"},
        BadCase{R"({"daemon": {"running": 1}})", "daemon.running: expected true or false"},
        BadCase{R"({"mode": {"since": "yesterday"}})",
                "mode.since: expected an RFC 3339 time like 2026-11-23T10:00:00Z"},
        BadCase{R"({"mode": {"reasons": [{"code": 7}]}})", "mode.reasons[0].code: expected a string"},
        BadCase{R"({"ddns": {"host": "a"}})", "ddns: expected an array of hosts"},
        BadCase{R"({"ddns": [{"verified": "yes"}]})", "ddns[0].verified: expected true or false"},
        BadCase{R"({"fetchmail": {"last_exit": -2147483649}})", "fetchmail.last_exit: integer out of range"},
        BadCase{R"({"switches": [{"from": "direct"}]})", "switches[0].at: missing"},
        BadCase{R"({"switches": [{"at": "2026-11-23T10:00:00Z", "reasons": [1]}]})",
                "switches[0].reasons[0]: expected a string"},
        BadCase{R"({"health": "fine"})", "health: expected ok, warning, critical or unknown"},
        BadCase{"{\"mode\": {\"current\": \"\xff\"}}", "status: not valid JSON"}));

TEST(StatusJson, GarbageNeverThrows) {
  const std::string samples[] = {std::string(100000, '['), std::string("{\"daemon\":") + std::string(5000, '['),
                                 "\x00\x01", "nul", "{\"a\":1e999999}", "{\"switches\":[null]}"};
  for (const auto& s : samples) {
    EXPECT_NO_THROW({
      auto r = reportFromJson(std::string_view(s));
      (void)r;
    });
  }
}

TEST(StatusJson, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  Report r;
  r.fetchmail.lastError = "bad \xff byte";
  std::string text;
  EXPECT_NO_THROW(text = dumpJson(toJson(r)));
  EXPECT_NE(text.find("bad "), std::string::npos);
}

}  // namespace
}  // namespace dynmx::status
