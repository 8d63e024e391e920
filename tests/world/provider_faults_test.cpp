// Fault class "provider" in the senders' world: the dyndns2 provider misbehaves while the
// senders keep sending (one message a second) and dynmx runs in `auto` with MX steering
// (rfc2136), so on multidrop the published MX is the ISP's and the senders deliver there.
//
// A scenario moves the office to a new address (`World::moveOffice`: the old address is
// free, nobody listens there, the senders fall back to MX 20) while the provider answers
// with a fault (its /control modes, tests/dyndns2d), so the update meets the fault and the
// record keeps the old address. dynmx must then: keep running; name the problem in its
// status (the host's last_result / last_error / fatal, the DDNS verdict, the mode's
// reasons); be on multidrop with the multidrop MX set verified at BIND; follow the
// provider's rule (docs/ddns.md, "Planner and back-off") as its state records it: after
// 911/dnserr/garbage/oversized nothing for 30 minutes, after a fatal answer nothing until
// the account's configuration changes, after a transport failure the first retry after
// 1 minute; send exactly one request, and no further one over several detection rounds
// while DDNS stays failing and mail stays on multidrop. "Detection rounds" are counted at
// the office's IP-check source (a second dyndns2d whose GET /ip the policy lists as
// `web_sources`, agreement "first": every detection pass asks it once; the interface
// still decides the address), never by the clock.
// Then the fault is cleared as the loopback test cleared it (provider normal, dynmx
// restarted without its state) and every copy the senders sent during the scenario must be
// delivered exactly once, none misdirected, and those sent once the multidrop MX set was
// verified must have come through the ISP.
//
// Two worlds (two TESTs, so ctest runs them side by side; a world costs ~50 s to build and
// bring to direct). The first scenario of each leaves direct; the others follow on
// multidrop: the clears restart dynmx with `hold_down = "10m"`, because every way back to
// direct waits out the multidrop MX set's 30 s TTL (dynmx's floor) and the CI budget cannot
// pay that per scenario.
//   TlsAndFatal                    tls-name-mismatch (after a positive control over TLS on
//                                  direct), badauth (the ban lifted by a rotated password
//                                  file), abuse, nohost, numhost, http-404, drip
//   DonatorRetryLaterAndTransient  !donator (offline_on_multidrop from a non-donator account;
//                                  the world's start is its first half; the link drop leaves
//                                  direct), 911, dnserr, garbage, 10MB-reply, http-500,
//                                  no-answer, connect-refused
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "dns_fetchmail_support.hpp"
#include "dynmx/process.hpp"
#include "dynmx/time.hpp"
#include "fault_class.hpp"
#include "testbed/ports.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;
using fault::replaced;

constexpr const char* kMultidropMx = "10 mx.isp.example.";
/// Detection rounds watched for "no retry, still multidrop": several check intervals.
constexpr int kWindowRounds = 5;
constexpr auto kNamedBound = 60s;     // the fault named (request_timeout 3 s, check every 1 s)
constexpr auto kDeliveryBound = 60s;  // a fetchmail poll (10 s) and the senders' retries

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

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : std::string(); }

std::optional<long long> unixSeconds(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  auto t = parseTime(value.get<std::string>());
  if (!t) return std::nullopt;
  return toUnix(*t);
}

Json statusOf(const World& w) {
  auto s = w.status();
  return s ? *s : Json::object();
}

Json hostRow(const Json& st) {
  if (!st.contains("ddns") || !st["ddns"].is_array() || st["ddns"].empty()) return Json::object();
  return st["ddns"][0];
}

/// `curl -s URL` (extra arguments first) → body, "" on failure.
std::string curlGet(const std::string& url, const std::vector<std::string>& curlArgs = {}) {
  std::vector<std::string> argv = {"curl", "-s", "--max-time", "10"};
  argv.insert(argv.end(), curlArgs.begin(), curlArgs.end());
  argv.push_back(url);
  auto r = runProcess({.argv = argv, .timeout = 15s});
  return r.started && !r.timedOut && r.exitCode == 0 ? r.out : std::string();
}

/// The provider's --log lines (one JSON object per update request).
std::vector<Json> providerLog(const World& w) {
  std::vector<Json> lines;
  std::ifstream in(w.dir() + "/provider.log");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      lines.push_back(Json::parse(line));
    } catch (const std::exception&) {
      ADD_FAILURE() << "provider log line is not JSON: " << line;
    }
  }
  return lines;
}

long offlineAsks(const World& w) {
  long asks = 0;
  for (const auto& l : providerLog(w))
    if (l.value("offline", "") == "YES") ++asks;
  return asks;
}

