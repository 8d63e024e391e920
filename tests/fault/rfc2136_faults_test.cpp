// Fault class "rfc2136": the DNS UPDATE path fails in every way a primary can refuse or
// miss an update. Here the updater itself, makeUpdater against a real named with TSIG:
// BADKEY (a key the server does not know), BADSIG (the right name, a wrong secret), BADTIME
// (our clock skewed by two hours), REFUSED (update-policy does not grant the type), NOTAUTH
// (a zone the server is not authoritative for), the primary down (then a second server up),
// and an over-size update that must go over TCP. Each outcome is asserted. `dynmx run` with
// an rfc2136 account meeting BADSIG, BADKEY, REFUSED and the primary down while the senders
// send is WorldRfc2136Faults in the senders' world (tests/world/rfc2136_faults_test.cpp).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <iostream>
#include <string>

#include "dynmx/dnsupdate.hpp"
#include "fault_class.hpp"
#include "testbed/named.hpp"
#include "testbed/ports.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using dnsupdate::Change;
using dnsupdate::RecordType;
using dnsupdate::RRset;
using dnsupdate::TsigKey;
using dnsupdate::UpdateMessage;
using dnsupdate::UpdateOutcome;
using dnsupdate::Verdict;

constexpr const char* kOtherSecret = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=";

/// dig's answer, or a text saying why dig failed (never equal to an expected answer).
std::string digText(const testbed::Named& named, const std::string& name, const std::string& type = "A") {
  auto r = named.dig(name, type);
  return r.ok() ? *r : "dig failed: " + r.error();
}

UpdateOutcome sendOnce(dnsupdate::UpdaterConfig config, UpdateMessage m) {
  boost::asio::io_context io;
  auto updater = dnsupdate::makeUpdater(io, std::move(config));
  std::optional<UpdateOutcome> out;
  updater->send(std::move(m), [&](UpdateOutcome o) { out = std::move(o); });
  io.run();  // bounded by the updater's own timeouts
  EXPECT_TRUE(out.has_value()) << "the updater never answered";
  return out.value_or(UpdateOutcome{});
}

UpdateMessage publishA(const std::string& address, const std::string& zone = "example.test") {
  return UpdateMessage{
      zone, {}, {Change{Change::Kind::ReplaceRRset, RRset{"office." + zone, RecordType::A, 60, {address}}}}};
}

void expectOutcome(const UpdateOutcome& o, Verdict verdict, const std::string& rcode,
                   const std::string& words) {
  EXPECT_EQ(o.verdict, verdict) << toString(o.verdict) << " " << o.rcode << ": " << o.detail;
  EXPECT_EQ(o.rcode, rcode) << o.detail;
  EXPECT_NE(o.detail.find(words), std::string::npos) << o.detail;
  std::cout << "[ outcome  ] " << toString(o.verdict) << " " << o.rcode << (o.overTcp ? " (tcp)" : "") << ": "
            << o.detail << std::endl;
}

TEST(Rfc2136Faults, Updater) {
  testbed::TempDir dir("f2136u");
  testbed::NamedOptions options;
  options.updateTypes = "A AAAA";  // no MX: an MX update is REFUSED
  auto started = testbed::Named::start(dir, options);
  ASSERT_TRUE(started.ok()) << started.error();
  auto& named = **started;
  auto loaded = dnsupdate::loadKeyFile(named.keyFile());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const TsigKey key = *loaded;
  dnsupdate::UpdaterConfig base;
  base.servers = {{"127.0.0.1", named.port()}};
  base.key = key;
  base.timeout = 3s;

  FaultClass rfc("rfc2136");

  rfc.scenario("badkey", [&](Scenario&) {
    auto c = base;
    c.key.name = "unknown-key";
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Fatal, "BADKEY",
                  "does not know key 'unknown-key'");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("badsig", [&](Scenario&) {
    auto c = base;
    c.key.secret = kOtherSecret;
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Fatal, "BADSIG", "secret differs");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("badtime", [&](Scenario&) {
    auto c = base;
    c.signingClock = [] {
      return std::chrono::time_point_cast<Duration>(Clock::now()) - std::chrono::hours(2);
    };
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::BackOff, "BADTIME", "clock");
    EXPECT_EQ(digText(named, "office.example.test"), "");
  });

  rfc.scenario("refused", [&](Scenario&) {
    UpdateMessage mx{"example.test",
                     {},
                     {Change{Change::Kind::ReplaceRRset,
                             RRset{"example.test", RecordType::MX, 60, {"10 mx.isp.example."}}}}};
    expectOutcome(sendOnce(base, mx), Verdict::Fatal, "REFUSED", "update-policy");
    EXPECT_EQ(digText(named, "example.test", "MX"), "");
  });

  rfc.scenario("notauth", [&](Scenario&) {
    expectOutcome(sendOnce(base, publishA("203.0.113.7", "other.test")), Verdict::Fatal, "NOTAUTH",
                  "not authoritative");
  });

  rfc.scenario("primary-down", [&](Scenario&) {
    // Nothing listens on a fresh port: the loopback UDP send is refused (ICMP), no timeout.
    auto c = base;
    const int dead = testbed::freePort();
    c.servers = {{"127.0.0.1", dead}};
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Retry, "connection-refused",
                  "primary is down");
    // With a second server configured, the update goes there.
    c.servers = {{"127.0.0.1", dead}, {"127.0.0.1", named.port()}};
    expectOutcome(sendOnce(c, publishA("203.0.113.7")), Verdict::Applied, "NOERROR", "applied");
    EXPECT_EQ(digText(named, "office.example.test"), "203.0.113.7");
  });

  rfc.scenario("oversize-tcp", [&](Scenario&) {
    UpdateMessage big = publishA("203.0.113.10");
    for (int i = 11; i < 60; ++i) big.changes[0].rrset.records.push_back("203.0.113." + std::to_string(i));
    const auto o = sendOnce(base, big);
    expectOutcome(o, Verdict::Applied, "NOERROR", "applied");
    EXPECT_TRUE(o.overTcp) << "a message over 512 bytes must go over TCP";
    auto answer = named.dig("office.example.test");
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(std::count(answer->begin(), answer->end(), '\n') + 1, 50) << *answer;
  });

  rfc.report();
}

}  // namespace
}  // namespace dynmx::fault
