#include "dynmx/ddns/response.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

const std::vector<std::string> kOne{"h.example.com"};
const std::vector<std::string> kThree{"a.example.com", "b.example.com", "c.example.com"};

struct CodeCase {
  int status;
  const char* body;
  TransportFailure transport;
  ResultCode code;
  Consequence consequence;
};

class ClassifyTable : public ::testing::TestWithParam<CodeCase> {};

TEST_P(ClassifyTable, OneHost) {
  const auto& c = GetParam();
  const auto r = classify(c.status, c.body, kOne, c.transport);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].host, "h.example.com");
  EXPECT_EQ(r.hosts[0].code, c.code) << "body=" << c.body << " got " << toString(r.hosts[0].code);
  EXPECT_EQ(r.hosts[0].consequence, c.consequence)
      << "body=" << c.body << " got " << toString(r.hosts[0].consequence);
}

constexpr auto N = TransportFailure::None;
INSTANTIATE_TEST_SUITE_P(
    EveryCode, ClassifyTable,
    ::testing::Values(
        CodeCase{200, "good 203.0.113.7", N, ResultCode::Good, Consequence::Ok},
        CodeCase{200, "nochg 203.0.113.7\n", N, ResultCode::NoChange, Consequence::Ok},
        CodeCase{200, "badauth", N, ResultCode::BadAuth, Consequence::FatalAccount},
        CodeCase{200, "!donator", N, ResultCode::NotDonator, Consequence::FatalOption},
        CodeCase{200, "notfqdn", N, ResultCode::NotFqdn, Consequence::FatalHost},
        CodeCase{200, "nohost", N, ResultCode::NoHost, Consequence::FatalHost},
        CodeCase{200, "!yours", N, ResultCode::NotYours, Consequence::FatalHost},
        CodeCase{200, "numhost", N, ResultCode::NumHost, Consequence::FatalHost},
        CodeCase{200, "badsys", N, ResultCode::BadSys, Consequence::FatalHost},
        CodeCase{200, "abuse", N, ResultCode::Abuse, Consequence::FatalHost},
        CodeCase{200, "badagent", N, ResultCode::BadAgent, Consequence::FatalAccount},
        CodeCase{200, "!active", N, ResultCode::NotActive, Consequence::FatalHost},
        CodeCase{200, "dnserr", N, ResultCode::DnsErr, Consequence::RetryLater},
        CodeCase{200, "911", N, ResultCode::ServerError911, Consequence::RetryLater},
        CodeCase{200, "<html><body>hello</body></html>", N, ResultCode::Garbage,
                 Consequence::RetryLater},
        CodeCase{200, "", N, ResultCode::Garbage, Consequence::RetryLater},
        // First word exactly: no substring, no case folding.
        CodeCase{200, "goodbye", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{200, "GOOD 203.0.113.7", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{200, "the update was good", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{200, "nochg: 203.0.113.7", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{200, "badauthority", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{200, "9111", N, ResultCode::Garbage, Consequence::RetryLater},
        CodeCase{401, "", N, ResultCode::BadAuth, Consequence::FatalAccount},
        CodeCase{401, "badauth", N, ResultCode::BadAuth, Consequence::FatalAccount},
        CodeCase{403, "Forbidden", N, ResultCode::HttpError, Consequence::FatalAccount},
        CodeCase{403, "badagent", N, ResultCode::BadAgent, Consequence::FatalAccount},
        CodeCase{404, "not found", N, ResultCode::HttpError, Consequence::FatalAccount},
        CodeCase{301, "", N, ResultCode::HttpError, Consequence::FatalAccount},
        CodeCase{429, "slow down", N, ResultCode::HttpError, Consequence::RetryLater},
        CodeCase{500, "<h1>oops</h1>", N, ResultCode::HttpError, Consequence::Transient},
        CodeCase{503, "", N, ResultCode::HttpError, Consequence::Transient},
        CodeCase{500, "911", N, ResultCode::ServerError911, Consequence::RetryLater},
        CodeCase{0, "", TransportFailure::Timeout, ResultCode::Timeout, Consequence::Transient},
        CodeCase{0, "", TransportFailure::Tls, ResultCode::TlsError, Consequence::Transient},
        CodeCase{0, "", TransportFailure::Connect, ResultCode::ConnectError,
                 Consequence::Transient},
        CodeCase{200, "good 203.0.113.7", TransportFailure::Oversized, ResultCode::Oversized,
                 Consequence::RetryLater},
        CodeCase{0, "", TransportFailure::Protocol, ResultCode::TransportError,
                 Consequence::Transient},
        CodeCase{0, "", TransportFailure::Other, ResultCode::TransportError,
                 Consequence::Transient}));

TEST(ClassifyTest, EchoedAddress) {
  auto r = classify(200, "good 203.0.113.7\r\n", kOne);
  EXPECT_EQ(r.hosts[0].echoedAddress, "203.0.113.7");
  r = classify(200, "good 203.0.113.7,2001:0db8::7", kOne);
  EXPECT_EQ(r.hosts[0].echoedAddress, "203.0.113.7,2001:db8::7");
  r = classify(200, "nochg", kOne);
  EXPECT_EQ(r.hosts[0].code, ResultCode::NoChange);
  EXPECT_FALSE(r.hosts[0].echoedAddress.has_value());
  r = classify(200, "good not-an-address", kOne);
  EXPECT_EQ(r.hosts[0].code, ResultCode::Good);
  EXPECT_FALSE(r.hosts[0].echoedAddress.has_value());
}

TEST(ClassifyTest, PerHostInRequestOrder) {
  const auto r = classify(200, "good 203.0.113.7\nnohost\nnochg 203.0.113.7\n", kThree);
  ASSERT_EQ(r.hosts.size(), 3u);
  EXPECT_EQ(r.hosts[0].host, "a.example.com");
  EXPECT_EQ(r.hosts[0].code, ResultCode::Good);
  EXPECT_EQ(r.hosts[1].host, "b.example.com");
  EXPECT_EQ(r.hosts[1].code, ResultCode::NoHost);
  EXPECT_EQ(r.hosts[2].code, ResultCode::NoChange);
  EXPECT_FALSE(r.accountLevel);
  EXPECT_FALSE(r.extraLines);
  EXPECT_FALSE(r.missingLines);
}

TEST(ClassifyTest, AccountLevelCodesApplyToEveryHost) {
  for (const char* body : {"badauth", "badagent", "!donator", "911", "dnserr", "numhost"}) {
    const auto r = classify(200, body, kThree);
    ASSERT_EQ(r.hosts.size(), 3u) << body;
    EXPECT_TRUE(r.accountLevel) << body;
    for (const auto& h : r.hosts) EXPECT_EQ(toString(h.code), std::string(body));
  }
  // badauth first: the whole request failed, whatever follows.
  const auto r = classify(200, "badauth\nbadauth\nbadauth\nbadauth", kThree);
  EXPECT_TRUE(r.accountLevel);
  EXPECT_TRUE(r.extraLines);
  // 911 per line is per host.
  const auto per = classify(200, "good 203.0.113.7\n911\n911", kThree);
  EXPECT_FALSE(per.accountLevel);
  EXPECT_EQ(per.hosts[0].code, ResultCode::Good);
  EXPECT_EQ(per.hosts[1].code, ResultCode::ServerError911);
}

TEST(ClassifyTest, FewerLinesMeansGarbageForTheRest) {
  const auto r = classify(200, "good 203.0.113.7\nnochg 203.0.113.7", kThree);
  ASSERT_EQ(r.hosts.size(), 3u);
  EXPECT_TRUE(r.missingLines);
  EXPECT_EQ(r.hosts[2].code, ResultCode::Garbage);
  EXPECT_EQ(r.hosts[2].consequence, Consequence::RetryLater);
  // A single line for several hosts answers the whole request (issue 12, item 10).
  const auto one = classify(200, "nohost", kThree);
  EXPECT_TRUE(one.accountLevel);
  for (const auto& h : one.hosts) EXPECT_EQ(h.code, ResultCode::NoHost);
}

TEST(ClassifyTest, MoreLinesAreIgnoredButFlagged) {
  const auto r = classify(200, "good 203.0.113.7\ngood 203.0.113.7\nabuse", kOne);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].code, ResultCode::Good);
  EXPECT_TRUE(r.extraLines);
}

TEST(ClassifyTest, OversizedBody) {
  const std::string big(kMaxReplyBody + 1, 'x');
  const auto r = classify(200, big, kThree);
  ASSERT_EQ(r.hosts.size(), 3u);
  for (const auto& h : r.hosts) EXPECT_EQ(h.code, ResultCode::Oversized);
}

TEST(ClassifyTest, DetailIsBoundedAndPrintable) {
  std::string body = "garbage\x01\x7f";
  body += std::string(1000, 'y');
  const auto r = classify(200, body, kOne);
  EXPECT_LE(r.hosts[0].detail.size(), 210u);
  EXPECT_EQ(r.hosts[0].detail.find('\x01'), std::string::npos);
}

TEST(ResultCodeTest, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(ResultCode::TransportError); ++i) {
    const auto c = static_cast<ResultCode>(i);
    EXPECT_EQ(parseResultCode(toString(c)), c) << toString(c);
  }
  EXPECT_FALSE(parseResultCode("bogus").has_value());
}

}  // namespace
}  // namespace dynmx::ddns
