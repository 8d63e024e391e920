// Journal records and the 24-hour summary.
#include <gtest/gtest.h>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

JournalRecord rec(long long at, std::uint64_t id, Outcome o, Reason r, std::string user = "alice") {
  JournalRecord x;
  x.at = fromUnix(at);
  x.message = id;
  x.key = "m0123";
  x.envelope = "alice@example.com";
  x.user = std::move(user);
  x.outcome = o;
  x.reason = r;
  return x;
}

TEST(GuardRecords, RoundTrip) {
  JournalRecord r = rec(1790000000, 42, Outcome::Postmaster, Reason::NoEnvelope, "post master%");
  r.envelope = "";
  std::string line = formatRecord(r);
  EXPECT_EQ(line, "1 1790000000 000000000000002a m0123 - post%20master%25 postmaster no-envelope\n");
  auto back = parseRecord(line.substr(0, line.size() - 1));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user, "post master%");
  EXPECT_EQ(back->envelope, "");
  EXPECT_EQ(back->message, 42u);
  EXPECT_EQ(back->outcome, Outcome::Postmaster);
  EXPECT_EQ(back->reason, Reason::NoEnvelope);
  for (const char* bad : {"", "1", "2 1 000000000000002a k e u delivered matched", "1 x 000000000000002a k e u delivered matched",
                          "1 1 2a k e u delivered matched", "1 1 000000000000002a k e u sent matched",
                          "1 1 000000000000002a k e u delivered matched extra", "1 1 000000000000002a k %zz u delivered matched",
                          "1 1 000000000000002a k e u delivered"})
    EXPECT_FALSE(parseRecord(bad)) << bad;
}

TEST(GuardRecords, MessageKeyIgnoresFetchmailsReceived) {
  std::string a = "Received: by fetchmail at 10:00\nSubject: x\n\nbody\n";
  std::string b = "Received: by fetchmail at 10:05\nSubject: x\n\nbody\n";
  MessageFacts fa;
  fa.contentOffset = a.find("Subject");
  MessageFacts fb;
  fb.contentOffset = b.find("Subject");
  EXPECT_EQ(messageKey(a, fa), messageKey(b, fb));
  EXPECT_EQ(messageKey(a, fa).front(), 'h');
  fa.messageId = "<x@y>";
  EXPECT_EQ(messageKey(a, fa).front(), 'm');
  EXPECT_EQ(messageKey(a, fa).size(), 33u);
  EXPECT_EQ(messageKey(a, fa).find("x@y"), std::string::npos) << "a hash, not the Message-ID";
}

TEST(GuardRecords, SummaryCountsEachMessageOnceInTheWindow) {
  const long long now = 1790000000;
  std::vector<JournalRecord> rs = {
      rec(now - 100, 1, Outcome::Delivered, Reason::Matched),
      rec(now - 90, 2, Outcome::Deferred, Reason::Deferred),
      rec(now - 80, 3, Outcome::Delivered, Reason::Matched),  // a retry of 2 is a new attempt
      rec(now - 70, 4, Outcome::Postmaster, Reason::NoEnvelope, "postmaster"),
      rec(now - 60, 5, Outcome::Postmaster, Reason::MtaRefused, "carol"),
      rec(now - 50, 6, Outcome::Duplicate, Reason::Duplicate),
      rec(now - 40, 7, Outcome::Discarded, Reason::LoopDiscarded, ""),
      rec(now - 30, 8, Outcome::Deferred, Reason::Deferred, "bob"),
      rec(now - 30, 8, Outcome::Delivered, Reason::Matched, "alice"),  // one message, two users
      rec(now - 90000, 9, Outcome::Delivered, Reason::Matched),        // older than 24 h
  };
  GuardCounts c = summarize(rs, fromUnix(now), std::chrono::hours(24));
  EXPECT_EQ(c.fetched, 8);
  EXPECT_EQ(c.delivered, 3);
  EXPECT_EQ(c.postmaster, 2);
  EXPECT_EQ(c.duplicates, 1);
  EXPECT_EQ(c.deferred, 1);
  EXPECT_EQ(c.discarded, 1);
  EXPECT_EQ(c.noEnvelope, 1);
  EXPECT_EQ(summaryText(c),
            "fetched 8: delivered 3, to postmaster 2 (mta-refused 1, no envelope header 1), duplicates suppressed 1, "
            "deferred 1, loops discarded 1");
  EXPECT_EQ(noEnvelopeWarning(c), "") << "one in eight is not a rise";
}

TEST(GuardRecords, NoEnvelopeWarning) {
  GuardCounts c;
  c.fetched = 132;
  c.noEnvelope = 2;
  EXPECT_EQ(noEnvelopeWarning(c), "");
  c.noEnvelope = 13;
  EXPECT_EQ(noEnvelopeWarning(c), "");
  c.noEnvelope = 14;
  EXPECT_NE(noEnvelopeWarning(c).find("14 of 132"), std::string::npos);
  GuardCounts few;
  few.fetched = 3;
  few.noEnvelope = 3;
  EXPECT_NE(noEnvelopeWarning(few), "");
}

}  // namespace
}  // namespace dynmx::guard
