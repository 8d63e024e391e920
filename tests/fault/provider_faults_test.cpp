// Fault class "provider" (issue 6, part 2): the dyndns2 provider misbehaves while dynmx runs
// for real (named, dovecot, fetchmail, the loopback provider, `dynmx run`).
//
// Each scenario starts healthy on direct, sets the fault, then moves the public address the
// IP-check source answers, so dynmx must update; the update meets the fault and the record
// at named keeps the old address. dynmx must then: keep running; name the problem in its
// status (the host's last_result / last_error / fatal and the DDNS verdict); move mail to
// multidrop and stay there while the fault lasts; deliver the mail waiting at the ISP
// exactly once to the right user; and follow the provider's rule (docs/ddns.md, "Planner
// and back-off"): after 911/dnserr/garbage/oversized nothing for 30 minutes, after a fatal
// answer nothing until the account's configuration changes, after a transport failure the
// n-th retry only after min(1m·2^(n−1), 30m). "Nothing sent" is observed over several of
// the daemon's detection rounds (its GET /ip at the provider), never by the clock.
// Then the world is cleared (provider normal, daemon restarted without its state) and
// must come back to direct with nothing left at the ISP.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "provider_bed.hpp"
#include "testbed/ports.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testbed::kWorldHijacker;
using testbed::kWorldHost;

/// What the provider's rules allow after the fault (docs/ddns.md).
enum class Rule {
  RetryLater,  ///< 911, dnserr, garbage, oversized: nothing for at least 30 minutes
  Transient,   ///< timeout, connect, TLS, 5xx: first retry after 1 minute, doubling
  Fatal,       ///< badauth, abuse, nohost, numhost, 4xx: nothing until the config changes
};

/// One fault met by an address update.
struct UpdateFault {
  std::string name;
  std::string control;             ///< the provider's fault mode ("" = none: the fault is elsewhere)
  std::string result;              ///< the host's last_result
  std::vector<std::string> texts;  ///< one of them must be in the host's last_error or fatal
  Rule rule = Rule::RetryLater;
  bool providerSeesIt = true;      ///< the world's provider receives the failing update
  bool updateApplies = false;      ///< the provider changes the record before the fault (drip)
};

/// Detection rounds watched for "no retry, still multidrop": several check intervals.
constexpr int kWindowRounds = 5;

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : std::string(); }

std::string idPrefix(const std::string& name) {
  std::string id = "P-";
  for (char c : name) id += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '_';
  return id;
}

Batch batchFor(const std::string& name) {
  return {{idPrefix(name) + "-1", "alice"}, {idPrefix(name) + "-2", "bob"}};
}