/// Run argv (no shell, output discarded) to its end, bounded by `bound` (then SIGKILL);
/// its peak resident memory (ru_maxrss, KiB), -1 if it could not run.
long childPeakKiB(const std::vector<std::string>& argv, std::chrono::milliseconds bound) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  const bool ended = testbed::eventually([&] { return ::wait4(pid, &status, WNOHANG, &usage) == pid; }, bound);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::wait4(pid, &status, 0, &usage);
    return -1;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 127 ? usage.ru_maxrss : -1;
}

/// The office's IP-check source: a second dyndns2d nobody sends updates to, whose GET /ip
/// answers the office's current address. dynmx asks it once per detection pass, so its
/// request count is the daemon's detection rounds (our own /stats reads subtracted).
class IpCheck {
 public:
  Status<> start(World& w) {
    port_ = testbed::freePort();
    auto p = w.startProvider(port_, "ipcheck", {"--public-ip", kOfficeAddress});
    if (!p.ok()) return fail(p.error());
    process_ = std::move(*p);
    return Ok{};
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ip"; }
  /// What GET /ip answers from now on.
  bool set(const std::string& address) {
    return curlGet("http://127.0.0.1:" + std::to_string(port_) + "/control?public_ip=" + address)
               .find("\"result\":0") != std::string::npos;
  }
  /// Detection rounds so far: GET /ip requests (HTTP requests minus updates, control
  /// requests and our own /stats reads).
  long rounds() {
    ++ownReads_;
    const std::string body = curlGet("http://127.0.0.1:" + std::to_string(port_) + "/stats");
    try {
      const Json s = Json::parse(body);
      return s.value("http_requests", 0L) - s.value("requests", 0L) - s.value("control_requests", 0L) - ownReads_;
    } catch (const std::exception&) {
      ADD_FAILURE() << "IP-check source /stats: " << body;
      return -1;
    }
  }
  void stop() {
    if (process_) process_->stop();
  }

 private:
  int port_ = 0;
  long ownReads_ = 0;
  std::unique_ptr<testbed::ServerProcess> process_;
};

/// One world of this class and what its scenarios share.
struct Bed {
  World w{dynmxBinary(), dyndns2dBinary(), "wfpv"};
  IpCheck ip;
  std::string startPolicy;  ///< what dynmx ran with at the start (the first scenario's)
  std::string policy;       ///< what the clears restart it with (hold_down 10m, no offline)
  double directMxGoneAt = 1e9;  ///< stream time from which no sender can hold the direct MX set
  int nextHost = 10;
  std::string nextAddress() { return "203.0.113." + std::to_string(++nextHost); }
};

/// The world's policy for this class: the IP-check source as a web source (the interface
/// still decides: a public address on it wins), detection every second, a 3 s request
/// timeout (bounds the hanging and dripping provider, as the loopback test did).
std::string classPolicy(const World& w, const IpCheck& ip) {
  std::string p = w.goodPolicy();
  p = replaced(p, "[ddns.detect]\nipv4 = true\n",
               "[ddns.detect]\nipv4 = true\nweb_sources = [\"" + ip.url() + "\"]\nagreement = \"first\"\n");
  p = replaced(p, "check_interval = \"2s\"", "check_interval = \"1s\"");
  p = replaced(p, "request_timeout = \"10s\"", "request_timeout = \"3s\"");
  return p;
}

/// Start the world in `auto` with MX steering; `fragment` lands in the account table.
void startBed(Bed& b, const std::string& fragment) {
  DaemonSetup setup{"auto", "dedicated", fragment, true, false, [&](World& w) -> Status<> {
                      if (auto s = b.ip.start(w); !s.ok()) return s;
                      b.startPolicy = classPolicy(w, b.ip);
                      testbed::writeTextFile(w.policyPath(), b.startPolicy, 0644);
                      return Ok{};
                    }};
  auto started = b.w.start(setup);
  ASSERT_TRUE(started.ok()) << started.error();
  b.policy = replaced(b.startPolicy, "hold_down = \"8s\"", "hold_down = \"10m\"");
  if (!fragment.empty()) b.policy = replaced(b.policy, fragment, "");
  b.w.startStream(1000ms);
}

/// The multidrop MX set is published and verified at BIND.
bool multidropMxVerified(World& w) {
  auto mx = w.dig(kMailDomain, "MX");
  if (!mx.ok() || *mx != kMultidropMx) return false;
  Json st = statusOf(w);
  for (const auto& m : st["mx"])
    if (m["wanted"] == "multidrop" && m["verified"] == true) return true;
  return false;
}

/// Watch `rounds` further detection rounds; `broken` says what is wrong with a status sample
/// ("" while all is as it must be). False (with `seen`) if a sample was wrong or the rounds
/// did not happen within `bound`.
bool holdsFor(Bed& b, int rounds, const std::function<std::string(Json&)>& broken, std::string& seen,
              std::chrono::milliseconds bound = 60s) {
  const long start = b.ip.rounds();
  bool held = true;
  const bool ended = testbed::eventually(
      [&] {
        Json st = statusOf(b.w);
        if (st.empty()) {
          held = false;
          seen = "no status answer";
          return true;
        }
        if (auto why = broken(st); !why.empty()) {
          held = false;
          seen = why;
          return true;
        }
        return b.ip.rounds() >= start + rounds;
      },
      bound);
  if (ended && held) return true;
  if (held) seen = "only " + std::to_string(b.ip.rounds() - start) + " detection rounds happened";
  return false;
}

/// SIGHUP with `policy`; wait until dynmx reloaded it and two further detection rounds began
/// (every pass from then on runs with the new [ddns] section).
void reloadWith(Bed& b, const std::string& policy) {
  auto s = b.w.reloadPolicy(policy);
  ASSERT_TRUE(s.ok()) << s.error();
  const long rounds = b.ip.rounds();
  ASSERT_TRUE(testbed::eventually([&] { return b.ip.rounds() >= rounds + 2; }, 30s)) << b.w.daemonLog();
}

/// The clear: provider normal, dynmx stopped, its state removed, started again with
/// `policy`; it starts on multidrop (the safe side without state), publishes the office's
/// address and verifies it.
void clearFault(Bed& b, const std::string& policy) {
  auto c = b.w.providerControl("mode=normal&delay_ms=0");
  ASSERT_TRUE(c.ok()) << c.error();
  b.w.stopDaemon();
  std::error_code ec;
  std::filesystem::remove_all(b.w.dir() + "/state", ec);
  auto s = b.w.restartDaemonWith(policy);
  ASSERT_TRUE(s.ok()) << s.error();
  Json st;
  ASSERT_TRUE(testbed::eventually(
      [&] {
        st = statusOf(b.w);
        const Json row = hostRow(st);
        return st["ddns_health"]["state"] == "healthy" && row.value("address", "") == b.w.officeAddress() &&
               row.value("verified", false) && st["mode"]["current"] == "multidrop";
      },
      60s))
      << "not healthy on multidrop after the clear: " << st.dump(2) << "\n"
      << b.w.daemonLog();
}

/// Every copy the senders sent in [from, to) reaches its user exactly once, none astray;
/// those sent in [viaIspFrom, viaIspTo) came through the ISP. The scenario's lost count.
long expectDelivered(Bed& b, const std::string& tag, double from, double to, double viaIspFrom, double viaIspTo) {
  Account a;
  EXPECT_TRUE(testbed::eventually(
      [&] {
        // Delivered, and no longer in the box: a poll that has handed a copy over but not yet
        // deleted it shows it twice for a moment; a real duplicate stays.
        a = b.w.account(from, to);
        return a.direct + a.viaIsp == a.copies && a.problems.empty();
      },
      kDeliveryBound))
      << tag << ": mail sent during the scenario not delivered\n"
      << a.toJson().dump(2) << "\n"
      << b.w.logs();
  a = b.w.account(from, to);
  std::cout << "[ copies   ] " << tag << ": " << a.toJson().dump() << std::endl;
  EXPECT_GT(a.copies, 0) << tag << ": the senders sent nothing during the scenario";
  EXPECT_EQ(a.direct + a.viaIsp, a.copies) << a.toJson().dump(2);
  EXPECT_EQ(a.misdirected, 0) << a.toJson().dump(2);
  for (const auto& p : a.problems) ADD_FAILURE() << tag << ": " << p;
  const Account isp = b.w.account(viaIspFrom, viaIspTo);
  EXPECT_GT(isp.copies, 0) << tag << ": nothing sent while on multidrop";
  EXPECT_EQ(isp.viaIsp, isp.copies) << tag << ": mail sent once the multidrop MX set was verified must come "
                                       "through the ISP\n"
                                    << isp.toJson().dump(2);
  return a.lost + a.duplicates + a.misdirected;
}

/// The whole scenario for a fault met by an address update. `afterWindow` runs once the
/// rule's window has been watched (e.g. the config change that lifts a ban); then the world
/// is cleared with `b.policy`.
void runUpdateFault(Bed& b, fault::Scenario& s, const UpdateFault& f, const std::function<void()>& afterWindow = {}) {
  World& w = b.w;
  Json before = statusOf(w);
  ASSERT_EQ(before["ddns_health"]["state"], "healthy") << f.name << ": not healthy before the fault\n"
                                                       << before.dump(2);
  const bool fromDirect = before["mode"]["current"] == "direct";
  auto oldRecord = w.dig(kOfficeHost);
  ASSERT_TRUE(oldRecord.ok());
  ASSERT_EQ(*oldRecord, w.officeAddress());
  const std::string newAddress = b.nextAddress();
  const std::size_t journalBefore = before["switches"].size();
  if (f.updateApplies) {
    // The record will be right again: a sender that still holds the direct MX set (its
    // 30 s TTL since the world's first switch) would deliver direct, which is right but
    // not what this scenario asks (mail on multidrop through the ISP).
    ASSERT_TRUE(testbed::eventually([&] { return w.elapsed() >= b.directMxGoneAt; }, 60s));
  }
  const double from = w.elapsed();

  if (!f.control.empty()) {
    auto c = w.providerControl(f.control);
    ASSERT_TRUE(c.ok()) << c.error();
  }
  const long requestsBefore = w.providerRequests();
  ASSERT_TRUE(b.ip.set(newAddress));
  auto moved = w.moveOffice(newAddress);
  ASSERT_TRUE(moved.ok()) << moved.error();

  // The update meets the fault; DDNS fails; after ddns_failing_max mail is on multidrop and
  // the multidrop MX set is verified at BIND.
  EXPECT_TRUE(testbed::eventually([&] { return hostRow(statusOf(w)).value("last_result", "") == f.result; },
                                  kNamedBound))
      << f.name << ": host row " << hostRow(statusOf(w)).dump(2) << "\n"
      << w.daemonLog();
  EXPECT_TRUE(testbed::eventually(
      [&] {
        Json st = statusOf(w);
        return st["mode"]["current"] == "multidrop" && !st["mode"]["switching"].get<bool>() &&
               multidropMxVerified(w);
      },
      kNamedBound))
      << f.name << ": not on multidrop with the multidrop MX set verified\n"
      << statusOf(w).dump(2) << "\n"
      << w.daemonLog();
  const double multidropAt = w.elapsed();
  if (fromDirect) {
    EXPECT_TRUE(fault::switchedToAfter(statusOf(w), journalBefore, "multidrop")) << statusOf(w)["switches"].dump(2);
    b.directMxGoneAt = std::min(b.directMxGoneAt, multidropAt + kMxTtlSeconds + 2);
  }

  Json st = statusOf(w);
  ASSERT_FALSE(st.empty()) << "the daemon does not answer after " << f.name;
  Json row = hostRow(st);
  std::cout << "[ named    ] " << f.name << ": " << row.dump() << " " << st["ddns_health"].dump() << std::endl;
  // Status names the problem: the host's own error, the DDNS verdict, the mode's reasons.
  const std::string named = text(row["last_error"]) + " | " + text(row["fatal"]);
  EXPECT_TRUE(std::any_of(f.texts.begin(), f.texts.end(),
                          [&](const std::string& t) { return named.find(t) != std::string::npos; }))
      << f.name << ": status does not name the problem: " << row.dump(2);
  const std::string code = f.rule == Rule::Fatal ? "ddns.provider_fatal" : "ddns.provider_retrying";
  EXPECT_EQ(st["ddns_health"]["code"], code) << st["ddns_health"].dump(2);
  EXPECT_NE(text(st["ddns_health"]["text"]).find(f.result), std::string::npos) << st["ddns_health"].dump(2);
  EXPECT_NE(st["mode"]["reasons"].dump().find(code), std::string::npos) << st["mode"].dump(2);
  EXPECT_NE(st["health"], "ok");

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
    auto record = w.dig(kOfficeHost);
    ASSERT_TRUE(record.ok());
    EXPECT_EQ(*record, *oldRecord);
  }

