// The guard's edge on real sockets: an LMTP client plays fetchmail, a scripted MTA plays
// the local MTA, the journal lives in a temp dir. Every answer fetchmail gets is checked
// against what the MTA really accepted.
#include <gtest/gtest.h>
#include <mutex>
#include <condition_variable>
#include <cstdio>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <boost/asio/post.hpp>
#include <thread>

#include "dynmx/guard_server.hpp"
#include "fake_mta.hpp"

namespace dynmx::guard {
namespace {

using testing::FakeMta;

std::string tempDir() {
  char tmpl[] = "/tmp/gsXXXXXX";
  return ::mkdtemp(tmpl);
}

/// A blocking LMTP client: one transaction, returns every reply line after DATA's end.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  [[nodiscard]] bool connected() const { return connected_; }

  std::string line() {
    while (true) {
      auto lf = buf_.find('\n');
      if (lf != std::string::npos) {
        std::string l = buf_.substr(0, lf + 1);
        buf_.erase(0, lf + 1);
        return l;
      }
      char tmp[4096];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  /// A reply (multi-line joined).
  std::string reply() {
    std::string all, l;
    do {
      l = line();
      all += l;
    } while (l.size() > 3 && l[3] == '-');
    return all;
  }
  void send(const std::string& s) { (void)!::write(fd_, s.data(), s.size()); }

  /// Deliver one message to `rcpts`; returns the per-recipient replies.
  std::vector<std::string> deliver(const std::vector<std::string>& rcpts, const std::string& message) {
    reply();  // greeting
    send("LHLO test\r\n");
    reply();
    send("MAIL FROM:<sender@example.net>\r\n");
    reply();
    for (const auto& r : rcpts) {
      send("RCPT TO:<" + r + ">\r\n");
      reply();
    }
    send("DATA\r\n");
    reply();
    std::string wire;
    std::size_t pos = 0;
    while (pos < message.size()) {
      auto lf = message.find('\n', pos);
      std::string l = message.substr(pos, lf - pos);
      wire += (l.rfind('.', 0) == 0 ? "." : "") + l + "\r\n";
      pos = lf == std::string::npos ? message.size() : lf + 1;
    }
    send(wire + ".\r\n");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < rcpts.size(); ++i) out.push_back(line());
    send("QUIT\r\n");
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string message(const std::string& envelope, const std::string& id = "<m1@example.net>", const std::string& extra = "") {
  return "Received: from 127.0.0.1 by h with POP3 (fetchmail-6.4.37) for x; now\n"
         "Delivered-To: office@isp.example\n" +
         (envelope.empty() ? std::string() : "X-Original-To: " + envelope + "\nDelivered-To: " + envelope + "\n") +
         "Received: from mx.example.net by mx.isp.example; Mon, 23 Nov 2026 10:00:00 +0000\n" + extra +
         "From: <sender@example.net>\nTo: <alice@example.com>\nMessage-ID: " + id + "\nSubject: s\n\nbody\n.dot line\n";
}

class GuardServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tempDir();
    mta_ = std::make_unique<FakeMta>(dir_ + "/mta.sock");
  }
  void TearDown() override {
    stopGuard();
    mta_.reset();
    std::filesystem::remove_all(dir_);
  }

  GuardConfig config() {
    GuardConfig c;
    c.socketPath = dir_ + "/guard.sock";
    c.mtaLmtp = true;
    c.mtaHost = dir_ + "/mta.sock";
    c.rule = {"Delivered-To", 1, 0};
    c.users.domains = {"example.com"};
    c.users.names = {{"alice", "alice"}, {"bob", "bob"}, {"carol", "carol"}};
    c.users.postmaster = "postmaster";
    c.markerId = "0123456789abcdef";
    c.journalPath = dir_ + "/guard.journal";
    c.mtaTimeout = std::chrono::seconds(20);
    return c;
  }

  void startGuard(GuardConfig c, std::function<FileSink*(boost::asio::io_context&)> files = {}) {
    io_ = std::make_unique<boost::asio::io_context>();
    FileSink* sink = files ? files(*io_) : nullptr;
    guard_ = std::make_unique<GuardServer>(*io_, std::move(c), [] { return fromUnix(1790000000); }, sink);
    auto s = guard_->start();
    ASSERT_TRUE(s.ok()) << s.error();
    work_ = std::thread([this] { io_->run(); });
  }
  void stopGuard() {
    if (!guard_) return;
    boost::asio::post(*io_, [this] { guard_->stop(); io_->stop(); });
    work_.join();
    guard_.reset();
    io_.reset();
  }
  GuardSnapshot snapshot() {
    GuardSnapshot s;
    std::promise<void> done;
    boost::asio::post(*io_, [&] {
      s = guard_->snapshot();
      done.set_value();
    });
    done.get_future().wait();
    return s;
  }
  std::vector<std::string> deliver(const std::vector<std::string>& rcpts, const std::string& msg) {
    Client c(dir_ + "/guard.sock");
    EXPECT_TRUE(c.connected());
    return c.deliver(rcpts, msg);
  }

  std::string dir_;
  std::unique_ptr<FakeMta> mta_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<GuardServer> guard_;
  std::thread work_;
};

TEST_F(GuardServerTest, MatchedMessageReachesTheUserOnceWithMarkerAndWithoutDeliveredTo) {
  startGuard(config());
  auto replies = deliver({"alice@example.com"}, message("alice@example.com"));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].substr(0, 3), "250") << replies[0];
  auto acc = mta_->accepted();
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].rcpt, "alice@example.com");
  EXPECT_EQ(acc[0].data.rfind("X-Dynmx-Guard: 0123456789abcdef\r\n", 0), 0u) << acc[0].data;
  EXPECT_EQ(acc[0].data.find("Delivered-To"), std::string::npos);
  EXPECT_NE(acc[0].data.find("\r\n.dot line\r\n"), std::string::npos) << "dot-stuffing both ways";
  EXPECT_EQ(snapshot().summary, "fetched 1: delivered 1, to postmaster 0, duplicates suppressed 0");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/guard.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(::stat((dir_ + "/guard.journal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

/// The journal's disk, stalled until the test opens it: every job waits at the gate on the
/// BackgroundFiles worker (never on the guard's loop).
struct StalledDisk : FileSink {
  explicit StalledDisk(boost::asio::io_context& io) : worker(io) {}
  void writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                   std::function<void(Status<>)> done) override {
    worker.writeAtomic(std::move(path), std::move(content), options, std::move(done));
  }
  void run(std::function<Status<>()> work, std::function<void(Status<>)> done) override {
    worker.run(
        [this, work = std::move(work)] {
          {
            std::unique_lock<std::mutex> lock(m);
            ++reached;
            cv.notify_all();
            cv.wait(lock, [this] { return open; });
          }
          return work();
        },
        std::move(done));
  }
  void waitReached() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [this] { return reached > 0; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(m);
    open = true;
    cv.notify_all();
  }
  std::mutex m;
  std::condition_variable cv;
  int reached = 0;
  bool open = false;
  BackgroundFiles worker;  // last: its thread ends (and runs what is queued) first
};

TEST_F(GuardServerTest, WithJournalSyncPerMessageThe250WaitsForTheDiskAndTheLoopDoesNot) {
  auto c = config();
  c.syncEachMessage = true;
  std::unique_ptr<StalledDisk> disk;
  startGuard(c, [&](boost::asio::io_context& io) {
    disk = std::make_unique<StalledDisk>(io);
    return disk.get();
  });
  auto replies = std::async(std::launch::async, [&] { return deliver({"alice@example.com"}, message("alice@example.com")); });
  disk->waitReached();  // the fdatasync of the journal line is under way, off the loop
  EXPECT_EQ(replies.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "fetchmail heard the answer before the journal line was on disk";
  EXPECT_EQ(snapshot().last24h.fetched, 1) << "the loop answers while the disk stalls";
  disk->release();
  const auto got = replies.get();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].substr(0, 3), "250") << got[0];
  EXPECT_EQ(snapshot().lastError, "");
  stopGuard();
}

TEST_F(GuardServerTest, NoEnvelopeGoesToThePostmasterOnlyWithTheReason) {
  startGuard(config());
  auto replies = deliver({"alice@example.com", "bob@example.com"}, message(""));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].substr(0, 3), "250");
  EXPECT_EQ(replies[1].substr(0, 3), "250");
  auto acc = mta_->accepted();
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].rcpt, "postmaster@example.com");
  EXPECT_NE(acc[0].data.find("X-Dynmx-Guard-Reason: no-envelope: "), std::string::npos);
  auto s = snapshot();
  EXPECT_EQ(s.last24h.noEnvelope, 1);
  EXPECT_EQ(s.summary, "fetched 1: delivered 0, to postmaster 1 (no envelope header 1), duplicates suppressed 0");
}

