// The multidrop proof: real dovecot holds the ISP's domain box, the real fetchmail runs the
// rc that dynmx renders, and a sink records where every message went.
//
// The ISP writes its own `Delivered-To: office@isp.example` first, then the envelope
// recipient as `X-Original-To:` and `Delivered-To:`, one copy per recipient. The traps
// (Bcc, list mail, unknown users, foreign domains, mixed case, no envelope header) are
// where a wrong envelope setting sends mail to the wrong person.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/policy.hpp"
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

/// One message in the ISP box (one copy per envelope recipient) and where it must end up.
struct BoxMessage {
  std::string testId;
  std::string trap;           ///< what it tests
  std::string envelopeRcpt;   ///< the ISP's envelope headers; empty = none at all
  std::string to;
  std::string cc;
  std::set<std::string> expected;  ///< local users (postmaster for anything unmapped)
  /// Non-empty: a known fetchmail limitation. What fetchmail really does instead of
  /// `expected`, pinned so a change in either direction is noticed.
  std::set<std::string> fetchmailDoes = {};
};

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
      // KNOWN LIMITATION: with no envelope header fetchmail falls back to the To/Cc/Bcc
      // addresses (man fetchmail, "Header versus Envelope addresses"); no rc option turns
      // that off. It should go to the postmaster; fetchmail gives it to alice and bob.
      {"T12", "no envelope header, local users in To/Cc", "", "alice@example.com", "bob@example.com", {"postmaster"},
       {"alice", "bob"}},
  };
  return box;
}