  // Exactly one request met the fault; over several detection rounds nothing more is sent,
  // DDNS stays failing and mail stays on multidrop.
  const long requestsAfterFault = w.providerRequests();
  EXPECT_EQ(requestsAfterFault, requestsBefore + (f.providerSeesIt ? 1 : 0)) << f.name;
  std::string seen;
  EXPECT_TRUE(holdsFor(
      b, kWindowRounds,
      [&](Json& sample) -> std::string {
        if (sample["mode"]["current"] != "multidrop") return "mode " + sample["mode"].dump();
        if (sample["ddns_health"]["code"] != code) return "ddns_health " + sample["ddns_health"].dump();
        return "";
      },
      seen))
      << f.name << ": " << seen;
  EXPECT_EQ(w.providerRequests(), requestsAfterFault) << f.name << ": the provider's rule forbids a retry now";
  EXPECT_EQ(hostRow(statusOf(w))["last_update"], row["last_update"]) << f.name << ": another attempt was made";
  ASSERT_TRUE(w.daemonAnswers()) << f.name << ": the daemon died\n" << w.daemonLog();

  if (afterWindow) afterWindow();
  if (::testing::Test::HasFatalFailure()) return;

  const double to = w.elapsed();
  clearFault(b, b.policy);
  if (::testing::Test::HasFatalFailure()) return;
  s.lost = expectDelivered(b, f.name, from, to, multidropAt, to);
}

