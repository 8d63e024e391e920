// The multidrop proof: real dovecot holds the ISP's domain box, the real fetchmail runs the
// rc that dynmx renders and delivers to dynmx's envelope guard (docs/guard.md), which
// forwards to a sink that records where every message went.
//
// The ISP writes its own `Delivered-To: office@isp.example` first, then the envelope
// recipient as `X-Original-To:` and `Delivered-To:`, one copy per recipient. The traps
// (Bcc, list mail, unknown users, foreign domains, mixed case, no envelope header, forged
// envelope headers above and below the ISP's, two envelope headers in one copy, 8-bit, a
// mail loop) are where a wrong envelope reading sends mail to the wrong person. Further
// tests: a 25 MB message, the MTA refusing temporarily, the MTA refusing one of three
// recipients, and the guard killed between the MTA's answer and fetchmail's delete.
//
// Without the guard (the old direct path, kept for the benchmark) fetchmail misroutes T12,
// T13 and T15: the negative control pins that, so the guarded proof is known to be able to fail.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/guard_server.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/process.hpp"
#include "fake_mta.hpp"
#include "testbed/dovecot.hpp"
#include "testbed/fetchmail_run.hpp"
#include "testbed/mail_sink.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;

constexpr const char* kIspBox = "office@isp.example";
constexpr const char* kIspUser = "office";
constexpr const char* kIspPassword = "isp-Pa55 \"q\" \\x";  // quotes and backslashes go through renderRc
constexpr const char* kLocalDomain = "example.com";
constexpr const char* kMarker = "feedfacefeedface";  // the guard's hop marker id in these tests

/// One message in the ISP box (one copy per envelope recipient) and where it must end up.
struct BoxMessage {
  std::string testId;
  std::string trap;           ///< what it tests
  std::string envelopeRcpt;   ///< the ISP's envelope headers; empty = none at all
  std::string to;
  std::string cc;
  std::set<std::string> expected;  ///< local users (postmaster for anything unmapped)
  /// Non-empty: what fetchmail alone (no guard) does instead, pinned for the negative control.
  std::set<std::string> unguarded = {};
  std::string ispExtra = {};     ///< more fields inside the ISP's block, above its envelope headers
  std::string senderExtra = {};  ///< fields the sender wrote (below the ISP's Received)
  std::string body = {};         ///< default: "Test message <id>."
};

std::string manyReceived(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "Received: from relay" + std::to_string(i) + ".example.net by relay" + std::to_string(i + 1) + ".example.net\n";
  return s;
}

const std::string k8bitBody = "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6" "ln, \xe2\x82\xac 5 \xff\xfe raw Latin-1: \xe4\xf6\xfc\n";

