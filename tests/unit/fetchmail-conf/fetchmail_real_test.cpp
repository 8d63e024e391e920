// With the REAL fetchmail (Debian 12: 6.4.37): the rendered rc is accepted, adversarial
// strings come back byte for byte, and a rejected candidate never replaces the live file.
// Printable bytes are proven through `fetchmail --configdump`; bytes >= 0x80 cannot be
// (its visbuf() garbles them, see configdump.hpp), so those are proven on the wire: a
// loopback POP3 stub records the USER and PASS fetchmail actually sends.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "configdump.hpp"
#include "dynmx/atomic_file.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/process.hpp"
#include "test_policies.hpp"

namespace dynmx::fetchmail {
namespace {

using namespace testing;

const std::string kFetchmail = "/usr/bin/fetchmail";

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/dynmx-fmr-XXXXXX";  // short: fetchmail puts a lock file here
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string userName() { return std::string(::getenv("USER") ? ::getenv("USER") : "root"); }

/// Install `text` as `dir/rc` through the real validator; returns the error if any.
Status<> installReal(const TempDir& d, const std::string& text) {
  return installRc(d.path + "/rc", text, fetchmailValidator(kFetchmail, d.path));
}

/// Run configdump on an installed rc and return stdout.
std::string configdump(const TempDir& d) {
  ProcessSpec spec;
  spec.argv = {kFetchmail, "--configdump", "--nosyslog", "-f", d.path + "/rc"};
  spec.env = {{"FETCHMAILHOME", d.path}, {"HOME", d.path}, {"LC_ALL", "C"}};
  spec.timeout = std::chrono::seconds(20);
  ProcessResult r = runProcess(spec);
  EXPECT_TRUE(r.succeeded()) << r.err;
  return r.out;
}

class RealFetchmail : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kFetchmail.c_str(), X_OK) != 0) GTEST_FAIL() << kFetchmail << " is required (apt-get install fetchmail)";
  }
};

TEST_F(RealFetchmail, GoldenPoliciesAreAccepted) {
  for (auto make : {pop3ImplicitSmtp, imapStartTlsLmtp, mdaDelivery, wildcardAndMap}) {
    TempDir d;
    RenderInput in;
    in.password = "pw";
    in.idFile = d.path + "/ids";
    in.pidFile = d.path + "/pid";
    auto text = renderRc(make(), in);
    ASSERT_TRUE(text.ok()) << text.error();
    auto st = installReal(d, *text);
    EXPECT_TRUE(st.ok()) << st.error() << "\n" << *text;
  }
}

TEST_F(RealFetchmail, AdversarialStringsComeBackExactly) {
  // Every printable-ASCII trap and control byte; configdump can show all of these.
  const std::string password = std::string("p\"w'd \\x41 \\\\ $HOME `id` # ;,=\n\t\r\b\x01\x1b\x7f") + "\\065 end\\";
  const std::string user = "office \"box\" \\x4 'q' @isp.example";
  TempDir d;
  const std::string idFile = d.path + "/id file \"q\" 'x' \\n";
  Policy p = mdaDelivery();
  p.isp.user = user;
  p.delivery.mda = "/usr/bin/env sh -c 'cat > \"$1\"' -- %T # not a comment";
  p.users.map = {{"we ird\"", "lo'cal\\"}, {"bob", "robert"}};
  RenderInput in;
  in.password = password;
  in.idFile = idFile;
  in.pidFile = d.path + "/pid";
  auto text = renderRc(p, in);
  ASSERT_TRUE(text.ok()) << text.error();
  auto st = installReal(d, *text);
  ASSERT_TRUE(st.ok()) << st.error();
  std::string dump = configdump(d);
  EXPECT_EQ(dumpValue(dump, "password"), password);
  EXPECT_EQ(dumpValue(dump, "remote"), user);
  EXPECT_EQ(dumpValue(dump, "idfile"), idFile);
  EXPECT_EQ(dumpValue(dump, "mda"), p.delivery.mda);
  EXPECT_EQ(dumpValue(dump, "envelope"), "X-Envelope-To");
  EXPECT_EQ(dumpValue(dump, "postmaster"), "erin");
  EXPECT_NE(dump.find(R"(("bob", "robert"))"), std::string::npos) << dump;
  EXPECT_NE(dump.find(R"(("we ird\"", "lo'cal\\"))"), std::string::npos) << dump;
  EXPECT_NE(dump.find("'dns':FALSE"), std::string::npos);
  EXPECT_NE(dump.find("'dropdelivered':TRUE"), std::string::npos);
}