/// The world's final count after the scenarios: every copy once, none left, none astray.
void expectFinalCount(Bed& b) {
  auto drained = b.w.drain(150s);
  ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << b.w.logs();
  const Account a = b.w.account();
  std::cout << a.toJson().dump() << std::endl;
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.atIsp, 0);
  EXPECT_EQ(a.misdirected, 0) << "no stranger took an address the office gave up";
  EXPECT_GT(a.viaIsp, 0);
  EXPECT_TRUE(b.w.feederErrors().empty()) << ::testing::PrintToString(b.w.feederErrors());
  ASSERT_TRUE(b.w.daemonAnswers()) << b.w.daemonLog();
}

// --- TLS --------------------------------------------------------------------------------

/// Run openssl with `args`; the failure (with its output) as an error.
Status<> openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProcess({.argv = argv, .timeout = 60s});
  if (!r.started || r.timedOut || r.exitCode != 0) return fail("openssl " + args.front() + ": " + r.out + r.err);
  return Ok{};
}

/// A test CA in `dir` (ca.pem, ca.key) and leaf certificates `NAME.pem`/`NAME.key` for the
/// given subjectAltName, signed by it.
struct TestCa {
  std::string dir;
  [[nodiscard]] std::string ca() const { return dir + "/ca.pem"; }

