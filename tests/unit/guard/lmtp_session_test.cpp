// The LMTP server machine: a strict, bounded conversation, fed in arbitrary chunks.
#include <gtest/gtest.h>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

using Kind = LmtpServerSession::Event::Kind;

/// Feed `input` in chunks of `chunk` bytes; collect every reply; answer each message with `answer`.
struct Transcript {
  std::string out;
  std::vector<std::string> messages;
  std::vector<std::vector<std::string>> rcpts;
  bool closed = false;
};

Transcript drive(const std::string& input, std::size_t chunk, SessionLimits limits = {},
          std::vector<Reply> answer = {{250, "2.0.0 ok"}, {250, "2.0.0 ok"}, {250, "2.0.0 ok"}}) {
  LmtpServerSession s(limits, "t");
  Transcript r;
  for (std::size_t i = 0; i < input.size() && !r.closed; i += chunk) {
    s.append(std::string_view(input).substr(i, chunk));
    while (true) {
      auto e = s.poll();
      if (e.kind == Kind::NeedMore) break;
      if (e.kind == Kind::Reply) r.out += e.text;
      if (e.kind == Kind::Close) {
        r.out += e.text;
        r.closed = true;
        break;
      }
      if (e.kind == Kind::Message) {
        r.rcpts.push_back(s.recipients());
        r.messages.push_back(s.takeMessage());
        r.out += s.messageHandled(std::vector<Reply>(answer.begin(), answer.begin() + static_cast<long>(std::min(answer.size(), r.rcpts.back().size()))));
      }
    }
  }
  return r;
}

const std::string kSession =
    "LHLO fetchmail\r\nMAIL FROM:<s@example.net> BODY=8BITMIME SIZE=40\r\nRCPT TO:<alice@example.com>\r\n"
    "RCPT TO:<bob@example.com>\r\nDATA\r\nSubject: x\r\n\r\n..leading dot\r\n\xc3\xa4 8-bit\r\n.\r\nQUIT\r\n";

TEST(GuardLmtpSession, AFullConversationInAnyChunking) {
  for (std::size_t chunk : {1u, 2u, 7u, 64u, 4096u}) {
    Transcript r = drive(kSession, chunk);
    EXPECT_TRUE(r.closed) << chunk;
    ASSERT_EQ(r.messages.size(), 1u) << chunk;
    EXPECT_EQ(r.messages[0], "Subject: x\n\n.leading dot\n\xc3\xa4 8-bit\n") << "dot-unstuffed, 8-bit intact";
    EXPECT_EQ(r.rcpts[0], (std::vector<std::string>{"alice@example.com", "bob@example.com"}));
    EXPECT_EQ(r.out,
              "250-t\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 67108864\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n"
              "250 2.1.5 ok\r\n354 2.0.0 end with <CRLF>.<CRLF>\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n221 2.0.0 bye\r\n")
        << chunk;
  }
}

TEST(GuardLmtpSession, OneReplyPerRecipientInOrder) {
  LmtpServerSession s({}, "t");
  s.append("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\nhi\r\n.\r\n");
  std::string out;
  LmtpServerSession::Event e;
  while ((e = s.poll()).kind == Kind::Reply) out += e.text;
  ASSERT_EQ(e.kind, Kind::Message);
  EXPECT_EQ(s.sender(), "");
  EXPECT_EQ(s.poll().kind, Kind::NeedMore) << "nothing happens until the message is answered";
  EXPECT_EQ(s.messageHandled({{250, "2.0.0 ok"}, {451, "4.4.0 later\r\nx"}}), "250 2.0.0 ok\r\n451 4.4.0 later  x\r\n");
  EXPECT_EQ(s.messageHandled({}), "") << "the transaction is over";
}

struct Bad {
  const char* name;
  std::string input;
  std::string lastReply;
};