std::size_t countOf(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

/// SIGHUP with `policy`; wait until the daemon reloaded it and two further detection rounds
/// began (so every pass from now on runs with the new [ddns] section).
bool reloadWith(ProviderBed& b, const std::string& policy) {
  const std::size_t before = countOf(b.w.daemon->log(), "policy reloaded from");
  testbed::writeTextFile(b.w.policyPath, policy, 0644);
  ::kill(b.w.daemon->pid(), SIGHUP);
  if (!testbed::eventually([&] { return countOf(b.w.daemon->log(), "policy reloaded from") > before; }, 30s))
    return false;
  const long checks = b.ipChecks();
  return testbed::eventually([&] { return b.ipChecks() >= checks + 2; }, 30s);
}

/// The healthy start every scenario needs.
bool healthyDirect(ProviderBed& b) {
  auto s = b.status();
  const bool ok = s && (*s)["mode"]["current"] == "direct" && (*s)["ddns_health"]["state"] == "healthy";
  EXPECT_TRUE(ok) << "not healthy on direct before the fault: " << (s ? s->dump(2) : "no status");
  return ok;
}

/// The whole scenario for a fault met by an address update. `afterWindow` runs once the
/// rule's window has been watched (e.g. the config change that lifts a ban); the scenario
/// then clears the world with `clearPolicy`.
void runUpdateFault(ProviderBed& b, Scenario& s, const UpdateFault& f, const std::string& newAddress,
                    const std::string& clearPolicy, const std::function<void()>& afterWindow = {}) {
  if (!healthyDirect(b)) return;
  auto oldRecord = b.w.named->dig(kWorldHost);
  ASSERT_TRUE(oldRecord.ok());
  ASSERT_NE(*oldRecord, newAddress);
  const Batch batch = batchFor(f.name);

  if (!f.control.empty()) {
    ASSERT_TRUE(b.control(f.control));
  }
  const long requestsBefore = b.updateRequests();
  ASSERT_TRUE(b.setPublicIp(newAddress));

  // The update meets the fault; DDNS fails; after ddns_failing_max mail goes to multidrop.
  EXPECT_TRUE(b.waitHost([&](const Json& h) { return h.value("last_result", "") == f.result; }, 60s))
      << f.name << ": host row " << b.hostRow().dump(2) << "\n"
      << b.w.daemon->log();
  EXPECT_TRUE(b.w.waitForMode("multidrop", 60s)) << f.name << ": " << b.w.daemon->log();
  ASSERT_TRUE(b.deposit(batch));

  auto st = b.status();
  ASSERT_TRUE(st) << "the daemon does not answer after " << f.name;
  const Json row = (*st)["ddns"][0];
  // Status names the problem: the host's own error, the DDNS verdict, the mode's reasons.
  const std::string named = text(row["last_error"]) + " | " + text(row["fatal"]);
  EXPECT_TRUE(std::any_of(f.texts.begin(), f.texts.end(),
                          [&](const std::string& t) { return named.find(t) != std::string::npos; }))
      << f.name << ": status does not name the problem: " << row.dump(2);
  const std::string code = f.rule == Rule::Fatal ? "ddns.provider_fatal" : "ddns.provider_retrying";
  EXPECT_EQ((*st)["ddns_health"]["code"], code) << (*st)["ddns_health"].dump(2);
  EXPECT_NE(text((*st)["ddns_health"]["text"]).find(f.result), std::string::npos) << (*st)["ddns_health"].dump(2);
  EXPECT_NE((*st)["mode"]["reasons"].dump().find(code), std::string::npos) << (*st)["mode"].dump(2);
  EXPECT_NE((*st)["health"], "ok");

  // The provider's rule as the state records it.
  const auto lastUpdate = unixSeconds(row["last_update"]);
  const auto retryAfter = unixSeconds(row["retry_after"]);
  ASSERT_TRUE(lastUpdate) << row.dump(2);
  switch (f.rule) {
    case Rule::RetryLater:
      ASSERT_TRUE(retryAfter) << row.dump(2);
      EXPECT_GE(*retryAfter - *lastUpdate, 30 * 60) << "911/dnserr/garbage/oversized: not before 30 minutes";
      break;
    case Rule::Transient:
      ASSERT_TRUE(retryAfter) << row.dump(2);
      EXPECT_EQ(*retryAfter - *lastUpdate, 60) << "first transient failure: retry after 1 minute";
      break;
    case Rule::Fatal:
      EXPECT_FALSE(text(row["fatal"]).empty()) << row.dump(2);
      EXPECT_TRUE(row["retry_after"].is_null()) << "a fatal answer has no retry time: " << row.dump(2);
      break;
  }
  // The record still holds the old address (drip: the provider applied it before answering).
  if (!f.updateApplies) {
    auto record = b.w.named->dig(kWorldHost);
    ASSERT_TRUE(record.ok());
    EXPECT_EQ(*record, *oldRecord);
  }

  // Exactly one request met the fault; over several detection rounds nothing more is sent
  // and mail stays on multidrop.
  const long requestsAfterFault = b.updateRequests();
  EXPECT_EQ(requestsAfterFault, requestsBefore + (f.providerSeesIt ? 1 : 0)) << f.name;
  std::string seen;
  EXPECT_TRUE(b.holdsModeFor(kWindowRounds, "multidrop", seen, 90s)) << f.name << ": " << seen;
  EXPECT_EQ(b.updateRequests(), requestsAfterFault) << f.name << ": the provider's rule forbids a retry now";
  EXPECT_EQ(b.hostRow()["last_update"], row["last_update"]) << f.name << ": another attempt was made";

  // The mail waiting at the ISP arrives while on multidrop.
  EXPECT_TRUE(b.waitDelivered(batch, 90s)) << f.name << ": " << b.w.daemon->log();
  EXPECT_TRUE(b.w.daemon->running()) << f.name << ": the daemon died";
  EXPECT_TRUE(b.status().has_value()) << f.name << ": the daemon does not answer";

  if (afterWindow) afterWindow();

  std::string why;
  EXPECT_TRUE(b.freshDirect(clearPolicy, why)) << f.name << " clear: " << why;
  EXPECT_EQ(b.w.dovecot->count("office"), 0u) << "nothing may stay at the ISP on direct";
  s.lost = b.lost(batch);
}

// ---------------------------------------------------------------------------------------

class ProviderFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  }
};

