// The supervisor against a scripted stand-in for fetchmail (a process fake, one poll per
// run): the poll loop on dynmx's own timer, crashes retried with back-off, a stop that lets
// the running poll end, drain until empty, bounded drain, and exit-code interpretation. The
// supervisor's timers (poll interval, back-off, stop grace, drain retry) run on ManualTime:
// the test moves the clock; it waits (bounded) only for the real child processes.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>

#include "dynmx/atomic_file.hpp"
#include "dynmx/fetchmail_supervisor.hpp"
#include "dynmx/time.hpp"

using namespace dynmx;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = "/tmp/dmxsup-XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  int lines(const std::string& name) const {
    std::ifstream in(path / name);
    int n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  }
};

// Run the loop until `pred` holds: the wait is for a real child process (its output, its
// exit), never for a supervisor timer; bounded so a hang fails instead of blocking.
template <typename Pred>
bool runUntil(boost::asio::io_context& io, Pred pred, std::chrono::seconds bound = 20s) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_one_for(50ms);
  }
  return true;
}

// Simulated time passes; whatever became due runs.
void advance(ManualTime& time, boost::asio::io_context& io, std::chrono::nanoseconds d) {
  time.advance(d);
  io.restart();
  io.poll();
}

fetchmail::SupervisorConfig config(const TempDir& d) {
  fetchmail::SupervisorConfig c;
  c.binary = std::string(DYNMX_TEST_DATA_DIR) + "/fake-fetchmail.sh";
  c.rcPath = (d.path / "rc").string();
  c.home = d.path.string();
  c.restartBackoffMin = 1s;
  c.restartBackoffMax = 4s;
  c.maxDrainPolls = 4;
  return c;
}

}  // namespace

TEST(FetchmailExit, MeaningsFollowTheManual) {
  EXPECT_FALSE(fetchmail::interpretExit(1).critical);
  EXPECT_EQ(fetchmail::interpretExit(1).name, "NOMAIL");
  EXPECT_TRUE(fetchmail::interpretExit(3).critical);
  EXPECT_EQ(fetchmail::interpretExit(3).name, "AUTHFAIL");
  EXPECT_TRUE(fetchmail::interpretExit(5).critical);
  EXPECT_TRUE(fetchmail::interpretExit(6).critical);
  EXPECT_TRUE(fetchmail::interpretExit(0).mailWaiting);
  EXPECT_EQ(fetchmail::interpretExit(10).name, "SMTP");
  EXPECT_EQ(fetchmail::interpretExit(99).name, "EXIT99");
}

TEST(FetchmailOutput, LinesAreClassified) {
  using K = fetchmail::LineEvent::Kind;
  auto m = fetchmail::parseOutputLine("fetchmail: 3 messages for office at 127.0.0.1 (1234 octets).");
  EXPECT_EQ(m.kind, K::MessagesFound);
  EXPECT_EQ(m.messages, 3);
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: 1 message (1 seen) for office at pop.isp.example (9 octets).")
                .messages, 1);
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: No mail for office at 127.0.0.1").kind, K::NoMail);
  // The poll's result is its exit code: -v's end-of-poll lines tell the supervisor nothing.
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: sleeping at Mon Nov 23 10:00:00 2026 for 300 seconds").kind,
            K::None);
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: Query status=3 (AUTHFAIL)").kind, K::None);
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: POP3> STAT").kind, K::None);
}

TEST(FetchmailOutput, RealFetchmailLinesAreClassified) {
  using K = fetchmail::LineEvent::Kind;
  // fetchmail 6.4 prints the count without its prefix (seen with and without -v).
  auto m = fetchmail::parseOutputLine("2 messages for office at 127.0.0.1 (195 octets).");
  EXPECT_EQ(m.kind, K::MessagesFound);
  EXPECT_EQ(m.messages, 2);
  auto r = fetchmail::parseOutputLine("fetchmail: SMTP error: 451 4.3.0 try later");
  EXPECT_EQ(r.kind, K::DeliveryRefused);
  EXPECT_EQ(r.text, "451 4.3.0 try later");
  EXPECT_EQ(fetchmail::parseOutputLine("fetchmail: LMTP error: 452 4.2.2 mailbox full").kind, K::DeliveryRefused);
  EXPECT_EQ(fetchmail::parseOutputLine("reading message office@127.0.0.1:1 of 2 (99 octets) not flushed").kind,
            K::None);
}