const std::vector<BoxMessage>& boxMessages() {
  static const std::vector<BoxMessage> box = {
      {"T01", "plain mail", "alice@example.com", "alice@example.com", "", {"alice"}},
      {"T02a", "Bcc: To names bob, envelope is carol", "carol@example.com", "bob@example.com", "", {"carol"}},
      {"T02b", "the To recipient's own copy of T02", "bob@example.com", "bob@example.com", "", {"bob"}},
      {"T03", "list mail: To is the list", "alice@example.com", "staff@lists.example.org", "", {"alice"}},
      {"T04a", "two local recipients: alice's copy", "alice@example.com", "alice@example.com", "bob@example.com", {"alice"}},
      {"T04b", "two local recipients: bob's copy", "bob@example.com", "alice@example.com", "bob@example.com", {"bob"}},
      {"T05", "unknown user at our domain", "dave@example.com", "dave@example.com", "", {"postmaster"}},
      {"T06", "foreign-domain envelope recipient", "eve@example.net", "eve@example.net", "carol@example.com", {"postmaster"}},
      {"T07", "mixed-case address", "Alice@Example.COM", "Alice@Example.COM", "", {"alice"}},
      {"T08", "no envelope header, To/Cc not ours: postmaster", "", "staff@lists.example.org", "", {"postmaster"}},
      {"T09", "Cc only", "carol@example.com", "someone@example.net", "carol@example.com", {"carol"}},
      {"T10", "mail for the postmaster", "postmaster@example.com", "postmaster@example.com", "", {"postmaster"}},
      {"T11", "list mail with a local user in Cc, envelope bob", "bob@example.com", "staff@lists.example.org", "carol@example.com", {"bob"}},
      // fetchmail alone falls back to To/Cc without an envelope header (man fetchmail,
      // "Header versus Envelope addresses"); no rc option turns that off. The guard does.
      {"T12", "no envelope header, local users in To/Cc", "", "alice@example.com", "bob@example.com", {"postmaster"},
       {"alice", "bob"}},
      {"T13", "forged envelope headers above the ISP's", "bob@example.com", "bob@example.com", "", {"postmaster"},
       {"alice"}, "X-Original-To: alice@example.com\nDelivered-To: alice@example.com\n"},
      {"T14", "forged envelope headers below the ISP's", "bob@example.com", "bob@example.com", "", {"bob"}, {}, "",
       "Delivered-To: alice@example.com\nX-Original-To: alice@example.com\n"},
      {"T15", "no envelope header, forged ones below", "", "bob@example.com", "", {"postmaster"}, {"alice"}, "",
       "Delivered-To: alice@example.com\nX-Original-To: alice@example.com\n"},
      {"T16", "two envelope headers for one copy", "alice@example.com", "alice@example.com", "carol@example.com",
       {"postmaster"}, {"carol"}, "X-Original-To: carol@example.com\nDelivered-To: carol@example.com\n"},
      {"T17", "recipient outside our domains, local user in To", "mallory@example.org", "alice@example.com", "",
       {"postmaster"}},
      {"T18", "8-bit headers and body", "carol@example.com", "carol@example.com", "", {"carol"}, {}, "",
       "X-8bit: \xc3\xa4\xc3\xb6\xc3\xbc\n", k8bitBody},
      {"T19", "mail loop: our own hop marker", "alice@example.com", "alice@example.com", "", {"postmaster"}, {"alice"},
       "", std::string("X-Dynmx-Guard: ") + kMarker + "\n"},
      {"T20", "mail loop: 40 Received headers", "bob@example.com", "bob@example.com", "", {"postmaster"}, {"bob"}, "",
       manyReceived(40)},
  };
  return box;
}

/// The message as the ISP stored it: its own Delivered-To on top, then the envelope headers.
std::string rawMessage(const BoxMessage& m) {
  std::ostringstream o;
  o << "Return-Path: <sender@example.net>\n"
    << "Delivered-To: " << kIspBox << "\n"
    << m.ispExtra;
  if (!m.envelopeRcpt.empty())
    o << "X-Original-To: " << m.envelopeRcpt << "\n"
      << "Delivered-To: " << m.envelopeRcpt << "\n";
  o << "Received: from mx.example.net (mx.example.net [198.51.100.7])\n"
    << "\tby mx.isp.example (Postfix) with ESMTP id " << m.testId << "; Mon, 23 Nov 2026 10:00:00 +0000\n"
    << m.senderExtra
    << "From: Sender <sender@example.net>\n"
    << "To: " << m.to << "\n";
  if (!m.cc.empty()) o << "Cc: " << m.cc << "\n";
  o << "Subject: " << m.trap << "\n"
    << "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
    << "Message-ID: <" << m.testId << "@example.net>\n"
    << "X-Test-Id: " << m.testId << "\n"
    << "\n"
    << (m.body.empty() ? "Test message " + m.testId + ".\n" : m.body);
  return o.str();
}

/// A local user for an address at our domain; anything else stays whole, so a leak to a
/// foreign address (or an unmapped case variant) shows up as a wrong recipient.
std::string localUser(const std::string& address) {
  const std::string suffix = std::string("@") + kLocalDomain;
  if (address.size() > suffix.size() && address.compare(address.size() - suffix.size(), suffix.size(), suffix) == 0)
    return address.substr(0, address.size() - suffix.size());
  return address;
}

/// test id -> every local recipient it reached (a multiset, so duplicates show).
std::map<std::string, std::vector<std::string>> deliveryMap(const std::vector<SinkMessage>& delivered) {
  std::map<std::string, std::vector<std::string>> got;
  for (const auto& m : delivered) {
    auto& list = got[m.testId.empty() ? "(no X-Test-Id)" : m.testId];
    for (const auto& r : m.recipients) list.push_back(localUser(r));
  }
  for (auto& [id, list] : got) std::sort(list.begin(), list.end());
  return got;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s.empty() ? "(nothing)" : s;
}