  Status<> create() {
    return openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    dir + "/ca.key", "-out", ca(), "-days", "2", "-subj", "/CN=dynmx fault-suite test CA", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  }

  Status<> leaf(const std::string& name, const std::string& subjectAltName) {
    const std::string base = dir + "/" + name;
    testbed::writeTextFile(base + ".ext",
                           "subjectAltName=" + subjectAltName +
                               "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                           0644);
    if (auto s = openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                          base + ".key", "-out", base + ".csr", "-subj", "/CN=" + name + ".provider.example.test"});
        !s.ok())
      return s;
    return openssl({"x509", "-req", "-in", base + ".csr", "-CA", ca(), "-CAkey", dir + "/ca.key", "-CAcreateserial",
                    "-out", base + ".pem", "-days", "2", "-extfile", base + ".ext"});
  }
};

/// Update requests a TLS provider has seen (read without checking its name).
long tlsRequests(int port) {
  const std::string body = curlGet("https://127.0.0.1:" + std::to_string(port) + "/stats", {"-k"});
  try {
    return Json::parse(body)["requests"].get<long>();
  } catch (const std::exception&) {
    return -1;
  }
}

/// The provider's certificate is signed by the CA the account trusts (`ca_file`) but names
/// another host: the failure must be the NAME, so the same CA with a certificate naming
/// 127.0.0.1 must work first (positive control, on direct). Two more providers pushing into
/// BIND, with TLS.
void tlsNameMismatch(Bed& b, fault::Scenario& s) {
  World& w = b.w;
  TestCa ca{w.dir() + "/tls"};
  std::filesystem::create_directories(ca.dir);
  ::chmod(ca.dir.c_str(), 0755);
  {
    auto r = ca.create();
    ASSERT_TRUE(r.ok()) << r.error();
    r = ca.leaf("matching", "IP:127.0.0.1");
    ASSERT_TRUE(r.ok()) << r.error();
    r = ca.leaf("othername", "DNS:provider.example.test");
    ASSERT_TRUE(r.ok()) << r.error();
  }
  fault::giveToDaemonUser(ca.ca());
  const int goodPort = testbed::freePort();
  auto good = w.startProvider(goodPort, "tls-good",
                              {"--tls-cert", ca.dir + "/matching.pem", "--tls-key", ca.dir + "/matching.key"});
  ASSERT_TRUE(good.ok()) << good.error();
  const int badPort = testbed::freePort();
  auto bad = w.startProvider(badPort, "tls-bad",
                             {"--tls-cert", ca.dir + "/othername.pem", "--tls-key", ca.dir + "/othername.key"});
  ASSERT_TRUE(bad.ok()) << bad.error();
  const std::string plainUrl = "url = \"" + w.providerUrl() + "/nic/update\"\n";
  const auto tlsPolicy = [&](const std::string& base, int port) {
    return replaced(base, plainUrl,
                    "url = \"https://127.0.0.1:" + std::to_string(port) + "/nic/update\"\nca_file = \"" + ca.ca() +
                        "\"\n");
  };

  // Positive control on direct: the CA in ca_file and a certificate naming 127.0.0.1 work
  // for an address change, and mail stays direct.
  {
    Json st = statusOf(w);
    ASSERT_EQ(st["mode"]["current"], "direct") << st["mode"].dump(2);
    const long plainBefore = w.providerRequests();
    reloadWith(b, tlsPolicy(b.startPolicy, goodPort));
    if (::testing::Test::HasFatalFailure()) return;
    const long goodBefore = tlsRequests(goodPort);
    ASSERT_GE(goodBefore, 0);
    const std::string address = b.nextAddress();
    ASSERT_TRUE(b.ip.set(address));
    ASSERT_TRUE(w.moveOffice(address).ok());
    EXPECT_TRUE(testbed::eventually(
        [&] {
          const Json h = hostRow(statusOf(w));
          return h.value("address", "") == address && h.value("last_result", "") == "good" &&
                 h.value("verified", false);
        },
        kNamedBound))
        << hostRow(statusOf(w)).dump(2) << "\n"
        << w.daemonLog();
    EXPECT_EQ(tlsRequests(goodPort), goodBefore + 1) << "the update went over TLS";
    std::string seen;
    EXPECT_TRUE(holdsFor(
        b, 3, [](Json& sample) { return sample["mode"]["current"] == "direct" ? "" : sample["mode"].dump(); },
        seen))
        << "a good TLS update keeps mail direct: " << seen;
    EXPECT_EQ(w.providerRequests(), plainBefore) << "nothing went to the plain-http provider";
  }

  // The fault: same CA, same account, a certificate for another name.
  reloadWith(b, tlsPolicy(b.startPolicy, badPort));
  if (::testing::Test::HasFatalFailure()) return;
  UpdateFault f{"tls-name-mismatch", "", "tls-error", {"no alternative certificate subject name matches"},
                Rule::Transient};
  f.providerSeesIt = false;
  runUpdateFault(b, s, f, [&] { EXPECT_EQ(tlsRequests(badPort), 0) << "no HTTP request passes a failed handshake"; });
  (*good)->stop();
  (*bad)->stop();
}