TEST(FetchmailOutput, RelayKeepsAddressesAndTheTraceBelowInfo) {
  using L = fetchmail::RelayedLine::Level;
  // The -v protocol trace and routine progress: debug only, verbatim.
  for (const char* line : {"fetchmail: SMTP> RCPT TO:<alice@example.com>", "fetchmail: POP3< +OK 2 195",
                           "fetchmail: IMAP> A0004 FETCH 1 RFC822.HEADER", "Trying to connect to 127.0.0.1/21110...connected.",
                           "reading message office@127.0.0.1:1 of 2 (99 octets)", " not flushed", " flushed",
                           "fetchmail: sleeping at Tue Dec  1 04:28:51 2026 for 3 seconds",
                           "fetchmail: awakened at Tue Dec  1 04:28:54 2026", "fetchmail: No mail for office at 127.0.0.1",
                           "fetchmail: Query status=2 (SOCKET)", "fetchmail: starting fetchmail 6.4.37 daemon",
                           "fetchmail: WARNING: Running as root is discouraged.",
                           "fetchmail: 6.4.37 querying 127.0.0.1 (protocol POP3) at Tue Dec  1 04:27:31 2026: poll started",
                           "fetchmail: normal termination, status 0", "fetchmail: Connection errors for this poll:",
                           "name 0: connection to 127.0.0.1:21110 [127.0.0.1/21110] failed: Connection refused.",
                           "#*", "fetchmail: terminated with signal 15"}) {
    auto r = fetchmail::relayLine(line, true);
    EXPECT_EQ(r.level, L::Debug) << line;
    EXPECT_EQ(r.text, line);
  }
  // What an admin must see: at info/warn, with every address's local part hidden.
  auto e = fetchmail::relayLine("fetchmail: SMTP error: 550 5.1.1 <alice@example.com>: Recipient address rejected", true);
  EXPECT_EQ(e.level, L::Warn);
  EXPECT_EQ(e.text, "fetchmail: SMTP error: 550 5.1.1 <*@example.com>: Recipient address rejected");
  auto c = fetchmail::relayLine("POP3 connection to 127.0.0.1 failed: Connection refused", true);
  EXPECT_EQ(c.level, L::Warn);
  auto n = fetchmail::relayLine("2 messages for office at 127.0.0.1 (195 octets).", false);
  EXPECT_EQ(n.level, L::Info);
  EXPECT_EQ(n.text, "2 messages for office at 127.0.0.1 (195 octets).");
  EXPECT_EQ(fetchmail::redactAddresses("to Bob.Smith+x@Mail.Example.COM and carol@example.com."),
            "to *@Mail.Example.COM and *@example.com.");
}

TEST(FetchmailSpec, OnePollPerRunWithoutTheTraceUnlessAsked) {
  fetchmail::SupervisorConfig c;
  c.binary = "/usr/bin/fetchmail";
  c.rcPath = "/var/lib/dynmx/fetchmailrc";
  c.home = "/var/lib/dynmx/fetchmail";
  c.userName = "fetchmail";
  auto p = fetchmail::fetchmailSpec(c);
  // `-d 0`: one poll, whatever the rc's `set daemon` says; no -v (its trace names recipients).
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/usr/bin/fetchmail", "-f", "/var/lib/dynmx/fetchmailrc", "-N",
                                              "--nosyslog", "-d", "0"}));
  EXPECT_EQ(p.timeout, c.pollTimeout);
  EXPECT_EQ(p.env.at("FETCHMAILHOME"), "/var/lib/dynmx/fetchmail");
  EXPECT_EQ(p.env.at("FETCHMAILUSER"), "fetchmail");
  c.verbose = true;  // log_level = debug
  EXPECT_EQ(fetchmail::fetchmailSpec(c).argv.back(), "-v");
  auto check = fetchmail::fetchmailSpec(c, true);
  EXPECT_EQ(check.argv.back(), "-c");
}

TEST(Supervisor, PollsOnItsOwnTimerEveryPollInterval) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "1\n0\n1\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  auto c = config(d);
  c.pollInterval = 5min;
  int changes = 0;
  fetchmail::Supervisor sup(io, *launcher, c, {{}, [&] { ++changes; }});
  sup.start();
  EXPECT_TRUE(sup.info().wanted);
  EXPECT_GT(sup.info().pid, 0) << "the first poll runs at once";
  EXPECT_TRUE(sup.info().running) << "running from the first poll on (multidrop active needs it)";
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls == 1; }));
  EXPECT_TRUE(sup.info().running);
  EXPECT_EQ(sup.info().pid, 0) << "no fetchmail between polls";
  EXPECT_EQ(sup.info().lastExit, 1);
  EXPECT_EQ(sup.info().messagesWaiting, 0);
  sup.start();  // asked again: the loop runs already, no extra poll
  const int changesBefore = changes;
  advance(time, io, 5min - 1ms);
  EXPECT_EQ(d.lines("calls"), 1) << "polled before poll_interval";
  advance(time, io, 1ms);
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls == 2; }));
  EXPECT_EQ(changes - changesBefore, 2) << "a poll changes status twice: its start (pid) and its end; the "
                                           "coordinator re-publishes on each";
  EXPECT_EQ(sup.info().lastExit, 0);
  EXPECT_EQ(sup.info().messagesWaiting, 2);
  // pollNow: the next poll at once, not after the interval.
  sup.pollNow();
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls == 3; }));
  EXPECT_EQ(sup.info().lastExit, 1);
  EXPECT_EQ(sup.info().lastError, "");
  EXPECT_EQ(sup.info().restarts, 0);
  EXPECT_EQ(sup.info().pollErrors, 0);
  bool stopped = false;
  sup.stop([&] { stopped = true; });
  ASSERT_TRUE(runUntil(io, [&] { return stopped; }));
  EXPECT_FALSE(sup.info().running);
  advance(time, io, 1h);
  EXPECT_EQ(d.lines("calls"), 3) << "polled after a stop";
}