TEST_F(GuardServerTest, TemporaryRefusalAnswers451AndJournalsNoDelivery) {
  int calls = 0;
  mta_->onData([&](const std::string&, const std::string&) { return ++calls == 1 ? "451 4.3.0 try later" : "250 ok"; });
  startGuard(config());
  auto first = deliver({"alice@example.com"}, message("alice@example.com"));
  EXPECT_EQ(first[0].substr(0, 3), "451") << first[0];
  EXPECT_TRUE(mta_->accepted().empty());
  auto second = deliver({"alice@example.com"}, message("alice@example.com"));
  EXPECT_EQ(second[0].substr(0, 3), "250");
  EXPECT_EQ(mta_->accepted().size(), 1u);
  EXPECT_EQ(snapshot().summary, "fetched 2: delivered 1, to postmaster 0, duplicates suppressed 0, deferred 1");
}

TEST_F(GuardServerTest, PermanentRefusalOfAMappedUserGoesToThePostmasterWithTheReason) {
  mta_->onRcpt([](const std::string& r) { return r == "carol@example.com" ? "550 5.1.1 mailbox disabled" : "250 ok"; });
  startGuard(config());
  auto replies = deliver({"carol@example.com"}, message("carol@example.com"));
  EXPECT_EQ(replies[0].substr(0, 3), "250");
  auto acc = mta_->accepted();
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].rcpt, "postmaster@example.com");
  EXPECT_NE(acc[0].data.find("X-Dynmx-Guard-Reason: mta-refused: "), std::string::npos);
  EXPECT_NE(acc[0].data.find("carol: 550 5.1.1 mailbox disabled"), std::string::npos);
}