// On direct: tls-name-mismatch leaves it; then the fatal answers, and drip.
TEST(WorldProviderFaults, TlsAndFatal) {
  Bed b;
  startBed(b, "");
  if (HasFatalFailure()) return;
  FaultClass c("provider");
  c.scenario("tls-name-mismatch", [&](fault::Scenario& s) { tlsNameMismatch(b, s); });
  // badauth, and then the rule's other half: a changed account lifts the ban at once.
  c.scenario("badauth", [&](fault::Scenario& s) {
    const UpdateFault f{"badauth", "mode=code&code=badauth", "badauth", {"badauth"}, Rule::Fatal};
    runUpdateFault(b, s, f, [&] {
      auto normal = b.w.providerControl("mode=normal");
      ASSERT_TRUE(normal.ok()) << normal.error();
      const std::string rotated = b.w.dir() + "/ddns-rotated.password";
      testbed::writeTextFile(rotated, "ddns-secret-W\n", 0600);
      fault::giveToDaemonUser(rotated);
      const long before = b.w.providerRequests();
      auto reloaded = b.w.reloadPolicy(replaced(b.policy, "/ddns.password\"", "/ddns-rotated.password\""));
      ASSERT_TRUE(reloaded.ok()) << reloaded.error();
      EXPECT_TRUE(testbed::eventually(
          [&] {
            Json h = hostRow(statusOf(b.w));
            return h.value("last_result", "") == "good" && h["fatal"].is_null() && h.value("verified", false);
          },
          kNamedBound))
          << "the edited account must lift the ban: " << hostRow(statusOf(b.w)).dump(2);
      EXPECT_EQ(b.w.providerRequests(), before + 1) << "one update after the config change";
      EXPECT_TRUE(testbed::eventually([&] { return statusOf(b.w)["ddns_health"]["state"] == "healthy"; }, 30s))
          << statusOf(b.w)["ddns_health"].dump(2);
    });
  });
  const std::vector<UpdateFault> faults = {
      {"abuse", "mode=code&code=abuse", "abuse", {"abuse"}, Rule::Fatal},
      {"nohost", "mode=code&code=nohost", "nohost", {"nohost"}, Rule::Fatal},
      {"numhost", "mode=code&code=numhost", "numhost", {"numhost"}, Rule::Fatal},
      {"http-404", "mode=http&status=404", "http-error", {"HTTP 404"}, Rule::Fatal},
  };
  for (const auto& f : faults) c.scenario(f.name, [&](fault::Scenario& s) { runUpdateFault(b, s, f); });
  // The provider applies the update, then drips its answer (a byte a second) past the
  // request timeout: last, so that no sender still holds the direct MX set.
  c.scenario("drip", [&](fault::Scenario& s) {
    UpdateFault f{"drip", "mode=drip&drip_ms=1000", "timeout", {"timed out"}, Rule::Transient};
    f.updateApplies = true;
    runUpdateFault(b, s, f);
  });
  c.report();
  expectFinalCount(b);
  b.ip.stop();
}