TEST(Supervisor, RetriesACrashingFetchmailWithBackoff) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "segv\nsegv\nsegv\nsegv\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  auto c = config(d);
  c.pollInterval = 5min;
  fetchmail::Supervisor sup(io, *launcher, c, {});
  sup.start();
  // Back-off 1 s, 2 s, 4 s, then capped at 4 s: not a moment earlier, and at once when due.
  int crashes = 0;
  for (auto backoff : {1s, 2s, 4s, 4s}) {
    ASSERT_TRUE(runUntil(io, [&] { return sup.info().restarts == crashes + 1; })) << "crash " << crashes + 1;
    ++crashes;
    EXPECT_FALSE(sup.info().running);
    EXPECT_EQ(sup.info().lastError, "fetchmail was killed by signal 11");
    advance(time, io, backoff - 1ms);
    EXPECT_EQ(d.lines("calls"), crashes) << "polled again before the " << backoff.count() << " s back-off";
    sup.start();  // the coordinator asking again must not cut the back-off short
    EXPECT_EQ(d.lines("calls"), crashes);
    advance(time, io, 1ms);
    EXPECT_GT(sup.info().pid, 0) << "not polled when the " << backoff.count() << " s back-off ended";
    EXPECT_TRUE(runUntil(io, [&] { return d.lines("calls") == crashes + 1; }));
  }
  // It stops crashing: running again, and the failure is over.
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls == 5; }));
  EXPECT_TRUE(sup.info().running);
  EXPECT_EQ(sup.info().restarts, 4);
  EXPECT_EQ(sup.info().lastError, "");
  EXPECT_EQ(sup.info().lastExit, 1);
  // The next poll comes after poll_interval, not after a back-off.
  advance(time, io, 4s);
  EXPECT_EQ(d.lines("calls"), 5);
  bool stopped = false;
  sup.stop([&] { stopped = true; });
  ASSERT_TRUE(runUntil(io, [&] { return stopped; }));
  advance(time, io, 1h);
  EXPECT_EQ(sup.info().restarts, 4) << "no retry after an intentional stop";
  EXPECT_EQ(d.lines("calls"), 5);
}

TEST(Supervisor, AStopLetsTheRunningPollEndThenEndsIt) {
  // fetchmail killed mid-session fetches again what it had delivered: a stop waits for the
  // poll, for stopGrace, and only then sends SIGTERM.
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "hang\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  auto c = config(d);
  c.stopGrace = 30s;
  fetchmail::Supervisor sup(io, *launcher, c, {});
  sup.start();
  ASSERT_GT(sup.info().pid, 0);
  ASSERT_TRUE(runUntil(io, [&] { return d.lines("calls") == 1; }));
  bool stopped = false;
  sup.stop([&] { stopped = true; });
  advance(time, io, 30s - 1ms);
  io.restart();
  io.run_for(200ms);  // real time for a child that would have been signalled
  EXPECT_FALSE(stopped) << "the running poll was cut short";
  EXPECT_GT(sup.info().pid, 0);
  advance(time, io, 1ms);
  ASSERT_TRUE(runUntil(io, [&] { return stopped; }));
  EXPECT_EQ(sup.info().pid, 0);
  EXPECT_EQ(sup.info().lastError, "poll stopped by dynmx");
  EXPECT_EQ(sup.info().restarts, 0) << "a poll we stopped is no crash";
  EXPECT_FALSE(sup.info().running);
}

TEST(Supervisor, DrainPollsUntilTheBoxIsEmpty) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "1\n0\n0\n1\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, config(d), {});
  sup.start();
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls >= 1; }));
  std::optional<bool> drained;
  sup.drain([&](bool ok, const std::string&) { drained = ok; });
  ASSERT_TRUE(runUntil(io, [&] { return drained.has_value(); }));
  EXPECT_TRUE(*drained);
  EXPECT_FALSE(sup.info().running);  // the loop ended before the drain's polls
  EXPECT_EQ(d.lines("calls"), 1 + 3);  // the loop's poll + three drain polls
  EXPECT_EQ(sup.info().messagesWaiting, 0);
  advance(time, io, 1h);
  EXPECT_EQ(d.lines("calls"), 4) << "the loop polled after the drain";
}