/// What a run delivers for `m`: with the guard the intended recipients; without it what
/// fetchmail alone does.
std::vector<std::string> want(const BoxMessage& m, bool guarded) {
  const auto& s = guarded || m.unguarded.empty() ? m.expected : m.unguarded;
  return {s.begin(), s.end()};
}

/// Print the delivery report (test id -> recipients) and return how many messages did not
/// reach exactly `want(m, guarded)`.
int report(const std::string& title, const std::map<std::string, std::vector<std::string>>& got, bool guarded) {
  int wrong = 0;
  std::cout << "== delivery report: " << title << " ==\n";
  for (const auto& m : boxMessages()) {
    std::vector<std::string> w = want(m, guarded);
    auto it = got.find(m.testId);
    std::vector<std::string> have = it == got.end() ? std::vector<std::string>{} : it->second;
    bool ok = have == w;
    if (!ok) ++wrong;
    std::cout << "  " << m.testId << "  " << (ok ? "ok       " : "MISROUTED") << "  -> " << join(have)
              << (ok ? "" : "   (want " + join(w) + ")") << "   [" << m.trap << "]\n";
  }
  for (const auto& [id, list] : got) {
    bool known = std::any_of(boxMessages().begin(), boxMessages().end(), [&](const auto& m) { return m.testId == id; });
    if (!known) {
      ++wrong;
      std::cout << "  " << id << "  UNEXPECTED -> " << join(list) << "\n";
    }
  }
  const int n = static_cast<int>(boxMessages().size());
  std::cout << "== " << n - std::min(n, wrong) << " of " << n << " as expected, " << wrong << " not ==\n";
  return wrong;
}

/// The admin's policy for this box, as `dynmx check` would have accepted it.
Policy multidropPolicy(MailProtocol proto, int ispPort, DeliveryMethod method, const HostPort& mta, int envelopeSkip,
                       const std::string& home, const std::string& stateDir, bool guarded) {
  Policy p;
  p.mail.mode = MailPolicy::Multidrop;
  p.mail.domains = {kLocalDomain};
  p.isp.server = "127.0.0.1";
  p.isp.protocol = proto;
  p.isp.port = ispPort;
  p.isp.tls = TlsMode::None;  // the loopback dovecot has no TLS (renders sslproto "")
  p.isp.certificateCheck = false;
  p.isp.user = kIspUser;
  p.isp.timeout = std::chrono::seconds(30);
  p.isp.keep = false;
  p.isp.fetchAll = true;
  p.envelope.header = "Delivered-To";
  p.envelope.skip = envelopeSkip;  // 1 skips the ISP's own Delivered-To
  p.users.map = {{"alice", "alice"}, {"bob", "bob"}, {"carol", "carol"}};
  p.users.postmaster = "postmaster";
  p.delivery.method = method;
  p.delivery.target = mta;
  p.delivery.guard = guarded;
  p.daemon.stateDir = stateDir;
  p.guard.socket = stateDir + "/g.sock";
  p.fetchmail.home = home;
  p.fetchmail.rcPath = home + "/fetchmailrc";
  p.fetchmail.pollInterval = std::chrono::seconds(300);
  return p;
}

/// The envelope guard in this process, on its own io_context thread.
class InProcessGuard {
 public:
  explicit InProcessGuard(const Policy& policy) {
    auto config = guard::configFromPolicy(policy);
    config.markerId = kMarker;
    server_ = std::make_unique<guard::GuardServer>(io_, config, [] {
      return std::chrono::time_point_cast<Duration>(Clock::now());
    });
    started_ = server_->start();
    if (started_.ok()) thread_ = std::thread([this] { io_.run(); });
  }
  ~InProcessGuard() {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] {
        server_->stop();
        io_.stop();
      });
      thread_.join();
    }
  }
  InProcessGuard(const InProcessGuard&) = delete;
  InProcessGuard& operator=(const InProcessGuard&) = delete;
  [[nodiscard]] const Status<>& started() const { return started_; }
  /// The guard's 24-hour counts (read on its own thread).
  guard::GuardSnapshot snapshot() {
    std::promise<guard::GuardSnapshot> p;
    boost::asio::post(io_, [&] { p.set_value(server_->snapshot()); });
    return p.get_future().get();
  }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<guard::GuardServer> server_;
  Status<> started_ = Ok{};
  std::thread thread_;
};

