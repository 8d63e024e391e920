// The header reader: the envelope is the ISP's copy at the configured position, never a
// field the sender wrote above or below it.
#include <gtest/gtest.h>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

const char* kFetchmailReceived =
    "Received: from 127.0.0.1 [127.0.0.1]\n\tby host with POP3 (fetchmail-6.4.37)\n\tfor <alice@example.com> (single-drop); Mon, 23 Nov 2026 10:00:01 +0000 (UTC)\n";

/// A message as fetchmail hands it over: fetchmail's Received, the ISP's block, the sender's part.
std::string message(const std::string& ispBlock, const std::string& senderHeaders = "", bool fetchmail = true) {
  return std::string(fetchmail ? kFetchmailReceived : "") + "Return-Path: <sender@example.net>\n" + ispBlock +
         "Received: from mx.example.net by mx.isp.example; Mon, 23 Nov 2026 10:00:00 +0000\n"
         "From: <sender@example.net>\nTo: <bob@example.com>\n" +
         senderHeaders + "Message-ID: <id1@example.net>\nSubject: hi\n\nbody\nDelivered-To: not-a-header@example.com\n";
}

struct Case {
  const char* name;
  std::string msg;
  EnvelopeRule rule;
  EnvelopeStatus status;
  std::string address;
};

TEST(GuardHeaders, EnvelopeAtTheConfiguredPosition) {
  const EnvelopeRule dt1{"Delivered-To", 1, 0};
  const EnvelopeRule xot{"X-Original-To", 0, 0};
  const std::string isp = "Delivered-To: office@isp.example\nX-Original-To: carol@example.com\nDelivered-To: carol@example.com\n";
  const std::vector<Case> cases = {
      {"skip 1 Delivered-To", message(isp), dt1, EnvelopeStatus::Found, "carol@example.com"},
      {"X-Original-To", message(isp), xot, EnvelopeStatus::Found, "carol@example.com"},
      {"case-insensitive name", message("DELIVERED-TO: office@isp.example\ndelivered-to: <carol@example.com>\n"), dt1,
       EnvelopeStatus::Found, "carol@example.com"},
      {"no fetchmail Received", message(isp, "", false), dt1, EnvelopeStatus::Found, "carol@example.com"},
      {"forged below the ISP block is not read", message("Delivered-To: office@isp.example\n", "Delivered-To: alice@example.com\n"),
       dt1, EnvelopeStatus::Missing, ""},
      {"forged below with the real one present", message(isp, "Delivered-To: alice@example.com\nX-Original-To: alice@example.com\n"),
       dt1, EnvelopeStatus::Found, "carol@example.com"},
      {"forged below, X-Original-To rule", message(isp, "X-Original-To: alice@example.com\n"), xot, EnvelopeStatus::Found,
       "carol@example.com"},
      {"forged above the ISP's: ambiguous", message("Delivered-To: alice@example.com\n" + isp), dt1,
       EnvelopeStatus::Ambiguous, ""},
      {"two envelope headers for one copy", message(isp + "Delivered-To: bob@example.com\n"), dt1,
       EnvelopeStatus::Ambiguous, ""},
      {"two X-Original-To", message("X-Original-To: a@example.com\nX-Original-To: b@example.com\n"), xot,
       EnvelopeStatus::Ambiguous, ""},
      {"none at all", message(""), xot, EnvelopeStatus::Missing, ""},
      {"only the ISP's own", message("Delivered-To: office@isp.example\n"), dt1, EnvelopeStatus::Missing, ""},
      {"list of addresses", message("X-Original-To: a@example.com, b@example.com\n"), xot, EnvelopeStatus::Malformed, ""},
      {"display name", message("X-Original-To: Alice <a@example.com>\n"), xot, EnvelopeStatus::Malformed, ""},
      {"empty value", message("X-Original-To:\n"), xot, EnvelopeStatus::Malformed, ""},
      {"body is not header", message("", ""), EnvelopeRule{"Delivered-To", 0, 0}, EnvelopeStatus::Missing, ""},
      {"empty header name never matches", message(isp), EnvelopeRule{"", 0, 0}, EnvelopeStatus::Missing, ""},
  };
  for (const auto& c : cases) {
    auto f = inspect(c.msg, c.rule, "m1");
    EXPECT_EQ(f.envelope.status, c.status) << c.name;
    EXPECT_EQ(f.envelope.address, c.address) << c.name;
  }
}

TEST(GuardHeaders, ReceivedAboveExtendsTheIspBlock) {
  // An ISP that writes its own Received (e.g. dovecot LMTP) above the envelope header.
  std::string m = std::string(kFetchmailReceived) + "Received: from mx by lmtp.isp.example with LMTP\n" +
                  "X-Original-To: bob@example.com\nReceived: from outside by mx.isp.example\n"
                  "X-Original-To: forged@example.com\n\nbody\n";
  EXPECT_EQ(inspect(m, {"X-Original-To", 0, 0}, "").envelope.status, EnvelopeStatus::Missing);
  auto f = inspect(m, {"X-Original-To", 0, 1}, "");
  EXPECT_EQ(f.envelope.status, EnvelopeStatus::Found);
  EXPECT_EQ(f.envelope.address, "bob@example.com");
  EXPECT_EQ(inspect(m, {"X-Original-To", 0, 2}, "").envelope.status, EnvelopeStatus::Ambiguous);
}

TEST(GuardHeaders, FactsForLoopsAndDedup) {
  std::string m = message("X-Original-To: a@example.com\n", "X-Dynmx-Guard: other\nX-Dynmx-Guard: m1\n");
  auto f = inspect(m, {"X-Original-To", 0, 0}, "m1");
  EXPECT_TRUE(f.fetchmailReceived);
  EXPECT_EQ(f.ourMarkers, 1) << "only markers with our id count";
  EXPECT_EQ(f.received, 1) << "fetchmail's own Received is not counted";
  EXPECT_EQ(f.messageId, "<id1@example.net>");
  EXPECT_EQ(m.substr(f.contentOffset, 12), "Return-Path:");
}

TEST(GuardHeaders, FoldedAndCrlf) {
  auto b = readHeaders("A: one\r\n two\r\nB:x\r\n\r\nbody");
  ASSERT_EQ(b.fields.size(), 2u);
  EXPECT_EQ(b.fields[0].value, "one two");
  EXPECT_EQ(b.fields[1].name, "B");
  EXPECT_EQ(b.bodyOffset, 21u);
  auto t = readHeaders("A: 1\nB: 2\nC: 3\n\n", 2);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.fields.size(), 2u);
}

TEST(GuardHeaders, PlainAddress) {
  EXPECT_EQ(plainAddress(" <a@b.example> ").value_or("?"), "a@b.example");
  EXPECT_EQ(plainAddress("a@b").value_or("?"), "a@b");
  for (const char* bad : {"", "<>", "a", "@b", "a@", "a@b@c", "a b@c", "\"a\"@b", "a@b,c@d", "<a@b", "a@b>", "a\x01@b"})
    EXPECT_FALSE(plainAddress(bad).has_value()) << bad;
  EXPECT_FALSE(plainAddress(std::string(300, 'a') + "@" + std::string(30, 'b')).has_value());
}

}  // namespace
}  // namespace dynmx::guard