TEST(Supervisor, DrainIsBoundedAndReportsWhy) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "0\n0\n0\n0\n0\n0\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, config(d), {});
  std::optional<bool> drained;
  std::string detail;
  sup.drain([&](bool ok, const std::string& why) {
    drained = ok;
    detail = why;
  });
  ASSERT_TRUE(runUntil(io, [&] { return drained.has_value(); }));
  EXPECT_FALSE(*drained);
  EXPECT_NE(detail.find("4 polls"), std::string::npos) << detail;
}

TEST(Supervisor, AuthenticationFailureIsReported) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  d.write("codes", "3\n3\n3\n3\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, config(d), {});
  std::optional<bool> drained;
  sup.drain([&](bool ok, const std::string&) { drained = ok; });
  // After a failed poll the drain waits the back-off (1 s) before the next one.
  for (int poll = 1; poll < 4; ++poll) {
    ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls == poll; })) << "poll " << poll;
    advance(time, io, 999ms);
    EXPECT_EQ(d.lines("calls"), poll) << "polled again inside the back-off";
    advance(time, io, 1ms);
  }
  ASSERT_TRUE(runUntil(io, [&] { return drained.has_value(); }));
  EXPECT_EQ(d.lines("calls"), 4);
  EXPECT_FALSE(*drained);
  EXPECT_EQ(sup.info().lastExit, 3);
  EXPECT_NE(sup.info().lastError.find("AUTHFAIL"), std::string::npos);
}

TEST(Supervisor, MissingBinaryIsAnErrorNotACrashLoopOfTheDaemon) {
  ManualTime time(fromUnix(1'800'000'000));
  TempDir d;
  auto c = config(d);
  c.binary = "/nonexistent/fetchmail";
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, c, {});
  sup.start();
  EXPECT_EQ(sup.info().restarts, 1) << "a failed launch counts as one crash";
  advance(time, io, 999ms);
  EXPECT_EQ(sup.info().restarts, 1) << "not retried inside the back-off (no crash loop)";
  advance(time, io, 1ms);
  EXPECT_EQ(sup.info().restarts, 2);
  EXPECT_FALSE(sup.info().running);
  EXPECT_EQ(sup.info().lastExit, 127);
  EXPECT_NE(sup.info().lastError.find("No such file"), std::string::npos) << sup.info().lastError;
  sup.stop();
}

TEST(Supervisor, AMailServerThatRefusesEveryMessageIsADeliveryError) {
  // fetchmail exits 0 (messages were retrieved) although the local MTA answered 451 to each.
  TempDir d;
  d.write("codes", "refused\nrefused\nrefused\nrefused\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, config(d), {});
  std::optional<bool> drained;
  std::string detail;
  sup.drain([&](bool ok, const std::string& why) {
    drained = ok;
    detail = why;
  });
  ASSERT_TRUE(runUntil(io, [&] { return drained.has_value(); }));
  EXPECT_FALSE(*drained);
  EXPECT_EQ(sup.info().lastExit, 10);
  EXPECT_EQ(sup.info().lastError,
            "SMTP: the local mail server refused the fetched mail (451 4.3.0 <*@example.com>: try later); it stays at the "
            "ISP");
  EXPECT_EQ(sup.info().pollErrors, 4);
  EXPECT_NE(detail.find("last: SMTP"), std::string::npos) << detail;
}

TEST(Supervisor, RefusalsInTheLoopAreAPollError) {
  TempDir d;
  d.write("codes", "refused\n");
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  fetchmail::Supervisor sup(io, *launcher, config(d), {});
  sup.start();
  ASSERT_TRUE(runUntil(io, [&] { return sup.info().polls >= 1; }));
  EXPECT_EQ(sup.info().pollErrors, 1);
  EXPECT_EQ(sup.info().lastExit, 10);
  EXPECT_EQ(sup.info().lastError,
            "SMTP: the local mail server refused the fetched mail (451 4.3.0 <*@example.com>: try later); it stays at "
            "the ISP");
  EXPECT_EQ(sup.info().messagesWaiting, 2);
  EXPECT_TRUE(sup.info().running) << "fetchmail ran; the local MTA refused: no crash";
  EXPECT_EQ(sup.info().restarts, 0);
  bool stopped = false;
  sup.stop([&] { stopped = true; });
  ASSERT_TRUE(runUntil(io, [&] { return stopped; }));
}
