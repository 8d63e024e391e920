// makeUpdater against a real BIND9 with TSIG: A, AAAA and an MX RRset published and read
// back with dig at the server; prerequisites stop an overwrite; HMAC-SHA256 and -SHA512.
#include "testbed/named.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <sstream>

#include "dynmx/dnsupdate.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::dnsupdate {
namespace {

using testbed::Named;
using testbed::NamedOptions;
using testbed::TempDir;

/// dig's answer, or a text saying why dig failed (never equal to an expected answer).
std::string digText(const Named& named, const std::string& name, const std::string& type = "A") {
  auto r = named.dig(name, type);
  return r.ok() ? *r : "dig failed: " + r.error();
}

/// The lines of a dig answer in sorted order (servers rotate RRsets).
std::string sortedLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

UpdateOutcome send(const Named& named, const TsigKey& key, UpdateMessage m) {
  boost::asio::io_context io;
  UpdaterConfig config;
  config.servers = {{"127.0.0.1", named.port()}};
  config.key = key;
  config.timeout = std::chrono::seconds(5);
  auto updater = makeUpdater(io, config);
  std::optional<UpdateOutcome> out;
  updater->send(std::move(m), [&](UpdateOutcome o) { out = std::move(o); });
  io.run();  // ends when the transaction (bounded by its timeouts) is done
  EXPECT_TRUE(out.has_value());
  return out.value_or(UpdateOutcome{});
}

RRset rr(const std::string& name, RecordType t, std::vector<std::string> records = {},
         std::uint32_t ttl = 60) {
  return RRset{name, t, ttl, std::move(records)};
}

class RealNamed : public ::testing::TestWithParam<std::string> {};

TEST_P(RealNamed, PublishesGuardsAndWithdraws) {
  TempDir dir("dnsupd");
  NamedOptions options;
  options.algorithm = GetParam();
  options.updateTypes = "A AAAA MX";
  auto named = Named::start(dir, options);
  ASSERT_TRUE(named.ok()) << named.error();
  const Named& n = **named;
  auto key = loadKeyFile(n.keyFile());
  ASSERT_TRUE(key.ok()) << key.error();
  EXPECT_EQ(toString(key->algorithm), GetParam());

  const std::string host = "office.example.test";
  using K = Prerequisite::Kind;
  using C = Change::Kind;

  // First publication: A and AAAA must not exist yet.
  auto first = send(n, *key,
                    UpdateMessage{"example.test",
                                  {{K::RRsetNotExists, rr(host, RecordType::A)},
                                   {K::RRsetNotExists, rr(host, RecordType::AAAA)}},
                                  {{C::ReplaceRRset, rr(host, RecordType::A, {"203.0.113.7"})},
                                   {C::ReplaceRRset, rr(host, RecordType::AAAA, {"2001:db8::7"})}}});
  EXPECT_EQ(first.verdict, Verdict::Applied) << first.rcode << ": " << first.detail;
  EXPECT_EQ(digText(n, host, "A"), "203.0.113.7");
  EXPECT_EQ(digText(n, host, "AAAA"), "2001:db8::7");

  // The MX RRset of the mail domain (here the zone apex), two records.
  auto mx = send(n, *key,
                 UpdateMessage{"example.test",
                               {},
                               {{C::ReplaceRRset, rr("example.test", RecordType::MX,
                                                     {"10 office.example.test.", "20 mx.isp.example."})}}});
  EXPECT_EQ(mx.verdict, Verdict::Applied) << mx.rcode << ": " << mx.detail;
  EXPECT_EQ(sortedLines(digText(n, "example.test", "MX")), "10 office.example.test.\n20 mx.isp.example.");

  // Guards: publishing "for the first time" again, or from a stale belief, changes nothing.
  auto again = send(n, *key,
                    UpdateMessage{"example.test",
                                  {{K::RRsetNotExists, rr(host, RecordType::A)}},
                                  {{C::ReplaceRRset, rr(host, RecordType::A, {"192.0.2.66"})}}});
  EXPECT_EQ(again.verdict, Verdict::PrereqFailed);
  EXPECT_EQ(again.rcode, "YXRRSET");
  auto stale = send(n, *key,
                    UpdateMessage{"example.test",
                                  {{K::RRsetEquals, rr(host, RecordType::A, {"192.0.2.1"})}},
                                  {{C::ReplaceRRset, rr(host, RecordType::A, {"192.0.2.66"})}}});
  EXPECT_EQ(stale.verdict, Verdict::PrereqFailed);
  EXPECT_EQ(stale.rcode, "NXRRSET");
  EXPECT_EQ(digText(n, host, "A"), "203.0.113.7");

  // The guarded change of address.
  auto moved = send(n, *key,
                    UpdateMessage{"example.test",
                                  {{K::RRsetEquals, rr(host, RecordType::A, {"203.0.113.7"})}},
                                  {{C::ReplaceRRset, rr(host, RecordType::A, {"203.0.113.8"})}}});
  EXPECT_EQ(moved.verdict, Verdict::Applied) << moved.detail;
  EXPECT_EQ(digText(n, host, "A"), "203.0.113.8");

  // Withdrawal.
  auto gone = send(n, *key, UpdateMessage{"example.test", {}, {{C::DeleteRRset, rr(host, RecordType::A)}}});
  EXPECT_EQ(gone.verdict, Verdict::Applied) << gone.detail;
  EXPECT_EQ(digText(n, host, "A"), "");
  EXPECT_EQ(digText(n, host, "AAAA"), "2001:db8::7");
}

INSTANTIATE_TEST_SUITE_P(Tsig, RealNamed, ::testing::Values("hmac-sha256", "hmac-sha512"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "hmac-sha256" ? std::string("Sha256") : std::string("Sha512");
                         });

}  // namespace
}  // namespace dynmx::dnsupdate
