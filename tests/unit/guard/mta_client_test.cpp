// The MTA client machine: every reply of the MTA, including refusals and garbage.
#include <gtest/gtest.h>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

using Kind = MtaClient::Step::Kind;

/// Play a conversation: each entry is what the MTA says next; returns what the client sent.
std::string play(MtaClient& c, const std::vector<std::string>& mta) {
  std::string sent;
  for (const auto& reply : mta) {
    auto s = c.feed(reply);
    while (s.kind == Kind::SendMessage) {
      sent += "<message>";
      s = c.messageSent();
    }
    if (s.kind == Kind::Send) sent += s.text;
    if (s.kind == Kind::Done) break;
  }
  return sent;
}

TEST(GuardMtaClient, LmtpAnswersPerRecipient) {
  MtaClient c(true, "guard", "s@example.net", {"a@example.com", "b@example.com", "c@example.com"});
  std::string sent = play(c, {"220 mta\r\n", "250-mta\r\n250 8BITMIME\r\n", "250 ok\r\n", "250 ok\r\n",
                              "550 5.1.1 no such user\r\n", "250 ok\r\n", "354 go\r\n", "250 2.0.0 a saved\r\n452 4.2.2 c over quota\r\n",
                              "221 bye\r\n"});
  EXPECT_EQ(sent,
            "LHLO guard\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
            "RCPT TO:<c@example.com>\r\nDATA\r\n<message>QUIT\r\n");
  ASSERT_EQ(c.results().size(), 3u);
  EXPECT_EQ(c.results()[0].code, 250);
  EXPECT_EQ(c.results()[1].code, 550);
  EXPECT_EQ(c.results()[2].code, 452);
  EXPECT_FALSE(c.sessionFailure());
}

TEST(GuardMtaClient, SmtpOneAnswerForAll) {
  MtaClient c(false, "guard", "", {"a@x.example", "b@x.example"});
  play(c, {"220 mta ESMTP\r\n", "250 mta\r\n", "250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n", "221 bye\r\n"});
  EXPECT_EQ(c.results()[0].code, 250);
  EXPECT_EQ(c.results()[1].text, "queued");
}

struct Failure {
  const char* name;
  std::vector<std::string> mta;
  std::vector<int> codes;
};

