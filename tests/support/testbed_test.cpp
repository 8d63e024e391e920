// Self-tests of the testbed pieces that need no external server.
#include <sys/stat.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include <gtest/gtest.h>

#include "testbed/mail_sink.hpp"
#include "testbed/ports.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;

/// A blocking line-based client for talking SMTP/LMTP to the sink.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};  // a broken sink fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  [[nodiscard]] bool connected() const { return connected_; }
  void send(const std::string& s) { (void)!::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  /// One reply line (CRLF stripped), or "" on EOF/timeout.
  std::string line() {
    for (;;) {
      auto nl = buf_.find("\r\n");
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 2);
        return l;
      }
      char c[512];
      ssize_t n = ::recv(fd_, c, sizeof c, 0);
      if (n <= 0) return "";
      buf_.append(c, static_cast<std::size_t>(n));
    }
  }
  /// A whole (possibly multi-line) reply; returns its last line.
  std::string reply() {
    std::string l;
    do l = line();
    while (l.size() > 3 && l[3] == '-');
    return l;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

TEST(TempDir, IsShortTraversableAndRemoved) {
  std::string path;
  {
    TempDir dir("self");
    path = dir.path();
    EXPECT_LT(path.size(), 60u);
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u);
    writeTextFile(dir.file("a"), "x");
    EXPECT_EQ(slurp(dir.file("a")), "x");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Ports, FreePortIsBindableAndWaitTimesOut) {
  int port = freePort();
  EXPECT_GT(port, 0);
  // Nothing listens there: the wait must give up (bounded), not hang.
  EXPECT_FALSE(waitForPort(port, 200ms));
}

TEST(ServerProcess, StopsBySigtermAndReaps) {
  TempDir dir("sp");
  auto p = ServerProcess::start({"sleep", "300"}, dir.file("sleep.log"));
  ASSERT_TRUE(p.ok()) << p.error();
  pid_t pid = (*p)->pid();
  EXPECT_TRUE((*p)->running());
  StopOutcome o = (*p)->stop(5s);
  EXPECT_TRUE(o.exited);
  EXPECT_EQ(o.signal, SIGTERM);
  EXPECT_FALSE(o.killed);
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid is gone
  EXPECT_TRUE(livingGroupMembers(pid).empty());
}

TEST(ServerProcess, KillsTheWholeGroupWhenSigtermIsIgnored) {
  TempDir dir("sp");
  // A "server" that ignores SIGTERM and has a helper child in its group.
  auto p = ServerProcess::start({"sh", "-c", "trap '' TERM; sleep 300 & echo started; wait"}, dir.file("x.log"));
  ASSERT_TRUE(p.ok()) << p.error();
  pid_t pid = (*p)->pid();
  ASSERT_TRUE((*p)->waitForLog("started", 10s)) << (*p)->log();  // the trap is set
  StopOutcome o = (*p)->stop(300ms);
  EXPECT_TRUE(o.killed);
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_TRUE(livingGroupMembers(pid).empty()) << "the helper survived";
}

TEST(ServerProcess, ExecFailureIsAValue) {
  TempDir dir("sp");
  auto p = ServerProcess::start({"/nonexistent/server"}, dir.file("x.log"));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("exec"), std::string::npos);
}

TEST(ServerProcess, WaitForPortReportsEarlyExit) {
  TempDir dir("sp");
  auto p = ServerProcess::start({"sh", "-c", "echo dying; exit 3"}, dir.file("x.log"));
  ASSERT_TRUE(p.ok()) << p.error();
  auto up = (*p)->waitForPort(freePort(), 20s);
  ASSERT_FALSE(up.ok());
  EXPECT_NE(up.error().find("exited before listening"), std::string::npos) << up.error();
  EXPECT_NE(up.error().find("dying"), std::string::npos) << up.error();
  EXPECT_EQ((*p)->stop().exitCode, 3);
}

TEST(MailSink, SmtpRecordsEnvelopeAndHeaders) {
  MailSink sink;
  Client c(sink.port());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.reply().substr(0, 3), "220");
  c.send("EHLO client.test\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  c.send("MAIL FROM:<sender@example.net> SIZE=10\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  c.send("RCPT TO:<Alice@Example.COM>\r\nRCPT TO:<bob@example.com>\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  c.send("DATA\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "354");
  c.send("Message-ID: <m1@example.net>\r\nX-Test-Id:\r\n  T42\r\n\r\n..dot\r\n.\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  c.send("QUIT\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "221");
  ASSERT_TRUE(sink.waitFor([](const auto& m) { return m.size() == 1; }, 10s));
  auto m = sink.messages().at(0);
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"Alice@Example.COM", "bob@example.com"}));
  EXPECT_EQ(m.mailFrom, "sender@example.net");
  EXPECT_EQ(m.messageId, "<m1@example.net>");
  EXPECT_EQ(m.testId, "T42");
  EXPECT_NE(m.data.find("\r\n.dot\r\n"), std::string::npos);  // dot-unstuffed
  EXPECT_FALSE(m.lmtp);
}

TEST(MailSink, LmtpAnswersOncePerRecipient) {
  MailSink sink;
  Client c(sink.port());
  ASSERT_TRUE(c.connected());
  c.reply();
  c.send("LHLO client.test\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");
  c.send("MAIL FROM:<>\r\n");
  c.reply();
  for (const char* r : {"a@example.com", "b@example.com", "c@example.com"}) {
    c.send(std::string("RCPT TO:<") + r + ">\r\n");
    EXPECT_EQ(c.reply().substr(0, 3), "250");
  }
  c.send("DATA\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "354");
  c.send("X-Test-Id: L1\r\n\r\nbody\r\n.\r\n");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.reply().substr(0, 3), "250") << "reply " << i;
  c.send("NOOP\r\n");
  EXPECT_EQ(c.reply().substr(0, 3), "250");  // exactly three: the NOOP reply is next
  ASSERT_TRUE(sink.waitFor([](const auto& m) { return !m.empty(); }, 10s));
  EXPECT_TRUE(sink.messages().at(0).lmtp);
  EXPECT_EQ(sink.messages().at(0).recipients.size(), 3u);
}

TEST(MailSink, WaitForTimesOutWhenNothingArrives) {
  MailSink sink;
  EXPECT_FALSE(sink.waitFor([](const auto& m) { return !m.empty(); }, 100ms));
}

TEST(HeaderValue, CaseInsensitiveAndStopsAtBody) {
  std::string msg = "x-test-id: A1\r\nSubject: s\r\n\r\nX-Test-Id: body\r\n";
  EXPECT_EQ(headerValue(msg, "X-Test-Id"), "A1");
  EXPECT_EQ(headerValue(msg, "Message-ID"), "");
}

}  // namespace
}  // namespace dynmx::testbed