/// The message as the ISP stored it: its own Delivered-To on top, then the envelope headers.
std::string rawMessage(const BoxMessage& m) {
  std::ostringstream o;
  o << "Return-Path: <sender@example.net>\n"
    << "Delivered-To: " << kIspBox << "\n";
  if (!m.envelopeRcpt.empty())
    o << "X-Original-To: " << m.envelopeRcpt << "\n"
      << "Delivered-To: " << m.envelopeRcpt << "\n";
  o << "Received: from mx.example.net (mx.example.net [198.51.100.7])\n"
    << "\tby mx.isp.example (Postfix) with ESMTP id " << m.testId << "; Mon, 23 Nov 2026 10:00:00 +0000\n"
    << "From: Sender <sender@example.net>\n"
    << "To: " << m.to << "\n";
  if (!m.cc.empty()) o << "Cc: " << m.cc << "\n";
  o << "Subject: " << m.trap << "\n"
    << "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
    << "Message-ID: <" << m.testId << "@example.net>\n"
    << "X-Test-Id: " << m.testId << "\n"
    << "\n"
    << "Test message " << m.testId << ".\n";
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

/// What a correct run delivers for `m`: the intended recipients, or for a known fetchmail
/// limitation what fetchmail does instead.
std::vector<std::string> correctRun(const BoxMessage& m) {
  const auto& s = m.fetchmailDoes.empty() ? m.expected : m.fetchmailDoes;
  return {s.begin(), s.end()};
}

/// Print the delivery report (test id -> recipients) and return how many messages did not
/// reach exactly their intended recipients (known limitations are listed, not counted).
int report(const std::string& title, const std::map<std::string, std::vector<std::string>>& got) {
  int wrong = 0;
  int limits = 0;
  std::cout << "== delivery report: " << title << " ==\n";
  for (const auto& m : boxMessages()) {
    std::vector<std::string> want(m.expected.begin(), m.expected.end());
    auto it = got.find(m.testId);
    std::vector<std::string> have = it == got.end() ? std::vector<std::string>{} : it->second;
    bool ok = have == want;
    bool limitation = !ok && !m.fetchmailDoes.empty() && have == correctRun(m);
    if (limitation) ++limits;
    else if (!ok) ++wrong;
    std::cout << "  " << m.testId << "  " << (ok ? "ok       " : limitation ? "LIMIT    " : "MISROUTED") << "  -> "
              << join(have) << (ok ? "" : "   (intended " + join(want) + ")") << "   [" << m.trap << "]\n";
  }
  if (limits > 0)
    std::cout << "  LIMIT: known fetchmail behaviour without an envelope header (header fallback)\n";
  for (const auto& [id, list] : got) {
    bool known = std::any_of(boxMessages().begin(), boxMessages().end(), [&](const auto& m) { return m.testId == id; });
    if (!known) {
      ++wrong;
      std::cout << "  " << id << "  UNEXPECTED -> " << join(list) << "\n";
    }
  }
  const int n = static_cast<int>(boxMessages().size());
  std::cout << "== " << std::max(0, n - wrong - limits) << " of " << n << " to exactly the intended recipients, "
            << limits << " known limitation(s), " << wrong << " misrouted ==\n";
  return wrong;
}

/// The admin's policy for this box, as `dynmx check` would have accepted it.
Policy multidropPolicy(MailProtocol proto, int ispPort, DeliveryMethod method, int sinkPort, int envelopeSkip,
                       const std::string& home) {
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
  p.delivery.target = {"127.0.0.1", sinkPort};
  p.fetchmail.home = home;
  p.fetchmail.rcPath = home + "/fetchmailrc";
  p.fetchmail.pollInterval = std::chrono::seconds(300);
  return p;
}

/// A box seeded with every trap, a sink, and one fetchmail run with the rendered rc.
struct RunResult {
  std::map<std::string, std::vector<std::string>> got;
  std::size_t leftInBox = 0;
  int fetchmailExit = -1;
  std::string rc;
};

void runMultidrop(MailProtocol proto, DeliveryMethod method, const std::string& envelopeHeader, int envelopeSkip,
                  RunResult& out) {
  TempDir dir("md");
  auto started = Dovecot::start(dir);
  ASSERT_TRUE(started.ok()) << started.error();
  Dovecot& isp = **started;
  ASSERT_TRUE(isp.addUser(kIspUser, kIspPassword).ok());
  for (const auto& m : boxMessages()) ASSERT_TRUE(isp.deliver(kIspUser, rawMessage(m)).ok());
  ASSERT_EQ(isp.count(kIspUser), boxMessages().size());

  MailSink sink;
  const std::string home = dir.subdir("fm", 0700);
  Policy policy = multidropPolicy(proto, proto == MailProtocol::Pop3 ? isp.pop3Port() : isp.imapPort(), method,
                                  sink.port(), envelopeSkip, home);
  policy.envelope.header = envelopeHeader;
  fetchmail::RenderInput input;
  input.password = kIspPassword;
  input.idFile = home + "/fetchmail.ids";
  input.pidFile = home + "/fetchmail.pid";
  auto rc = fetchmail::renderRc(policy, input);
  ASSERT_TRUE(rc.ok()) << rc.error();
  out.rc = *rc;
  writeTextFile(policy.fetchmail.rcPath, *rc, 0600);  // fetchmail refuses anything wider

  auto run = runFetchmailOnce(policy.fetchmail.rcPath, home, 120s);
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_FALSE(run->timedOut);
  out.fetchmailExit = run->exitCode;
  EXPECT_EQ(run->exitCode, 0) << "fetchmail output:\n" << run->output << "\nrc:\n" << *rc;
  EXPECT_EQ(run->output.find(kIspPassword), std::string::npos) << "the password leaked into fetchmail's output";

  // fetchmail has exited, so every SMTP/LMTP transaction is complete; wait bounded anyway.
  std::size_t copies = boxMessages().size();
  sink.waitFor([&](const auto& msgs) { return msgs.size() >= copies; }, 10s);
  out.got = deliveryMap(sink.messages());
  out.leftInBox = isp.count(kIspUser);
  if (::testing::Test::HasFailure()) std::cerr << "fetchmail output:\n" << run->output << "\nrc:\n" << *rc;
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

TEST_P(Multidrop, EveryMessageReachesExactlyItsRecipients) {
  RunResult r;
  const Variant& v = GetParam();
  runMultidrop(v.proto, v.method, v.envelopeHeader, v.envelopeSkip, r);
  if (HasFatalFailure()) return;
  const std::string envelopeLine =
      "envelope " + std::to_string(v.envelopeSkip) + " \"" + std::string(v.envelopeHeader) + "\"";
  EXPECT_NE(r.rc.find(envelopeLine), std::string::npos) << r.rc;

  int wrong = report(std::string(v.name) + ", " + envelopeLine, r.got);
  EXPECT_EQ(wrong, 0);
  for (const auto& m : boxMessages())
    EXPECT_EQ(r.got[m.testId], correctRun(m)) << m.testId << ": " << m.trap;  // set equality, no duplicates, nothing lost
  EXPECT_EQ(r.got.size(), boxMessages().size()) << "a message without a known X-Test-Id arrived";
  // Safety: nothing left our domain (no foreign address, no address fetchmail made up).
  for (const auto& [id, list] : r.got)
    for (const auto& user : list) EXPECT_EQ(user.find('@'), std::string::npos) << id << " went to " << user;
  EXPECT_EQ(r.leftInBox, 0u) << "no keep: the ISP box must be empty afterwards";
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

// The negative control: `envelope 0 "Delivered-To"` reads the ISP's own header, which names
// the box and not the recipient. The same box must then be misrouted, which proves the
// proof above can fail.
TEST(MultidropNegativeControl, IspOwnDeliveredToMisroutes) {
  RunResult r;
  runMultidrop(MailProtocol::Pop3, DeliveryMethod::Smtp, "Delivered-To", 0, r);
  if (HasFatalFailure()) return;
  EXPECT_NE(r.rc.find("envelope 0 \"Delivered-To\""), std::string::npos) << r.rc;
  int wrong = report("pop3-smtp, WRONG envelope 0 \"Delivered-To\"", r.got);
  EXPECT_GE(wrong, 1) << "the wrong envelope setting delivered everything correctly: the test cannot tell";
  // The Bcc trap in particular: carol's copy must not have reached carol by accident.
  EXPECT_NE(r.got["T02a"], std::vector<std::string>{"carol"});
}

}  // namespace
}  // namespace dynmx::testbed