TEST_F(RealFetchmail, MappingAndMultidropAsIntended) {
  TempDir d;
  RenderInput in;
  in.password = "pw";
  in.idFile = d.path + "/ids";
  in.pidFile = d.path + "/pid";
  ASSERT_TRUE(installReal(d, *renderRc(pop3ImplicitSmtp(), in)).ok());
  std::string dump = configdump(d);
  EXPECT_NE(dump.find(R"('localnames':[("alice", "alice"), ("bob", "robert"), ("info", "alice"), ("postmaster", "postmaster")])"),
            std::string::npos) << dump;
  EXPECT_NE(dump.find(R"("aka":["example.com", "example.org"])"), std::string::npos);
  EXPECT_NE(dump.find(R"("localdomains":[])"), std::string::npos);
  EXPECT_NE(dump.find("'envskip':1"), std::string::npos);
  EXPECT_NE(dump.find("'bouncemail':FALSE"), std::string::npos);
  EXPECT_NE(dump.find("'softbounce':TRUE"), std::string::npos);
  EXPECT_NE(dump.find("'uidl':TRUE"), std::string::npos);
  EXPECT_NE(dump.find("'sslcertck':TRUE"), std::string::npos);
  EXPECT_NE(dump.find(R"("smtphunt":["127.0.0.1/25"])"), std::string::npos);
  EXPECT_NE(dump.find(R"("smtpaddress":"example.com")"), std::string::npos);
  EXPECT_NE(dump.find(R"("smtpname":None)"), std::string::npos);
}

TEST_F(RealFetchmail, BrokenCandidateLeavesThePreviousFile) {
  TempDir d;
  const std::string rc = d.path + "/rc";
  RenderInput in;
  in.password = "old-secret";
  in.idFile = d.path + "/ids";
  in.pidFile = d.path + "/pid";
  const std::string previous = *renderRc(pop3ImplicitSmtp(), in);
  ASSERT_TRUE(installReal(d, previous).ok());
  // A server option after `user` is a syntax error (exit 5); the password is in the text.
  auto r = installReal(d, "poll \"h.test\" user \"u\" there with password \"N3wS3cret\" is a b here proto pop3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("exit 5"), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find("N3wS3cret"), std::string::npos) << r.error();
  EXPECT_EQ(*readFile(rc), previous);
  // Exit 0 but warnings on stderr (multidrop without envelope): also refused.
  auto w = installReal(d, "poll \"h.test\" proto pop3 user \"u\" there with password \"pw\" is a b here\n");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().find("exit 0"), std::string::npos) << w.error();
  EXPECT_NE(w.error().find("requires envelope"), std::string::npos) << w.error();
  EXPECT_EQ(*readFile(rc), previous);
  struct stat st {};
  ASSERT_EQ(::stat(rc.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(d.path), {}), 1);
}

/// A one-connection POP3 stub on 127.0.0.1 that records USER/PASS and refuses the login.
class Pop3Stub {
 public:
  Pop3Stub() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Pop3Stub() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  /// Wait for the session to end (bounded by the stub's own timeouts); the lines it got.
  std::vector<std::string> finish() {
    if (thread_.joinable()) thread_.join();
    return lines_;
  }
  Pop3Stub(const Pop3Stub&) = delete;
  Pop3Stub& operator=(const Pop3Stub&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 30000) != 1) return;  // bounded: fetchmail never came
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    auto say = [c](std::string_view s) { (void)!::write(c, s.data(), s.size()); };
    say("+OK dynmx test stub\r\n");
    std::string buf;
    char chunk[4096];
    for (;;) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 30000) != 1) break;
      ssize_t n = ::read(c, chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      for (std::size_t eol; (eol = buf.find("\r\n")) != std::string::npos;) {
        std::string line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        lines_.push_back(line);
        if (line.rfind("CAPA", 0) == 0) say("-ERR no capabilities\r\n");
        else if (line.rfind("PASS ", 0) == 0) say("-ERR [AUTH] refused by the test stub\r\n");
        else say("+OK\r\n");
        if (line == "QUIT") { ::close(c); return; }
      }
    }
    ::close(c);
  }
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::string> lines_;
};