TEST_F(ProviderFaults, RetryLaterCodes) {
  ProviderBed b("pf-retry");
  ASSERT_TRUE(b.start().ok());
  const std::string policy = b.w.goodPolicy;
  std::string why;
  ASSERT_TRUE(b.freshDirect(policy, why)) << why;
  FaultClass c("provider");
  const std::vector<UpdateFault> faults = {
      {"911", "mode=code&code=911", "911", {"911"}, Rule::RetryLater},
      {"dnserr", "mode=code&code=dnserr", "dnserr", {"dnserr"}, Rule::RetryLater},
      {"garbage", "mode=garbage", "garbage", {"<html>oops</html>"}, Rule::RetryLater},
  };
  int n = 10;
  for (const auto& f : faults) {
    const std::string address = "203.0.113." + std::to_string(++n);
    c.scenario(f.name, [&](Scenario& s) { runUpdateFault(b, s, f, address, policy); });
  }
  c.report();
}

TEST_F(ProviderFaults, FatalCodes) {
  ProviderBed b("pf-fatal");
  ASSERT_TRUE(b.start().ok());
  const std::string policy = b.w.goodPolicy;
  std::string why;
  ASSERT_TRUE(b.freshDirect(policy, why)) << why;
  FaultClass c("provider");

  // badauth, and then the rule's other half: a changed account lifts the ban at once.
  c.scenario("badauth", [&](Scenario& s) {
    const UpdateFault f{"badauth", "mode=code&code=badauth", "badauth", {"badauth"}, Rule::Fatal};
    runUpdateFault(b, s, f, "203.0.113.21", policy, [&] {
      ASSERT_TRUE(b.control("mode=normal"));
      const std::string rotated = b.w.dir.path() + "/ddns-rotated.password";
      testbed::writeTextFile(rotated, "ddns-secret-E2E\n", 0600);
      handToDaemonUser(rotated);
      const long before = b.updateRequests();
      ASSERT_TRUE(reloadWith(b, b.policyWith({{"/ddns.password\"", "/ddns-rotated.password\""}})))
          << b.w.daemon->log();
      EXPECT_TRUE(b.waitHost(
          [](const Json& h) { return h.value("last_result", "") == "good" && h["fatal"].is_null(); }, 60s))
          << "the edited account must lift the ban: " << b.hostRow().dump(2);
      EXPECT_EQ(b.updateRequests(), before + 1) << "one update after the config change";
      EXPECT_TRUE(b.w.waitForMode("direct", 90s)) << b.w.daemon->log();
    });
  });
  const std::vector<UpdateFault> faults = {
      {"abuse", "mode=code&code=abuse", "abuse", {"abuse"}, Rule::Fatal},
      {"nohost", "mode=code&code=nohost", "nohost", {"nohost"}, Rule::Fatal},
      {"numhost", "mode=code&code=numhost", "numhost", {"numhost"}, Rule::Fatal},
      {"http-404", "mode=http&status=404", "http-error", {"HTTP 404"}, Rule::Fatal},
  };
  int n = 21;
  for (const auto& f : faults) {
    const std::string address = "203.0.113." + std::to_string(++n);
    c.scenario(f.name, [&](Scenario& s) { runUpdateFault(b, s, f, address, policy); });
  }

  // !donator: offline=YES on the way to multidrop, from a non-donator account. The record is
  // hijacked (the honest way to need multidrop while the provider itself works); the switch
  // asks offline=YES once, the provider refuses; never again with the same configuration,
  // while address updates go on and bring mail back to direct.
  c.scenario("!donator", [&](Scenario& s) {
    const std::string hosts = std::string("hosts = [\"") + kWorldHost + "\"]\n";
    const std::string offlinePolicy = b.policyWith({{hosts, hosts + "offline_on_multidrop = true\n"}});
    ASSERT_TRUE(b.freshDirect(offlinePolicy, why)) << why;
    const Batch batch = batchFor("!donator");
    const auto offlineAsks = [&] {
      long asks = 0;
      for (const auto& l : b.providerLog())
        if (l.value("offline", "") == "YES") ++asks;
      return asks;
    };
    // A fresh start is on multidrop (the safe side), and the coordinator's intent there is
    // "withdraw": offline=YES goes out once, this provider refuses it (!donator), and plain
    // updates bring mail to direct.
    ASSERT_EQ(offlineAsks(), 1);
    {
      bool refused = false;
      for (const auto& l : b.providerLog())
        if (l.value("offline", "") == "YES") refused = l["answer"] == Json::array({"!donator"});
      EXPECT_TRUE(refused) << "the offline=YES ask was answered !donator";
    }

    ASSERT_TRUE(b.w.setRecord(kWorldHijacker).ok());
    EXPECT_TRUE(b.w.waitForMode("multidrop", 60s)) << b.w.daemon->log();
    ASSERT_TRUE(b.deposit(batch));
    auto st = b.status();
    ASSERT_TRUE(st);
    EXPECT_NE((*st)["mode"]["reasons"].dump().find("ddns.mismatch"), std::string::npos) << (*st)["mode"].dump(2);
    EXPECT_EQ(offlineAsks(), 1) << "offline=YES asked again after !donator";

    std::string seen;
    const long requests = b.updateRequests();
    EXPECT_TRUE(b.holdsModeFor(kWindowRounds, "multidrop", seen, 90s)) << seen;
    EXPECT_EQ(offlineAsks(), 1) << "offline=YES asked again after !donator";
    EXPECT_EQ(b.updateRequests(), requests);

    // Address updates go on: a new address is published (without offline=YES), the record is
    // right again, and mail returns to direct after the hold-down.
    ASSERT_TRUE(b.setPublicIp("203.0.113.31"));
    EXPECT_TRUE(b.waitHost(
        [](const Json& h) {
          return h.value("address", "") == "203.0.113.31" && h.value("last_result", "") == "good" &&
                 h.value("verified", false);
        },
        90s))
        << b.hostRow().dump(2) << "\n" << b.w.daemon->log();
    {
      const auto log = b.providerLog();
      ASSERT_FALSE(log.empty());
      EXPECT_EQ(log.back().value("offline", "?"), "") << log.back().dump();
      EXPECT_EQ(log.back().value("myip", ""), "203.0.113.31") << log.back().dump();
    }
    EXPECT_TRUE(b.w.waitForMode("direct", 90s)) << b.w.daemon->log();
    EXPECT_EQ(offlineAsks(), 1);
    EXPECT_TRUE(b.waitDelivered(batch, 90s));
    EXPECT_EQ(b.w.dovecot->count("office"), 0u) << "nothing may stay at the ISP on direct";
    EXPECT_TRUE(b.w.daemon->running());

    ASSERT_TRUE(b.freshDirect(policy, why)) << why;
    s.lost = b.lost(batch);
  });
  c.report();
}

