// classifyAnswer: every answer a server may give, and what the caller must do about it.
#include <gtest/gtest.h>

#include "dynmx/dnsupdate.hpp"
#include "test_answers.hpp"

namespace dynmx::dnsupdate {
namespace {

using testing::AnswerSpec;

SignedUpdate request() {
  UpdateMessage m{
      "example.test",
      {},
      {Change{Change::Kind::ReplaceRRset, RRset{"office.example.test", RecordType::A, 60, {"203.0.113.7"}}}}};
  auto s = buildUpdate(m, testing::key256(), 0x1234, fromUnix(1'790'000'000));
  EXPECT_TRUE(s.ok());
  return *s;
}

struct Row {
  const char* label;
  AnswerSpec spec;
  Verdict verdict;
  const char* rcode;
  const char* detail;  // a fragment
};

class Classify : public ::testing::TestWithParam<Row> {};

TEST_P(Classify, Table) {
  const Row& r = GetParam();
  SignedUpdate req = request();
  auto o = classifyAnswer(req, testing::answer(req, r.spec), "192.0.2.53:53");
  EXPECT_EQ(o.verdict, r.verdict) << toString(o.verdict) << " " << o.rcode << ": " << o.detail;
  EXPECT_EQ(o.rcode, r.rcode);
  EXPECT_EQ(o.server, "192.0.2.53:53");
  EXPECT_NE(o.detail.find(r.detail), std::string::npos) << o.detail;
  EXPECT_EQ(o.detail.find(testing::kSecret256), std::string::npos);
}

TsigKey wrongKey() {
  return TsigKey{"dynmx-test", TsigAlgorithm::HmacSha256, "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=", ""};
}

INSTANTIATE_TEST_SUITE_P(
    Rcodes, Classify,
    ::testing::Values(
        Row{"NOERROR signed", {0}, Verdict::Applied, "NOERROR", "applied at 192.0.2.53:53"},
        Row{"NOERROR unsigned",
            {.rcode = 0, .sign = false},
            Verdict::Retry,
            "unsigned-answer",
            "not trusted"},
        Row{"NOERROR forged",
            {.rcode = 0, .signKey = wrongKey()},
            Verdict::Retry,
            "bad-answer-signature",
            "does not verify"},
        Row{"NOERROR other id",
            {.rcode = 0, .id = 0x4321},
            Verdict::Retry,
            "bad-response",
            "not an answer to our update"},
        Row{"NXDOMAIN", {3}, Verdict::PrereqFailed, "NXDOMAIN", "prerequisite failed"},
        Row{"YXDOMAIN", {6}, Verdict::PrereqFailed, "YXDOMAIN", "prerequisite failed"},
        Row{"YXRRSET", {7}, Verdict::PrereqFailed, "YXRRSET", "not as we assumed"},
        Row{"NXRRSET", {8}, Verdict::PrereqFailed, "NXRRSET", "not as we assumed"},
        Row{"SERVFAIL", {2}, Verdict::Retry, "SERVFAIL", "trying again"},
        Row{"REFUSED", {5}, Verdict::Fatal, "REFUSED", "update-policy does not let key 'dynmx-test'"},
        Row{"NOTAUTH", {9}, Verdict::Fatal, "NOTAUTH", "not authoritative"},
        Row{"NOTZONE", {10}, Verdict::Fatal, "NOTZONE", "outside the zone"},
        Row{"FORMERR", {1}, Verdict::Fatal, "FORMERR", "cannot parse"},
        Row{"NOTIMP", {4}, Verdict::Fatal, "NOTIMP", "does not support UPDATE"},
        Row{"BADSIG", {.rcode = 9, .tsigError = 16}, Verdict::Fatal, "BADSIG", "secret differs"},
        Row{"BADKEY",
            {.rcode = 9, .tsigError = 17},
            Verdict::Fatal,
            "BADKEY",
            "does not know key 'dynmx-test'"},
        Row{"BADTIME", {.rcode = 9, .tsigError = 18}, Verdict::BackOff, "BADTIME", "clock"},
        Row{"BADTRUNC", {.rcode = 9, .tsigError = 22}, Verdict::Fatal, "BADTRUNC", "rejects our TSIG"},
        Row{"unknown rcode", {11}, Verdict::Retry, "RCODE11", "unexpected"}),
    [](const ::testing::TestParamInfo<Row>& i) {
      std::string n = i.param.label;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(ClassifyBytes, GarbageAndEmptyAreRetry) {
  SignedUpdate req = request();
  EXPECT_EQ(classifyAnswer(req, {}, "s").rcode, "bad-response");
  EXPECT_EQ(classifyAnswer(req, {1, 2, 3}, "s").verdict, Verdict::Retry);
  // The request itself is not an answer (QR clear).
  EXPECT_EQ(classifyAnswer(req, req.wire, "s").rcode, "bad-response");
}

TEST(ClassifyTransport, EveryTransportErrorIsRetryAndNamed) {
  for (const char* e : {"timeout", "connection-refused", "network: host unreachable"}) {
    auto o = classifyTransportError(e, "127.0.0.1:53");
    EXPECT_EQ(o.verdict, Verdict::Retry) << e;
    EXPECT_EQ(o.rcode, e);
    EXPECT_NE(o.detail.find("127.0.0.1:53"), std::string::npos);
  }
  EXPECT_NE(classifyTransportError("connection-refused", "s").detail.find("primary is down"),
            std::string::npos);
}

TEST(Names, VerdictsAndTypes) {
  EXPECT_STREQ(toString(Verdict::PrereqFailed), "prereq-failed");
  EXPECT_STREQ(toString(Verdict::BackOff), "back-off");
  EXPECT_STREQ(toString(RecordType::AAAA), "AAAA");
}

}  // namespace
}  // namespace dynmx::dnsupdate