TEST(GuardMtaClient, FailuresKeepMailAtTheIspUnlessTheRecipientIsRefused) {
  const std::vector<Failure> cases = {
      {"greeting 554", {"554 go away\r\n"}, {451, 451}},
      {"greeting 421", {"421 busy\r\n"}, {421, 421}},
      {"LHLO refused", {"220 x\r\n", "500 what\r\n"}, {451, 451}},
      {"MAIL refused 5xx is about the message: temporary", {"220 x\r\n", "250 x\r\n", "550 no\r\n"}, {451, 451}},
      {"all RCPT refused", {"220 x\r\n", "250 x\r\n", "250 ok\r\n", "550 a\r\n", "450 b\r\n", "221 x\r\n"}, {550, 450}},
      {"DATA refused", {"220 x\r\n", "250 x\r\n", "250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "554 no data\r\n"}, {451, 451}},
      {"garbage", {"220 x\r\n", "hello\r\n"}, {451, 451}},
      {"code change inside a multi-line reply", {"220 x\r\n", "250-x\r\n", "550 x\r\n"}, {451, 451}},
      {"over-long line", {"220 x\r\n", std::string(5000, '2')}, {451, 451}},
  };
  for (const auto& f : cases) {
    MtaClient c(true, "g", "s@x.example", {"a@x.example", "b@x.example"});
    play(c, f.mta);
    ASSERT_EQ(c.results().size(), 2u);
    EXPECT_EQ(c.results()[0].code, f.codes[0]) << f.name;
    EXPECT_EQ(c.results()[1].code, f.codes[1]) << f.name;
  }
}

// The MTA offers PIPELINING: MAIL, the RCPTs and DATA go as one group, and the replies,
// in one read or split anywhere, are matched in order.
TEST(GuardMtaClient, PipelinedWhenTheMtaOffersIt) {
  MtaClient c(true, "guard", "s@example.net", {"a@example.com", "b@example.com", "c@example.com"});
  EXPECT_EQ(c.feed("220 mta\r\n").text, "LHLO guard\r\n");
  auto group = c.feed("250-mta\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  EXPECT_TRUE(c.pipelined());
  EXPECT_EQ(group.kind, Kind::Send);
  EXPECT_EQ(group.text,
            "MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
            "RCPT TO:<c@example.com>\r\nDATA\r\n");
  EXPECT_EQ(c.feed("250 ok\r\n250 ok\r\n550 5.1.1 no").kind, Kind::Wait) << "nothing more to send before DATA's reply";
  EXPECT_EQ(c.feed(" such user\r\n250 ok\r\n").kind, Kind::Wait);
  EXPECT_FALSE(c.answersFinal());
  EXPECT_FALSE(c.everyRecipientAnswered());
  EXPECT_EQ(c.feed("354 go\r\n").kind, Kind::SendMessage);
  EXPECT_EQ(c.messageSent().kind, Kind::Wait);
  EXPECT_EQ(c.feed("250 2.0.0 a saved\r\n").kind, Kind::Wait);
  auto quit = c.feed("452 4.2.2 c over quota\r\n");
  EXPECT_EQ(quit.text, "QUIT\r\n");
  EXPECT_TRUE(c.answersFinal()) << "fetchmail may have its answers before the MTA's goodbye";
  EXPECT_TRUE(c.everyRecipientAnswered());
  ASSERT_EQ(c.results().size(), 3u);
  EXPECT_EQ(c.results()[0].code, 250);
  EXPECT_EQ(c.results()[1].code, 550);
  EXPECT_EQ(c.results()[1].text, "5.1.1 no such user");
  EXPECT_EQ(c.results()[2].code, 452);
}

TEST(GuardMtaClient, PipelinedFailuresKeepMailAtTheIspUnlessTheRecipientIsRefused) {
  const std::string greeting = "220 x\r\n", hello = "250-x\r\n250 PIPELINING\r\n";
  const std::vector<Failure> cases = {
      {"MAIL refused: the rest of the group is not read", {greeting, hello, "550 no\r\n554 no rcpt\r\n"}, {451, 451}},
      {"all RCPT refused, DATA refused", {greeting, hello, "250 ok\r\n550 a\r\n450 b\r\n554 no valid recipients\r\n"}, {550, 450}},
      {"all RCPT refused, yet 354: no message", {greeting, hello, "250 ok\r\n550 a\r\n450 b\r\n354 go\r\n"}, {550, 450}},
      {"DATA refused", {greeting, hello, "250 ok\r\n250 ok\r\n250 ok\r\n554 no data\r\n"}, {451, 451}},
      {"connection ends inside the group", {greeting, hello, "250 ok\r\n"}, {451, 451}},
  };
  for (const auto& f : cases) {
    MtaClient c(true, "g", "s@x.example", {"a@x.example", "b@x.example"});
    const std::string sent = play(c, f.mta);
    EXPECT_TRUE(c.pipelined()) << f.name;
    EXPECT_EQ(sent.find("<message>"), std::string::npos) << f.name << ": " << sent;
    ASSERT_EQ(c.results().size(), 2u);
    EXPECT_EQ(c.results()[0].code, f.codes[0]) << f.name;
    EXPECT_EQ(c.results()[1].code, f.codes[1]) << f.name;
  }
}

TEST(GuardMtaClient, DotStuffing) {
  EXPECT_EQ(dotStuff("a\n.b\n..c\nd"), "a\r\n..b\r\n...c\r\nd\r\n.\r\n");
  EXPECT_EQ(dotStuff("x\r\n.\r\n"), "x\r\n..\r\n.\r\n");
  EXPECT_EQ(dotStuff(""), ".\r\n");
}

TEST(GuardMtaClient, OutgoingMessageDropsDeliveredToAndAddsMarker) {
  std::string m = "Received: by fetchmail\nDelivered-To: box@isp.example\nX-Original-To: a@example.com\n"
                  "Delivered-To: a@example.com\n\tfolded\nSubject: s\n\nDelivered-To: body line\n";
  MessageFacts f;
  std::string out = outgoingMessage(m, f, "id1", std::string("no-envelope: why\r\nX-Evil: 1"));
  EXPECT_EQ(out,
            "X-Dynmx-Guard: id1\nX-Dynmx-Guard-Reason: no-envelope: why  X-Evil: 1\nReceived: by fetchmail\n"
            "X-Original-To: a@example.com\nSubject: s\n\nDelivered-To: body line\n");
}

TEST(GuardMtaClient, AMessageStartingWithWhiteSpaceStaysBody) {
  // Found by fuzz_guard_headers: without the empty line, "\tx" would continue our header and
  // the Delivered-To below would become a header field of the outgoing message.
  std::string out = outgoingMessage("\tx\nDelivered-To: a@example.com\n\nbody\n", MessageFacts{}, "id", std::nullopt);
  EXPECT_EQ(out, "X-Dynmx-Guard: id\n\n\tx\nDelivered-To: a@example.com\n\nbody\n");
  for (const auto& f : readHeaders(out).fields) EXPECT_NE(f.name, "Delivered-To");
}

}  // namespace
}  // namespace dynmx::guard