TEST_F(RealFetchmail, NonAsciiBytesReachTheServerExactly) {
  // No CR/LF here: they would end the POP3 line. Those are proven through configdump above.
  const std::string password = "gr\xc3\xbc\xc3\x9f \xff\xfe\x80 \"q\" 'a' \\x41 $x #";
  const std::string user = "b\xc3\xb6x \"o\" \\ \xff";
  TempDir d;
  Pop3Stub stub;
  Policy p = wildcardAndMap();
  p.isp.server = "127.0.0.1";
  p.isp.port = stub.port();
  p.isp.user = user;
  p.isp.timeout = std::chrono::seconds(20);
  RenderInput in;
  in.password = password;
  in.idFile = d.path + "/ids";
  in.pidFile = d.path + "/pid";
  auto text = renderRc(p, in);
  ASSERT_TRUE(text.ok()) << text.error();
  ASSERT_TRUE(installReal(d, *text).ok());
  ProcessSpec spec;
  spec.argv = {kFetchmail, "-f", d.path + "/rc", "-d0", "-N", "--nosyslog"};
  spec.env = {{"FETCHMAILHOME", d.path}, {"HOME", d.path}, {"FETCHMAILUSER", userName()}, {"LC_ALL", "C"}};
  spec.timeout = std::chrono::seconds(40);
  ProcessResult r = runProcess(spec);
  EXPECT_EQ(r.exitCode, 3) << r.err;  // AUTHFAIL: the stub refuses every login
  EXPECT_EQ(r.err.find("\xc3\xbc\xc3\x9f"), std::string::npos) << "password leaked into fetchmail's log";
  std::vector<std::string> lines = stub.finish();
  std::vector<std::string> logins;
  for (const auto& l : lines)
    if (l.rfind("USER ", 0) == 0 || l.rfind("PASS ", 0) == 0) logins.push_back(l);
  ASSERT_EQ(logins.size(), 2u) << "fetchmail did not log in";
  EXPECT_EQ(logins[0], "USER " + user);
  EXPECT_EQ(logins[1], "PASS " + password);
}

// Issue 12 item 5: with `keep`, fetchmail reads its idfile, which belongs to the fetchmail
// user alone. Validated as the daemon user (as dynmx once did), the candidate is refused
// (exit 6: "must be owned by you") and a reload failed; validated as the user that will run
// fetchmail, it is accepted and installed for that user.
TEST(RealFetchmailKeep, TheFetchmailUsersIdfileIsValidatedAsThatUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to validate as other users";
  // getpwnam returns static storage: copy each entry before the next lookup.
  const passwd* p = ::getpwnam("fetchmail");
  ASSERT_NE(p, nullptr) << "user fetchmail (Debian's fetchmail package)";
  const passwd fmEntry = *p;
  const std::string fmName = p->pw_name;
  p = ::getpwnam("dynmx");
  ASSERT_NE(p, nullptr) << "user dynmx (scripts/deps.sh)";
  const passwd dmEntry = *p;
  const passwd* fm = &fmEntry;
  const passwd* dm = &dmEntry;
  TempDir d;
  ::chmod(d.path.c_str(), 0755);
  const std::string ids = d.path + "/fetchmail.ids";
  {
    std::ofstream out(ids);
    out << "pop.example.test u 1 abc\n";
  }
  ASSERT_EQ(::chown(ids.c_str(), fm->pw_uid, fm->pw_gid), 0);
  ::chmod(ids.c_str(), 0600);
  const std::string text =
      "set idfile \"" + ids + "\"\npoll pop.example.test protocol pop3 user \"u\" password \"p\" keep\n";
  const std::string rc = d.path + "/rc";

  const Status<> asDaemon = installRc(rc, text, fetchmailValidator(kFetchmail, d.path, {dm->pw_uid, dm->pw_gid, "dynmx"}),
                                      {dm->pw_uid, dm->pw_gid});
  ASSERT_FALSE(asDaemon.ok()) << "the assertion below can fail: the idfile is not the daemon user's";
  EXPECT_NE(asDaemon.error().find("exit 6"), std::string::npos) << asDaemon.error();

  const Status<> asFetchmail = installRc(
      rc, text, fetchmailValidator(kFetchmail, d.path, {fm->pw_uid, fm->pw_gid, fmName}), {fm->pw_uid, fm->pw_gid});
  ASSERT_TRUE(asFetchmail.ok()) << asFetchmail.error();
  struct stat st {};
  ASSERT_EQ(::stat(rc.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, fm->pw_uid);
}

}  // namespace
}  // namespace dynmx::fetchmail