/// A dovecot box seeded with `messages`, and the paths of one run.
struct Bed {
  TempDir dir{"md"};
  std::unique_ptr<Dovecot> isp;
  std::string home;
  std::string state;
};

void startBed(Bed& bed, const std::vector<std::string>& rawMessages) {
  auto started = Dovecot::start(bed.dir);
  ASSERT_TRUE(started.ok()) << started.error();
  bed.isp = std::move(*started);
  ASSERT_TRUE(bed.isp->addUser(kIspUser, kIspPassword).ok());
  for (const auto& m : rawMessages) ASSERT_TRUE(bed.isp->deliver(kIspUser, m).ok());
  ASSERT_EQ(bed.isp->count(kIspUser), rawMessages.size());
  bed.home = bed.dir.subdir("fm", 0700);
  bed.state = bed.dir.subdir("st", 0700);
}

/// Render and write the rc for `policy`; returns it.
std::string writeRc(const Policy& policy, const std::string& home) {
  fetchmail::RenderInput input;
  input.password = kIspPassword;
  input.idFile = home + "/fetchmail.ids";
  input.pidFile = home + "/fetchmail.pid";
  auto rc = fetchmail::renderRc(policy, input);
  EXPECT_TRUE(rc.ok()) << rc.error();
  if (!rc.ok()) return "";
  writeTextFile(policy.fetchmail.rcPath, *rc, 0600);  // fetchmail refuses anything wider
  return *rc;
}

/// A box seeded with every trap, a sink, and one fetchmail run with the rendered rc.
struct RunResult {
  std::map<std::string, std::vector<std::string>> got;
  std::vector<SinkMessage> delivered;
  std::size_t leftInBox = 0;
  int fetchmailExit = -1;
  std::string rc;
  guard::GuardSnapshot guard;
};

void runMultidrop(MailProtocol proto, DeliveryMethod method, const std::string& envelopeHeader, int envelopeSkip,
                  bool guarded, RunResult& out) {
  Bed bed;
  std::vector<std::string> raw;
  for (const auto& m : boxMessages()) raw.push_back(rawMessage(m));
  startBed(bed, raw);
  if (::testing::Test::HasFatalFailure()) return;

  MailSink sink;
  Policy policy = multidropPolicy(proto, proto == MailProtocol::Pop3 ? bed.isp->pop3Port() : bed.isp->imapPort(), method,
                                  {"127.0.0.1", sink.port()}, envelopeSkip, bed.home, bed.state, guarded);
  policy.envelope.header = envelopeHeader;
  std::unique_ptr<InProcessGuard> guard;
  if (guarded) {
    guard = std::make_unique<InProcessGuard>(policy);
    ASSERT_TRUE(guard->started().ok()) << guard->started().error();
  }
  out.rc = writeRc(policy, bed.home);
  ASSERT_FALSE(out.rc.empty());

  auto run = runFetchmailOnce(policy.fetchmail.rcPath, bed.home, 180s);
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_FALSE(run->timedOut);
  out.fetchmailExit = run->exitCode;
  EXPECT_EQ(run->exitCode, 0) << "fetchmail output:\n" << run->output << "\nrc:\n" << out.rc;
  EXPECT_EQ(run->output.find(kIspPassword), std::string::npos) << "the password leaked into fetchmail's output";

  // fetchmail has exited, so every SMTP/LMTP transaction is complete; wait bounded anyway.
  std::size_t copies = boxMessages().size();
  sink.waitFor([&](const auto& msgs) { return msgs.size() >= copies; }, 10s);
  out.delivered = sink.messages();
  out.got = deliveryMap(out.delivered);
  out.leftInBox = bed.isp->count(kIspUser);
  if (guard) out.guard = guard->snapshot();
  if (::testing::Test::HasFailure()) std::cerr << "fetchmail output:\n" << run->output << "\nrc:\n" << out.rc;
}

struct Variant {
  MailProtocol proto;
  DeliveryMethod method;
  const char* envelopeHeader;
  int envelopeSkip;
  const char* name;
};

/// gtest prints the variant by name instead of as bytes.
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class Multidrop : public ::testing::TestWithParam<Variant> {};