TEST_F(GuardServerTest, DeadMtaIsTemporary) {
  mta_.reset();  // nobody listens
  startGuard(config());
  auto replies = deliver({"alice@example.com"}, message("alice@example.com"));
  EXPECT_EQ(replies[0].substr(0, 3), "451") << replies[0];
  EXPECT_EQ(snapshot().last24h.deferred, 1);
}

TEST_F(GuardServerTest, TheJournalSuppressesTheSecondDeliveryAcrossARestart) {
  startGuard(config());
  EXPECT_EQ(deliver({"alice@example.com"}, message("alice@example.com"))[0].substr(0, 3), "250");
  stopGuard();
  startGuard(config());
  EXPECT_EQ(deliver({"alice@example.com"}, message("alice@example.com"))[0].substr(0, 3), "250");
  EXPECT_EQ(mta_->accepted().size(), 1u) << "delivered once, not twice";
  // Same Message-ID for another envelope recipient is another copy: delivered.
  EXPECT_EQ(deliver({"bob@example.com"}, message("bob@example.com"))[0].substr(0, 3), "250");
  // No Message-ID: the message hash decides.
  EXPECT_EQ(deliver({"bob@example.com"}, message("bob@example.com", "")), (std::vector<std::string>{"250 2.0.0 delivered\r\n"}));
  EXPECT_EQ(deliver({"bob@example.com"}, message("bob@example.com", ""))[0].substr(0, 3), "250");
  EXPECT_EQ(mta_->accepted().size(), 3u);
  EXPECT_EQ(snapshot().summary, "fetched 5: delivered 3, to postmaster 0, duplicates suppressed 2");
}

// One guard per journal and per socket: a second one (a `dynmx guard` beside `dynmx run`)
// is refused with the reason, and the first keeps serving on its socket. A socket file that
// nobody serves (left by a killed guard) is taken over.
TEST_F(GuardServerTest, ASecondGuardIsRefusedAndTheFirstKeepsServing) {
  startGuard(config());
  boost::asio::io_context otherIo;
  GuardServer sameJournal(otherIo, config(), [] { return fromUnix(1790000000); });
  auto refused = sameJournal.start();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("is in use by another guard"), std::string::npos) << refused.error();

  GuardConfig otherJournal = config();
  otherJournal.journalPath = dir_ + "/other.journal";
  GuardServer sameSocket(otherIo, otherJournal, [] { return fromUnix(1790000000); });
  refused = sameSocket.start();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("is served by another process"), std::string::npos) << refused.error();

  EXPECT_EQ(deliver({"alice@example.com"}, message("alice@example.com"))[0].substr(0, 3), "250")
      << "the first guard still owns its socket";
  EXPECT_TRUE(snapshot().listening);
  stopGuard();

  // A socket file nobody listens on: what a SIGKILLed guard leaves behind.
  const std::string path = dir_ + "/guard.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::exists(path));
  startGuard(config());
  EXPECT_EQ(deliver({"bob@example.com"}, message("bob@example.com"))[0].substr(0, 3), "250");
}

