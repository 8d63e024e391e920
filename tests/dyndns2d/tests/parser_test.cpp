#include <gtest/gtest.h>

#include "http_parser.hpp"

using namespace dynmx::dyndns2d;

TEST(HttpParser, ParsesAGetWithHeadersAndQuery) {
  auto out = parseRequest("GET /nic/update?hostname=a.example.test HTTP/1.1\r\nHost: x\r\nUser-Agent:  t/1 \r\n\r\n", {});
  ASSERT_EQ(out.status, ParseStatus::Complete);
  EXPECT_EQ(out.request.method, "GET");
  EXPECT_EQ(out.request.path, "/nic/update");
  EXPECT_EQ(out.request.query, "hostname=a.example.test");
  ASSERT_NE(out.request.header("user-agent"), nullptr);
  EXPECT_EQ(*out.request.header("user-agent"), "t/1");
  EXPECT_TRUE(out.request.keepAlive);
}

TEST(HttpParser, NeedsMoreUntilTheBlankLine) {
  EXPECT_EQ(parseRequest("GET / HTTP/1.1\r\nHost: x\r\n", {}).status, ParseStatus::NeedMore);
  EXPECT_EQ(parseRequest("", {}).status, ParseStatus::NeedMore);
}

TEST(HttpParser, PipelinedRequestsAreConsumedOneAtATime) {
  std::string two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  auto first = parseRequest(two, {});
  ASSERT_EQ(first.status, ParseStatus::Complete);
  EXPECT_EQ(first.request.path, "/a");
  auto second = parseRequest(std::string_view(two).substr(first.consumed), {});
  ASSERT_EQ(second.status, ParseStatus::Complete);
  EXPECT_EQ(second.request.path, "/b");
}

TEST(HttpParser, BodyNeedsContentLength) {
  std::string req = "POST /control HTTP/1.1\r\nContent-Length: 9\r\n\r\nmode=hang";
  auto out = parseRequest(req, {});
  ASSERT_EQ(out.status, ParseStatus::Complete);
  EXPECT_EQ(out.request.body, "mode=hang");
  EXPECT_EQ(out.consumed, req.size());
  EXPECT_EQ(parseRequest(req.substr(0, req.size() - 1), {}).status, ParseStatus::NeedMore);
}

TEST(HttpParser, HeadOverTheLimitIsRejectedEvenIncomplete) {
  std::string big = "GET / HTTP/1.1\r\nX-Pad: " + std::string(17000, 'a');
  EXPECT_EQ(parseRequest(big, {}).status, ParseStatus::Invalid);
  std::string complete = big + "\r\n\r\n";
  EXPECT_EQ(parseRequest(complete, {}).status, ParseStatus::Invalid);
  std::string justUnder = "GET / HTTP/1.1\r\nX-Pad: " + std::string(16000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parseRequest(justUnder, {}).status, ParseStatus::Complete);
}

TEST(HttpParser, RejectsMalformedInput) {
  for (const char* bad : {"GET /  HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET nopath HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
                          "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                          "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                          "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(parseRequest(bad, {}).status, ParseStatus::Invalid) << bad;
  }
}

TEST(HttpParser, ConnectionSemanticsFollowTheVersion) {
  EXPECT_FALSE(parseRequest("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", {}).request.keepAlive);
  EXPECT_FALSE(parseRequest("GET / HTTP/1.0\r\n\r\n", {}).request.keepAlive);
  EXPECT_TRUE(parseRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", {}).request.keepAlive);
}

TEST(HttpParser, AbsoluteFormTargetKeepsPathAndQuery) {
  auto out = parseRequest("GET http://members.example.test/nic/update?x=1 HTTP/1.1\r\n\r\n", {});
  ASSERT_EQ(out.status, ParseStatus::Complete);
  EXPECT_EQ(out.request.path, "/nic/update");
  EXPECT_EQ(out.request.query, "x=1");
}

TEST(Query, DecodesEscapesAndRejectsBadOnes) {
  auto p = parseQuery("hostname=a.example.test%2Cb.example.test&myip=192.0.2.1&flag&x=a+b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(findParam(*p, "hostname"), "a.example.test,b.example.test");
  EXPECT_EQ(findParam(*p, "flag"), "");
  EXPECT_EQ(findParam(*p, "x"), "a b");
  EXPECT_FALSE(findParam(*p, "missing").has_value());
  EXPECT_FALSE(parseQuery("a=%zz").ok());
  EXPECT_FALSE(parseQuery("a=%2").ok());
}

TEST(Base64, RoundTripsAndRejectsJunk) {
  for (std::string s : {"", "a", "ab", "abc", "user:pa:ss"}) {
    auto d = decodeBase64(encodeBase64(s));
    ASSERT_TRUE(d.has_value()) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(encodeBase64("alice:s3cret"), "YWxpY2U6czNjcmV0");
  EXPECT_FALSE(decodeBase64("abc").has_value());
  EXPECT_FALSE(decodeBase64("a=bc").has_value());
  EXPECT_FALSE(decodeBase64("ab!c").has_value());
}
