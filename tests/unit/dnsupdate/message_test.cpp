// buildUpdate: which record goes in which section (RFC 2136 §2.4, §2.5), signed by ldns.
#include <gtest/gtest.h>

#include "dynmx/dnsupdate.hpp"
#include "test_answers.hpp"

namespace dynmx::dnsupdate {
namespace {

using testing::Parsed;
using testing::Rr;

const TimePoint kNow = fromUnix(1'790'000'000);

RRset rrset(std::string name, RecordType t, std::vector<std::string> records = {}, std::uint32_t ttl = 300) {
  return RRset{std::move(name), t, ttl, std::move(records)};
}

struct Case {
  const char* label;
  UpdateMessage message;
  std::vector<Rr> prereqs;
  std::vector<Rr> updates;
};

class Build : public ::testing::TestWithParam<Case> {};

TEST_P(Build, PutsEachRecordInItsSection) {
  const Case& c = GetParam();
  auto signedUpdate = buildUpdate(c.message, testing::key256(), 4242, kNow);
  ASSERT_TRUE(signedUpdate.ok()) << signedUpdate.error();
  Parsed p = testing::parse(signedUpdate->wire);
  EXPECT_EQ(p.opcode, 5);  // UPDATE
  EXPECT_EQ(p.id, 4242);
  EXPECT_EQ(p.zone, "example.test");
  EXPECT_EQ(p.zoneType, "SOA");
  EXPECT_EQ(p.prereqs, c.prereqs);
  EXPECT_EQ(p.updates, c.updates);
  EXPECT_TRUE(p.hasTsig);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Build,
    ::testing::Values(
        Case{"replace A, guarded by the old RRset",
             UpdateMessage{"example.test.",
                           {Prerequisite{Prerequisite::Kind::RRsetEquals,
                                         rrset("office.example.test", RecordType::A, {"192.0.2.1"})}},
                           {Change{Change::Kind::ReplaceRRset,
                                   rrset("Office.Example.Test.", RecordType::A, {"203.0.113.7"}, 120)}}},
             {{"office.example.test", "A", "IN", 0, "192.0.2.1"}},
             {{"office.example.test", "A", "ANY", 0, ""},
              {"office.example.test", "A", "IN", 120, "203.0.113.7"}}},
        Case{"first publication: RRset must not exist",
             UpdateMessage{"example.test",
                           {Prerequisite{Prerequisite::Kind::RRsetNotExists,
                                         rrset("office.example.test", RecordType::AAAA)}},
                           {Change{Change::Kind::ReplaceRRset,
                                   rrset("office.example.test", RecordType::AAAA, {"2001:db8::7"})}}},
             {{"office.example.test", "AAAA", "NONE", 0, ""}},
             {{"office.example.test", "AAAA", "ANY", 0, ""},
              {"office.example.test", "AAAA", "IN", 300, "2001:db8::7"}}},
        Case{"MX set of two, name in use, RRset exists",
             UpdateMessage{
                 "example.test",
                 {Prerequisite{Prerequisite::Kind::NameInUse, rrset("example.test", RecordType::MX)},
                  Prerequisite{Prerequisite::Kind::RRsetExists, rrset("example.test", RecordType::MX)}},
                 {Change{Change::Kind::ReplaceRRset,
                         rrset("example.test", RecordType::MX,
                               {"10 office.example.test.", "20 mx.isp.example."}, 60)}}},
             {{"example.test", "ANY", "ANY", 0, ""}, {"example.test", "MX", "ANY", 0, ""}},
             {{"example.test", "MX", "ANY", 0, ""},
              {"example.test", "MX", "IN", 60, "10 office.example.test."},
              {"example.test", "MX", "IN", 60, "20 mx.isp.example."}}},
        Case{"delete (withdraw) A",
             UpdateMessage{"example.test",
                           {},
                           {Change{Change::Kind::DeleteRRset,
                                   rrset("office.example.test", RecordType::A, {"192.0.2.9"})}}},
             {},
             {{"office.example.test", "A", "ANY", 0, ""}}},
        Case{"replace with no records = delete only",
             UpdateMessage{"example.test",
                           {},
                           {Change{Change::Kind::ReplaceRRset, rrset("office.example.test", RecordType::A)}}},
             {},
             {{"office.example.test", "A", "ANY", 0, ""}}}),
    [](const ::testing::TestParamInfo<Case>& i) { return "case" + std::to_string(i.index); });

TEST(BuildSign, SignsWithTheGivenTimeAndAlgorithm) {
  UpdateMessage m{
      "example.test",
      {},
      {Change{Change::Kind::ReplaceRRset, rrset("a.example.test", RecordType::A, {"192.0.2.1"})}}};
  auto s256 = buildUpdate(m, testing::key256(), 1, kNow);
  auto s512 = buildUpdate(m, testing::key512(), 1, kNow - std::chrono::hours(2));
  ASSERT_TRUE(s256.ok() && s512.ok());
  auto p256 = testing::parse(s256->wire);
  auto p512 = testing::parse(s512->wire);
  EXPECT_EQ(p256.tsigAlgorithm, "hmac-sha256");
  EXPECT_EQ(p512.tsigAlgorithm, "hmac-sha512");
  EXPECT_EQ(p256.tsigTime, toUnix(kNow));
  EXPECT_EQ(p512.tsigTime, toUnix(kNow) - 7200);  // skewed: the server answers BADTIME
  EXPECT_EQ(s256->mac.size(), 2u + 32u);          // length-prefixed HMAC-SHA256
  EXPECT_EQ(s512->mac.size(), 2u + 64u);
}

TEST(BuildSign, SameInputsSameBytesAndTheSecretIsNotInThem) {
  UpdateMessage m{
      "example.test",
      {},
      {Change{Change::Kind::ReplaceRRset, rrset("a.example.test", RecordType::A, {"192.0.2.1"})}}};
  auto a = buildUpdate(m, testing::key256(), 7, kNow);
  auto b = buildUpdate(m, testing::key256(), 7, kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->wire, b->wire);
  std::string bytes(a->wire.begin(), a->wire.end());
  EXPECT_EQ(bytes.find("c2VjcmV0"), std::string::npos);
  EXPECT_EQ(bytes.find("secret-secret"), std::string::npos);
}

TEST(BuildSign, TheSignatureVerifiesWithTheKeyOnly) {
  UpdateMessage m{
      "example.test",
      {},
      {Change{Change::Kind::ReplaceRRset, rrset("a.example.test", RecordType::A, {"192.0.2.1"})}}};
  auto s = buildUpdate(m, testing::key256(), 9, kNow);
  ASSERT_TRUE(s.ok());
  ldns_pkt* pkt = nullptr;
  ASSERT_EQ(ldns_wire2pkt(&pkt, s->wire.data(), s->wire.size()), LDNS_STATUS_OK);
  EXPECT_TRUE(
      ldns_pkt_tsig_verify(pkt, s->wire.data(), s->wire.size(), "dynmx-test.", testing::kSecret256, nullptr));
  EXPECT_FALSE(ldns_pkt_tsig_verify(pkt, s->wire.data(), s->wire.size(), "dynmx-test.",
                                    "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=", nullptr));
  ldns_pkt_free(pkt);
}

struct Refusal {
  const char* label;
  UpdateMessage message;
  const char* expect;
};

class BuildRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(BuildRefuses, SaysWhy) {
  auto s = buildUpdate(GetParam().message, testing::key256(), 1, kNow);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find(GetParam().expect), std::string::npos) << s.error();
  EXPECT_EQ(s.error().find(testing::kSecret256), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BuildRefuses,
    ::testing::Values(
        Refusal{"no zone",
                UpdateMessage{
                    "", {}, {Change{Change::Kind::DeleteRRset, rrset("a.example.test", RecordType::A)}}},
                "no zone"},
        Refusal{"no change", UpdateMessage{"example.test", {}, {}}, "changes nothing"},
        Refusal{"outside zone",
                UpdateMessage{"example.test",
                              {},
                              {Change{Change::Kind::DeleteRRset, rrset("a.example.org", RecordType::A)}}},
                "'a.example.org' is not inside zone example.test"},
        Refusal{"suffix but not a label",
                UpdateMessage{"example.test",
                              {},
                              {Change{Change::Kind::DeleteRRset, rrset("badexample.test", RecordType::A)}}},
                "not inside zone"},
        Refusal{"bad address",
                UpdateMessage{"example.test",
                              {},
                              {Change{Change::Kind::ReplaceRRset,
                                      rrset("a.example.test", RecordType::A, {"192.0.2.300"})}}},
                "A record '192.0.2.300' for a.example.test is not valid"},
        Refusal{"injection",
                UpdateMessage{"example.test",
                              {},
                              {Change{Change::Kind::ReplaceRRset,
                                      rrset("a.example.test", RecordType::A,
                                            {"192.0.2.1\nx.example.test. 1 IN A 192.0.2.2"})}}},
                "is not valid"},
        Refusal{"equals without records",
                UpdateMessage{
                    "example.test",
                    {Prerequisite{Prerequisite::Kind::RRsetEquals, rrset("a.example.test", RecordType::A)}},
                    {Change{Change::Kind::DeleteRRset, rrset("a.example.test", RecordType::A)}}},
                "lists no records"}),
    [](const ::testing::TestParamInfo<Refusal>& i) { return "case" + std::to_string(i.index); });

}  // namespace
}  // namespace dynmx::dnsupdate