// The MTA offers PIPELINING (as Postfix and dovecot do): the envelope goes as one group,
// and fetchmail has its answer once the MTA has answered the message, not after the
// MTA's goodbye to our QUIT. The MTA holds that goodbye until the test has its answer (at
// most 60 s; the guard's own MTA time-out here is longer, so waiting for it would show).
TEST_F(GuardServerTest, FetchmailHasItsAnswerBeforeTheMtasGoodbye) {
  mta_->holdQuit();
  GuardConfig c = config();
  c.mtaTimeout = std::chrono::seconds(120);
  startGuard(c);
  auto replies = deliver({"alice@example.com"}, message("alice@example.com"));
  mta_->releaseQuit();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].substr(0, 3), "250") << replies[0];
  for (int i = 0; i < 3000 && mta_->quitsReleasedByTheTest() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(mta_->quitsReleasedByTheTest(), 1) << "the answer waited for the MTA's 221";
  EXPECT_EQ(mta_->pipelinedGroups(), 1) << "MAIL, RCPT and DATA in one group";
  EXPECT_EQ(mta_->accepted().size(), 1u);
}

// An MTA without PIPELINING gets one command at a time, and a refusal of one recipient
// still sends that copy to the postmaster.
TEST_F(GuardServerTest, WithoutPipeliningEveryCommandWaitsForItsReply) {
  mta_->offerPipelining(false);
  mta_->onRcpt([](const std::string& r) { return r.rfind("bob@", 0) == 0 ? "550 5.1.1 no bob" : "250 ok"; });
  startGuard(config());
  EXPECT_EQ(deliver({"alice@example.com"}, message("alice@example.com"))[0].substr(0, 3), "250");
  EXPECT_EQ(deliver({"bob@example.com"}, message("bob@example.com"))[0].substr(0, 3), "250");
  EXPECT_EQ(mta_->pipelinedGroups(), 0);
  auto acc = mta_->accepted();
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc[0].rcpt, "alice@example.com");
  EXPECT_EQ(acc[1].rcpt, "postmaster@example.com");
}

TEST_F(GuardServerTest, LoopsGoToThePostmasterThenAreDiscarded) {
  startGuard(config());
  deliver({"alice@example.com"}, message("alice@example.com", "<l1@x>", "X-Dynmx-Guard: 0123456789abcdef\n"));
  deliver({"alice@example.com"},
          message("alice@example.com", "<l2@x>", "X-Dynmx-Guard: 0123456789abcdef\nX-Dynmx-Guard: 0123456789abcdef\n"));
  std::string hops;
  for (int i = 0; i < 31; ++i) hops += "Received: from hop" + std::to_string(i) + "\n";
  deliver({"alice@example.com"}, message("alice@example.com", "<l3@x>", hops));
  // A marker with someone else's id is not ours: delivered normally.
  deliver({"alice@example.com"}, message("alice@example.com", "<l4@x>", "X-Dynmx-Guard: ffff\n"));
  auto acc = mta_->accepted();
  ASSERT_EQ(acc.size(), 3u);
  EXPECT_EQ(acc[0].rcpt, "postmaster@example.com");
  EXPECT_EQ(acc[1].rcpt, "postmaster@example.com");
  EXPECT_EQ(acc[2].rcpt, "alice@example.com");
  EXPECT_EQ(snapshot().summary,
            "fetched 4: delivered 1, to postmaster 2 (loop 2), duplicates suppressed 0, loops discarded 1");
}

TEST_F(GuardServerTest, ATornJournalLineIsSkippedAndTheRestKept) {
  startGuard(config());
  deliver({"alice@example.com"}, message("alice@example.com"));
  stopGuard();
  { std::ofstream(dir_ + "/guard.journal", std::ios::app) << "1 179000"; }  // a crash mid-append
  startGuard(config());
  deliver({"alice@example.com"}, message("alice@example.com"));
  EXPECT_EQ(mta_->accepted().size(), 1u);
}

}  // namespace
}  // namespace dynmx::guard