TEST_P(Multidrop, EveryMessageReachesExactlyItsRecipientsThroughTheGuard) {
  RunResult r;
  const Variant& v = GetParam();
  runMultidrop(v.proto, v.method, v.envelopeHeader, v.envelopeSkip, true, r);
  if (HasFatalFailure()) return;
  const std::string envelopeLine =
      "envelope " + std::to_string(v.envelopeSkip) + " \"" + std::string(v.envelopeHeader) + "\"";
  EXPECT_NE(r.rc.find(envelopeLine), std::string::npos) << r.rc;
  EXPECT_NE(r.rc.find("lmtp smtphost "), std::string::npos) << "fetchmail must deliver to the guard:\n" << r.rc;
  EXPECT_EQ(r.rc.find("dropdelivered"), std::string::npos) << r.rc;

  int wrong = report(std::string(v.name) + " via the guard, " + envelopeLine, r.got, true);
  EXPECT_EQ(wrong, 0);
  for (const auto& m : boxMessages())
    EXPECT_EQ(r.got[m.testId], want(m, true)) << m.testId << ": " << m.trap;  // set equality, no duplicates, nothing lost
  EXPECT_EQ(r.got.size(), boxMessages().size()) << "a message without a known X-Test-Id arrived";
  // Safety: nothing left our domain (no foreign address, no address fetchmail made up).
  for (const auto& [id, list] : r.got)
    for (const auto& user : list) EXPECT_EQ(user.find('@'), std::string::npos) << id << " went to " << user;
  EXPECT_EQ(r.leftInBox, 0u) << "no keep: the ISP box must be empty afterwards";

  // What reached the mailboxes: our marker, a reason on every postmaster copy the guard
  // diverted, no Delivered-To (Postfix would take it for a loop), 8-bit bytes untouched.
  for (const auto& d : r.delivered) {
    EXPECT_EQ(headerValue(d.data, "X-Dynmx-Guard"), kMarker) << d.testId;
    EXPECT_EQ(d.data.find("\r\nDelivered-To:"), std::string::npos) << d.testId;
  }
  auto reasonOf = [&](const std::string& id) {
    for (const auto& d : r.delivered)
      if (d.testId == id) return headerValue(d.data, "X-Dynmx-Guard-Reason");
    return std::string("(not delivered)");
  };
  EXPECT_EQ(reasonOf("T12").rfind("no-envelope: ", 0), 0u) << reasonOf("T12");
  EXPECT_EQ(reasonOf("T15").rfind("no-envelope: ", 0), 0u) << reasonOf("T15");
  EXPECT_EQ(reasonOf("T13").rfind("ambiguous-envelope: ", 0), 0u) << reasonOf("T13");
  EXPECT_EQ(reasonOf("T16").rfind("ambiguous-envelope: ", 0), 0u) << reasonOf("T16");
  EXPECT_EQ(reasonOf("T19").rfind("loop: ", 0), 0u) << reasonOf("T19");
  EXPECT_EQ(reasonOf("T20").rfind("loop: ", 0), 0u) << reasonOf("T20");
  EXPECT_EQ(reasonOf("T05"), "") << "an unknown user goes to the postmaster as fetchmail sends it, without a guard reason";
  for (const auto& d : r.delivered)
    if (d.testId == "T18") {
      EXPECT_NE(d.data.find(k8bitBody.substr(0, k8bitBody.size() - 1)), std::string::npos);
    }

  // The accounting: every message once, by outcome and reason.
  const auto& g = r.guard;
  EXPECT_EQ(g.last24h.fetched, static_cast<long>(boxMessages().size())) << g.summary;
  EXPECT_EQ(g.last24h.duplicates, 0) << g.summary;
  EXPECT_EQ(g.last24h.postmasterReasons.at("no-envelope"), 3) << g.summary;  // T08 T12 T15
  EXPECT_EQ(g.last24h.postmasterReasons.at("ambiguous-envelope"), 2) << g.summary;
  EXPECT_EQ(g.last24h.postmasterReasons.at("loop"), 2) << g.summary;
  std::cout << "guard: " << g.summary << "\n" << (g.warning.empty() ? "" : "guard WARNING: " + g.warning + "\n");
  EXPECT_FALSE(g.warning.empty()) << "3 of 24 without envelope header is a rise";
}