TEST_F(ProviderFaults, Transport) {
  ProviderBed b("pf-transport");
  ASSERT_TRUE(b.start().ok());
  // A short request timeout bounds the hanging and dripping provider.
  const std::string policy = b.policyWith({{"request_timeout = \"10s\"", "request_timeout = \"3s\""}});
  std::string why;
  ASSERT_TRUE(b.freshDirect(policy, why)) << why;
  FaultClass c("provider");

  c.scenario("http-500", [&](Scenario& s) {
    runUpdateFault(b, s, {"http-500", "mode=http&status=500", "http-error", {"HTTP 500"}, Rule::Transient},
                   "203.0.113.41", policy);
  });
  c.scenario("no-answer", [&](Scenario& s) {
    runUpdateFault(b, s, {"no-answer", "mode=hang", "timeout", {"timeout", "timed out"}, Rule::Transient},
                   "203.0.113.42", policy);
  });
  c.scenario("drip", [&](Scenario& s) {
    UpdateFault f{"drip", "mode=drip&drip_ms=1000", "timeout", {"timed out"}, Rule::Transient};
    f.updateApplies = true;
    runUpdateFault(b, s, f, "203.0.113.43", policy);
  });
  c.scenario("10MB-reply", [&](Scenario& s) {
    runUpdateFault(b, s, {"10MB-reply", "mode=huge&bytes=10485760", "oversized", {"larger than"}, Rule::RetryLater},
                   "203.0.113.44", policy, [&] {
                     // Memory bounded: the reply is cut at 64 KiB. A one-shot `dynmx update`
                     // (own state dir) meeting the 10 MB reply peaks no higher than one
                     // meeting a small HTTP 500 page (ASan's allocator makes the daemon's own
                     // peak drift with time, so the two are compared side by side).
                     const auto peak = [&](const std::string& fault, const std::string& tag) {
                       const std::string probe = b.w.dir.path() + "/probe-" + tag + ".toml";
                       testbed::writeTextFile(probe, b.policyWith({{"/state\"\n", "/probe-" + tag + "\"\n"},
                                                                   {"request_timeout = \"10s\"",
                                                                    "request_timeout = \"3s\""}}),
                                              0644);
                       EXPECT_TRUE(b.control(fault));
                       return childPeakKiB({dynmxBinaryPath(), "update", "-c", probe}, 60s);
                     };
                     const long hugePeak = peak("mode=huge&bytes=10485760", "huge");
                     const long smallPeak = peak("mode=http&status=500", "small");
                     ASSERT_GT(hugePeak, 0);
                     ASSERT_GT(smallPeak, 0);
                     EXPECT_LT(hugePeak, smallPeak + 4 * 1024)
                         << "peak KiB with the 10 MB reply " << hugePeak << ", with a small one " << smallPeak;
                   });
  });
  c.scenario("connect-refused", [&](Scenario& s) {
    // The account's URL moves (SIGHUP) to a loopback port nobody listens on.
    const int closed = testbed::freePort();
    const std::string from = "url = \"http://127.0.0.1:" + std::to_string(b.w.providerPort) + "/nic/update\"";
    const std::string to = "url = \"http://127.0.0.1:" + std::to_string(closed) + "/nic/update\"";
    const std::string refused = policy.substr(0, policy.find(from)) + to + policy.substr(policy.find(from) + from.size());
    ASSERT_NE(policy.find(from), std::string::npos);
    ASSERT_TRUE(reloadWith(b, refused)) << b.w.daemon->log();
    UpdateFault f{"connect-refused", "", "connect-error", {"connect", "Connection refused"}, Rule::Transient};
    f.providerSeesIt = false;
    runUpdateFault(b, s, f, "203.0.113.45", policy);
  });
  c.report();
}

}  // namespace
}  // namespace dynmx::fault