TEST(GuardLmtpSession, RefusesWhatIsNotLmtp) {
  const std::string hello = "LHLO x\r\n";
  const std::vector<Bad> cases = {
      {"EHLO", "EHLO x\r\n", "500 5.5.1 this is LMTP: use LHLO\r\n"},
      {"MAIL before LHLO", "MAIL FROM:<a@b>\r\n", "503 5.5.1 LHLO first\r\n"},
      {"RCPT before MAIL", hello + "RCPT TO:<a@b>\r\n", "503 5.5.1 MAIL first\r\n"},
      {"DATA before RCPT", hello + "MAIL FROM:<a@b>\r\nDATA\r\n", "503 5.5.1 RCPT first\r\n"},
      {"nested MAIL", hello + "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n", "503 5.5.1 nested MAIL\r\n"},
      {"bare address", hello + "MAIL FROM:a@b\r\n", "501 5.1.7 bad sender address\r\n"},
      {"empty RCPT", hello + "MAIL FROM:<>\r\nRCPT TO:<>\r\n", "501 5.1.3 bad recipient address\r\n"},
      {"two @", hello + "MAIL FROM:<>\r\nRCPT TO:<a@b@c>\r\n", "501 5.1.3 bad recipient address\r\n"},
      {"junk after path", hello + "MAIL FROM:<a@b>x\r\n", "501 5.1.7 bad sender address\r\n"},
      {"unknown", hello + "VRFY a\r\n", "502 5.5.2 command not implemented\r\n"},
      {"DATA with argument", hello + "MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA x\r\n", "501 5.5.4 DATA takes no argument\r\n"},
      {"long line", hello + std::string(3000, 'N') + "\r\n", "500 5.5.2 line too long\r\n"},
  };
  for (const auto& c : cases) {
    Transcript r = drive(c.input, 5);
    ASSERT_GE(r.out.size(), c.lastReply.size()) << c.name;
    EXPECT_EQ(r.out.substr(r.out.size() - c.lastReply.size()), c.lastReply) << c.name;
    EXPECT_TRUE(r.messages.empty()) << c.name;
  }
}

TEST(GuardLmtpSession, ALongLineIsSkippedToItsEndAndTheSessionGoesOn) {
  Transcript r = drive("LHLO x\r\n" + std::string(100000, 'A') + "\r\nNOOP\r\n", 1000);
  EXPECT_NE(r.out.find("500 5.5.2 line too long\r\n250 2.0.0 ok\r\n"), std::string::npos) << r.out;
}

TEST(GuardLmtpSession, TooLargeMessageGets552PerRecipientAndNoMessage) {
  SessionLimits l;
  l.maxMessageBytes = 100;
  std::string body;
  for (int i = 0; i < 20; ++i) body += "0123456789\r\n";
  Transcript r = drive("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + body + ".\r\nNOOP\r\n", 13, l);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_NE(r.out.find("552 5.3.4 message larger than 100 bytes\r\n552 5.3.4 message larger than 100 bytes\r\n250 2.0.0 ok"),
            std::string::npos)
      << r.out;
  // One line longer than the limit, too.
  Transcript one = drive("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n" + std::string(500, 'x') + "\r\n.\r\n", 7, l);
  EXPECT_TRUE(one.messages.empty());
  EXPECT_NE(one.out.find("552 5.3.4"), std::string::npos);
}

TEST(GuardLmtpSession, RecipientLimit) {
  SessionLimits l;
  l.maxRecipients = 2;
  Transcript r = drive("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\n", 100, l);
  EXPECT_NE(r.out.find("452 4.5.3 too many recipients"), std::string::npos);
}

TEST(GuardLmtpSession, BufferStaysBounded) {
  LmtpServerSession s({}, "t");
  s.append("LHLO x\r\n");
  s.poll();
  for (int i = 0; i < 1000; ++i) {
    s.append(std::string(1000, 'z'));
    while (s.poll().kind != Kind::NeedMore) {
    }
  }
  EXPECT_LE(s.buffered(), 4096u);
}

}  // namespace
}  // namespace dynmx::guard