// The account is no donator (DaemonSetup.donator = false) and the policy asks for
// offline_on_multidrop: the world's start is the first half of !donator, whose link drop
// leaves direct. Then the answers that forbid a retry for 30 minutes, and the transient ones.
TEST(WorldProviderFaults, DonatorRetryLaterAndTransient) {
  const std::string offline = "offline_on_multidrop = true\n";
  Bed b;
  startBed(b, offline);
  if (HasFatalFailure()) return;
  FaultClass c("provider");

  // !donator: the fresh start is on multidrop (the safe side), where the intent is
  // "withdraw": offline=YES goes out once, this provider refuses it, and plain updates bring
  // mail to direct (World::start waited for that). Then the link drops (an honest reason for
  // multidrop while the provider works): a switch with the withdrawal wanted again, and
  // offline=YES is never asked again with the same configuration; the link comes back with
  // a new address, which a plain update publishes.
  c.scenario("!donator", [&](fault::Scenario& s) {
    World& w = b.w;
    ASSERT_EQ(offlineAsks(w), 1) << ::testing::PrintToString(providerLog(w));
    {
      const auto log = providerLog(w);
      std::size_t ask = log.size();
      for (std::size_t i = 0; i < log.size(); ++i)
        if (log[i].value("offline", "") == "YES") ask = i;
      ASSERT_LT(ask, log.size());
      EXPECT_EQ(log[ask].value("answer", Json()), Json::array({"!donator"})) << log[ask].dump();
      bool plainAfter = false;
      for (std::size_t i = ask + 1; i < log.size(); ++i)
        plainAfter = plainAfter || (log[i].value("offline", "?") == "" && log[i].value("myip", "") == kOfficeAddress &&
                                    log[i].value("answer", Json::array()).dump().find("\"good") != std::string::npos);
      EXPECT_TRUE(plainAfter) << "a plain update published the address after the refusal\n"
                              << ::testing::PrintToString(log);
    }
    Json before = statusOf(w);
    ASSERT_EQ(before["mode"]["current"], "direct") << before["mode"].dump(2);
    ASSERT_EQ(before["ddns_health"]["state"], "healthy") << before["ddns_health"].dump(2);
    const std::size_t journalBefore = before["switches"].size();
    const long requestsBefore = w.providerRequests();
    const double from = w.elapsed();

    ASSERT_TRUE(w.linkDown().ok());
    Json st;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          st = statusOf(w);
          return st["mode"]["current"] == "multidrop" && !st["mode"]["switching"].get<bool>() &&
                 multidropMxVerified(w);
        },
        kNamedBound))
        << st.dump(2) << "\n"
        << w.daemonLog();
    const double multidropAt = w.elapsed();
    b.directMxGoneAt = std::min(b.directMxGoneAt, multidropAt + kMxTtlSeconds + 2);
    st = statusOf(w);
    EXPECT_TRUE(fault::switchedToAfter(st, journalBefore, "multidrop")) << st["switches"].dump(2);
    EXPECT_NE(st["mode"]["reasons"].dump().find("link.down"), std::string::npos) << st["mode"].dump(2);
    EXPECT_EQ(st["ddns_health"]["intent"], "withdraw") << st["ddns_health"].dump(2);
    EXPECT_EQ(offlineAsks(w), 1) << "offline=YES asked again after !donator";
    std::string seen;
    EXPECT_TRUE(holdsFor(
        b, kWindowRounds,
        [](Json& sample) { return sample["mode"]["current"] == "multidrop" ? "" : sample["mode"].dump(); }, seen))
        << seen;
    EXPECT_EQ(offlineAsks(w), 1) << "offline=YES asked again after !donator";
    EXPECT_EQ(w.providerRequests(), requestsBefore) << "nothing to send while the link is down";

    // Address updates go on: the link is back with a new address, published without
    // offline=YES.
    const std::string address = b.nextAddress();
    ASSERT_TRUE(b.ip.set(address));
    const double upAt = w.elapsed();
    ASSERT_TRUE(w.linkUp(address).ok());
    EXPECT_TRUE(testbed::eventually(
        [&] {
          const Json h = hostRow(statusOf(w));
          return h.value("address", "") == address && h.value("last_result", "") == "good" &&
                 h.value("verified", false);
        },
        kNamedBound))
        << hostRow(statusOf(w)).dump(2) << "\n"
        << w.daemonLog();
    {
      const auto log = providerLog(w);
      ASSERT_FALSE(log.empty());
      EXPECT_EQ(log.back().value("offline", "?"), "") << log.back().dump();
      EXPECT_EQ(log.back().value("myip", ""), address) << log.back().dump();
    }
    EXPECT_EQ(offlineAsks(w), 1);
    ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();

    const double to = w.elapsed();
    clearFault(b, b.policy);
    if (HasFatalFailure()) return;
    s.lost = expectDelivered(b, "!donator", from, to, multidropAt, upAt);
  });

  const std::vector<UpdateFault> faults = {
      {"911", "mode=code&code=911", "911", {"911"}, Rule::RetryLater},
      {"dnserr", "mode=code&code=dnserr", "dnserr", {"dnserr"}, Rule::RetryLater},
      {"garbage", "mode=garbage", "garbage", {"<html>oops</html>"}, Rule::RetryLater},
  };
  for (const auto& f : faults) c.scenario(f.name, [&](fault::Scenario& s) { runUpdateFault(b, s, f); });
  c.scenario("10MB-reply", [&](fault::Scenario& s) {
    runUpdateFault(
        b, s, {"10MB-reply", "mode=huge&bytes=10485760", "oversized", {"larger than"}, Rule::RetryLater}, [&] {
          // Memory bounded: the reply is cut at 64 KiB. A one-shot `dynmx update` with its
          // own state dir and control socket (so it runs the pass itself, not the daemon)
          // meeting the 10 MB reply peaks no higher than one meeting a small HTTP 500 page
          // (ASan's allocator makes the daemon's own peak drift with time, so the two are
          // compared side by side).
          const auto peak = [&](const std::string& fault, const std::string& tag) {
            const std::string probe = b.w.dir() + "/probe-" + tag + ".toml";
            std::string text = replaced(b.policy, b.w.dir() + "/state\"\n", b.w.dir() + "/probe-" + tag + "\"\n");
            text = replaced(text, b.w.dir() + "/ctl.sock\"", b.w.dir() + "/probe-" + tag + ".sock\"");
            testbed::writeTextFile(probe, text, 0644);
            EXPECT_TRUE(b.w.providerControl(fault).ok());
            const long before = b.w.providerRequests();
            const long kib = childPeakKiB({dynmxBinary(), "update", "-c", probe}, 60s);
            EXPECT_EQ(b.w.providerRequests(), before + 1) << tag << ": the one-shot update did not meet the fault";
            return kib;
          };
          const long hugePeak = peak("mode=huge&bytes=10485760", "huge");
          const long smallPeak = peak("mode=http&status=500", "small");
          ASSERT_GT(hugePeak, 0);
          ASSERT_GT(smallPeak, 0);
          std::cout << "[ peak KiB ] 10 MB reply " << hugePeak << ", small reply " << smallPeak << std::endl;
          EXPECT_LT(hugePeak, smallPeak + 4 * 1024)
              << "peak KiB with the 10 MB reply " << hugePeak << ", with a small one " << smallPeak;
        });
  });
  c.scenario("http-500", [&](fault::Scenario& s) {
    runUpdateFault(b, s, {"http-500", "mode=http&status=500", "http-error", {"HTTP 500"}, Rule::Transient});
  });
  c.scenario("no-answer", [&](fault::Scenario& s) {
    runUpdateFault(b, s, {"no-answer", "mode=hang", "timeout", {"timeout", "timed out"}, Rule::Transient});
  });
  c.scenario("connect-refused", [&](fault::Scenario& s) {
    // The account's URL moves (SIGHUP) to a loopback port nobody listens on.
    const int closed = testbed::freePort();
    reloadWith(b, replaced(b.policy, "url = \"" + b.w.providerUrl() + "/nic/update\"",
                           "url = \"http://127.0.0.1:" + std::to_string(closed) + "/nic/update\""));
    if (HasFatalFailure()) return;
    UpdateFault f{"connect-refused", "", "connect-error", {"connect", "Connection refused"}, Rule::Transient};
    f.providerSeesIt = false;
    runUpdateFault(b, s, f);
  });
  c.report();
  expectFinalCount(b);
  b.ip.stop();
}

}  // namespace
}  // namespace dynmx::world