INSTANTIATE_TEST_SUITE_P(Real, Multidrop,
                         ::testing::Values(
                             Variant{MailProtocol::Pop3, DeliveryMethod::Smtp, "Delivered-To", 1, "pop3-smtp"},
                             Variant{MailProtocol::Imap, DeliveryMethod::Smtp, "Delivered-To", 1, "imap-smtp"},
                             Variant{MailProtocol::Pop3, DeliveryMethod::Lmtp, "Delivered-To", 1, "pop3-lmtp"},
                             Variant{MailProtocol::Imap, DeliveryMethod::Smtp, "X-Original-To", 0, "imap-smtp-xoriginalto"}),
                         [](const auto& p) {
                           std::string n = p.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The negative controls. Without the guard, fetchmail alone misroutes the traps the guard
// catches (T12 to alice and bob, forged headers believed, loops delivered): the same box,
// pinned message by message, so the guarded proof above is known to be able to fail.
TEST(MultidropNegativeControl, WithoutTheGuardFetchmailMisroutesTheTraps) {
  RunResult r;
  runMultidrop(MailProtocol::Pop3, DeliveryMethod::Smtp, "Delivered-To", 1, false, r);
  if (HasFatalFailure()) return;
  EXPECT_NE(r.rc.find("dropdelivered"), std::string::npos) << r.rc;
  int differs = report("pop3-smtp WITHOUT the guard (fetchmail alone)", r.got, false);
  EXPECT_EQ(differs, 0) << "fetchmail alone changed its behaviour: update `unguarded`";
  EXPECT_EQ(r.got["T12"], (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(r.got["T15"], std::vector<std::string>{"alice"}) << "fetchmail believes a forged header below the ISP's block";
}

// `envelope 0 "Delivered-To"` reads the ISP's own header, which names the box and not the
// recipient. With the guard, nothing then reaches a user: everything goes to the postmaster
// (the guard reads the same wrong position, and the ISP's block holds two Delivered-To).
TEST(MultidropNegativeControl, IspOwnDeliveredToSendsEverythingToThePostmaster) {
  RunResult r;
  runMultidrop(MailProtocol::Pop3, DeliveryMethod::Smtp, "Delivered-To", 0, true, r);
  if (HasFatalFailure()) return;
  EXPECT_NE(r.rc.find("envelope 0 \"Delivered-To\""), std::string::npos) << r.rc;
  int wrong = report("pop3-smtp via the guard, WRONG envelope 0 \"Delivered-To\"", r.got, true);
  EXPECT_GE(wrong, 1) << "the wrong envelope setting delivered everything correctly: the test cannot tell";
  for (const auto& [id, list] : r.got)
    for (const auto& user : list) EXPECT_EQ(user, "postmaster") << id << " reached a user with a wrong envelope setting";
  EXPECT_EQ(r.leftInBox, 0u);
}

// ---------------------------------------------------------------------------------------
// The local MTA's answers, through real fetchmail and the guard, with a scripted MTA.

/// One message per envelope recipient, each carrying `testId`.
std::string simpleCopy(const std::string& testId, const std::string& rcpt, const std::string& body = "") {
  BoxMessage m{testId, "mta trap", rcpt, rcpt, "", {}};
  m.body = body;
  return rawMessage(m);
}

std::map<std::string, int> countByRcpt(const std::vector<guard::testing::Accepted>& acc) {
  std::map<std::string, int> n;
  for (const auto& a : acc) ++n[localUser(a.rcpt)];
  return n;
}

struct MtaBed {
  Bed bed;
  std::unique_ptr<guard::testing::FakeMta> mta;
  Policy policy;
  std::string rc;
};

void startMtaBed(MtaBed& b, const std::vector<std::string>& raw) {
  startBed(b.bed, raw);
  if (::testing::Test::HasFatalFailure()) return;
  b.mta = std::make_unique<guard::testing::FakeMta>(b.bed.state + "/mta.sock");
  b.policy = multidropPolicy(MailProtocol::Pop3, b.bed.isp->pop3Port(), DeliveryMethod::Lmtp,
                             {b.bed.state + "/mta.sock", 0}, 1, b.bed.home, b.bed.state, true);
  b.rc = writeRc(b.policy, b.bed.home);
}

TEST(MultidropMta, RefusingTemporarilyLeavesTheMessageAtTheIspUntilItAccepts) {
  MtaBed b;
  startMtaBed(b, {simpleCopy("M1", "alice@example.com")});
  if (HasFatalFailure()) return;
  std::atomic<bool> refuse{true};
  b.mta->onData([&](const std::string&, const std::string&) { return refuse ? "451 4.2.0 mailbox busy" : "250 2.0.0 ok"; });
  InProcessGuard guard(b.policy);
  ASSERT_TRUE(guard.started().ok()) << guard.started().error();

  auto first = runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 120s);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(b.mta->accepted().empty());
  EXPECT_EQ(b.bed.isp->count(kIspUser), 1u) << "a temporary refusal must leave the message at the ISP\n" << first->output;
  refuse = false;
  auto second = runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 120s);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->exitCode, 0) << second->output;
  EXPECT_EQ(countByRcpt(b.mta->accepted()), (std::map<std::string, int>{{"alice", 1}}));
  EXPECT_EQ(b.bed.isp->count(kIspUser), 0u);
  auto s = guard.snapshot();
  EXPECT_EQ(s.last24h.deferred, 1) << s.summary;
  EXPECT_EQ(s.last24h.delivered, 1) << s.summary;
}

TEST(MultidropMta, RefusingOneOfThreeRecipientsSendsThatCopyToThePostmaster) {
  MtaBed b;
  startMtaBed(b, {simpleCopy("R1", "alice@example.com"), simpleCopy("R1", "bob@example.com"),
                  simpleCopy("R1", "carol@example.com")});
  if (HasFatalFailure()) return;
  b.mta->onRcpt([](const std::string& r) { return r == "bob@example.com" ? "550 5.2.1 mailbox disabled" : "250 2.1.5 ok"; });
  InProcessGuard guard(b.policy);
  ASSERT_TRUE(guard.started().ok()) << guard.started().error();
  auto run = runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 120s);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exitCode, 0) << run->output;
  auto acc = b.mta->accepted();
  EXPECT_EQ(countByRcpt(acc), (std::map<std::string, int>{{"alice", 1}, {"carol", 1}, {"postmaster", 1}}));
  for (const auto& a : acc)
    if (localUser(a.rcpt) == "postmaster") {
      EXPECT_NE(headerValue(a.data, "X-Dynmx-Guard-Reason").find("bob: 550 5.2.1 mailbox disabled"), std::string::npos)
          << a.data.substr(0, 400);
    }
  EXPECT_EQ(b.bed.isp->count(kIspUser), 0u);
}

// SLOW (about 1 min under ASan): a 25 MB message through fetchmail, the guard and the MTA.
TEST(MultidropSlow, A25MegabyteMessageArrivesWholeOnce) {
  std::string body;
  body.reserve(26u << 20);
  const std::string line = std::string(75, 'Q') + "\n";
  while (body.size() < (25u << 20)) body += line;
  MtaBed b;
  startMtaBed(b, {simpleCopy("BIG", "carol@example.com", body)});
  if (HasFatalFailure()) return;
  InProcessGuard guard(b.policy);
  ASSERT_TRUE(guard.started().ok()) << guard.started().error();
  auto run = runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 300s);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exitCode, 0) << run->output.substr(0, 2000);
  auto acc = b.mta->accepted();
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(localUser(acc[0].rcpt), "carol");
  // Every body line arrived (CRLF on the wire).
  EXPECT_EQ(static_cast<std::size_t>(std::count(acc[0].data.begin(), acc[0].data.end(), 'Q')), body.size() / 76 * 75);
  EXPECT_EQ(b.bed.isp->count(kIspUser), 0u);
}

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

/// The policy file `dynmx guard` reads for the kill test.
std::string guardPolicyToml(const MtaBed& b) {
  std::ostringstream o;
  o << "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n"
    << "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = " << b.bed.isp->pop3Port()
    << "\ntls = \"none\"\nuser = \"office\"\npassword = \"unused\"\n"
    << "[envelope]\nheader = \"Delivered-To\"\nskip = 1\n"
    << "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
    << "[delivery]\nmethod = \"lmtp\"\nhost = \"" << b.bed.state << "/mta.sock\"\nport = 24\nguard = true\n"
    << "[guard]\nsocket = \"" << b.bed.state << "/g.sock\"\n"
    << "[ddns]\nenabled = false\n"
    << "[daemon]\nstate_dir = \"" << b.bed.state << "\"\ncontrol_socket = \"" << b.bed.state << "/c.sock\"\n";
  return o.str();
}

/// True once something accepts connections on the Unix socket at `path`. A file there is
/// not enough: a SIGKILLed guard leaves its socket file behind.
bool waitForListener(const std::string& path, std::chrono::milliseconds limit) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  for (auto waited = 0ms; waited < limit; waited += 20ms) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool up = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (up) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// SLOW (a few seconds): `dynmx guard` SIGKILLed after the MTA accepted a message and the
// guard journaled it, before fetchmail heard the answer and deleted the message. fetchmail
// is stopped at the MTA's final dot (so it cannot read the answer) and killed with the guard:
// the machine "crashed". The next poll fetches the message again; the restarted guard
// recognises it from its journal: one delivery, not two, and the box ends empty.
TEST(MultidropSlow, GuardKilledBetweenTheMtaAnswerAndFetchmailsDeleteDeliversOnce) {
  MtaBed b;
  startMtaBed(b, {simpleCopy("K1", "alice@example.com"), simpleCopy("K2", "bob@example.com")});
  if (HasFatalFailure()) return;
  const std::string policyPath = b.bed.state + "/policy.toml";
  writeTextFile(policyPath, guardPolicyToml(b), 0600);
  auto startGuard = [&] {
    ProcessSpec spec;
    spec.argv = {dynmxBinary(), "guard", "-c", policyPath, "--log-level", "info"};
    spec.timeout = std::chrono::milliseconds(0);
    auto child = spawnProcess(spec);
    EXPECT_TRUE(waitForListener(b.bed.state + "/g.sock", 10s)) << "dynmx guard did not start";
    return child;
  };
  auto guard1 = startGuard();
  ASSERT_GT(guard1.pid, 0);

  const std::string pidFile = b.bed.home + "/fetchmail.pid";
  std::atomic<int> stopped{0};
  b.mta->beforeAnswer([&] {
    // The MTA has the whole message and is about to say 250: freeze fetchmail now.
    if (stopped != 0) return;
    std::istringstream in(slurp(pidFile));
    int pid = 0;
    in >> pid;
    if (pid > 0 && ::kill(pid, SIGSTOP) == 0) stopped = pid;
  });
  std::thread poll1([&] { (void)runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 120s); });
  // Wait until the guard has journaled the delivery: then it answers fetchmail, which is frozen.
  bool journaled = false;
  for (auto waited = 0ms; waited < 60s && !journaled; waited += 20ms) {
    journaled = slurp(b.bed.state + "/guard.journal").find(" delivered ") != std::string::npos;
    if (!journaled) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(journaled) << "the guard never journaled the first delivery";
  EXPECT_NE(stopped.load(), 0) << "fetchmail was not frozen at the MTA's answer";
  // The crash: the guard and the frozen fetchmail die together.
  ::kill(guard1.pid, SIGKILL);
  if (stopped != 0) ::kill(stopped.load(), SIGKILL);
  poll1.join();
  int status = 0;
  ::waitpid(guard1.pid, &status, 0);
  for (int fd : {guard1.stdoutFd, guard1.stderrFd}) ::close(fd);
  if (!journaled || stopped == 0) return;
  EXPECT_EQ(b.mta->accepted().size(), 1u);
  EXPECT_EQ(b.bed.isp->count(kIspUser), 2u) << "fetchmail never deleted the delivered message";
  std::filesystem::remove(b.bed.home + "/fetchmail.pid");  // left by the killed fetchmail

  b.mta->beforeAnswer({});
  auto guard2 = startGuard();
  auto poll2 = runFetchmailOnce(b.policy.fetchmail.rcPath, b.bed.home, 120s);
  ASSERT_TRUE(poll2.ok());
  EXPECT_EQ(poll2->exitCode, 0) << poll2->output;
  ::kill(guard2.pid, SIGTERM);
  ::waitpid(guard2.pid, &status, 0);
  for (int fd : {guard2.stdoutFd, guard2.stderrFd}) ::close(fd);

  auto acc = b.mta->accepted();
  std::map<std::string, int> perMessage;
  for (const auto& a : acc) ++perMessage[headerValue(a.data, "X-Test-Id") + " " + localUser(a.rcpt)];
  EXPECT_EQ(perMessage, (std::map<std::string, int>{{"K1 alice", 1}, {"K2 bob", 1}})) << "exactly once each";
  EXPECT_EQ(b.bed.isp->count(kIspUser), 0u);
  const std::string journal = slurp(b.bed.state + "/guard.journal");
  EXPECT_NE(journal.find(" duplicate duplicate"), std::string::npos) << journal;
}

}  // namespace
}  // namespace dynmx::testbed
