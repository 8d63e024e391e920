// The decision table: envelope x fetchmail's RCPT x users map -> plan.
#include <gtest/gtest.h>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

UserMap users() {
  UserMap u;
  u.domains = {"example.com", "example.org"};
  u.names = {{"alice", "alice"}, {"bob", "robert"}, {"carol", "carol"}};
  u.postmaster = "postmaster";
  return u;
}

MessageFacts found(const std::string& addr) {
  MessageFacts f;
  f.envelope.status = EnvelopeStatus::Found;
  f.envelope.address = addr;
  f.envelope.matches = 1;
  return f;
}

MessageFacts status(EnvelopeStatus s) {
  MessageFacts f;
  f.envelope.status = s;
  return f;
}

struct Case {
  const char* name;
  MessageFacts facts;
  std::vector<std::string> rcpts;
  Plan::Kind kind;
  Reason reason;
  std::vector<std::string> users;
};

TEST(GuardDecision, Table) {
  MessageFacts marker = found("alice@example.com");
  marker.ourMarkers = 1;
  MessageFacts twoMarkers = found("alice@example.com");
  twoMarkers.ourMarkers = 2;
  MessageFacts manyHops = found("alice@example.com");
  manyHops.received = 31;
  MessageFacts thirtyHops = found("alice@example.com");
  thirtyHops.received = 30;
  const std::vector<Case> cases = {
      {"plain", found("alice@example.com"), {"alice@example.com"}, Plan::Kind::Deliver, Reason::Matched, {"alice"}},
      {"mapped name", found("bob@example.com"), {"robert@example.com"}, Plan::Kind::Deliver, Reason::Matched, {"robert"}},
      {"mixed case", found("Alice@Example.COM"), {"alice@example.com"}, Plan::Kind::Deliver, Reason::Matched, {"alice"}},
      {"second domain", found("carol@example.org"), {"carol@example.com"}, Plan::Kind::Deliver, Reason::Matched, {"carol"}},
      {"unknown user: postmaster as fetchmail", found("dave@example.com"), {"postmaster@example.com"}, Plan::Kind::Deliver,
       Reason::Unmapped, {"postmaster"}},
      {"foreign domain: postmaster as fetchmail", found("eve@example.net"), {"postmaster@example.com"},
       Plan::Kind::Deliver, Reason::Unmapped, {"postmaster"}},
      {"mail for the postmaster", found("postmaster@example.com"), {"postmaster@example.com"}, Plan::Kind::Deliver,
       Reason::Matched, {"postmaster"}},
      {"T12: no envelope, fetchmail chose To/Cc", status(EnvelopeStatus::Missing), {"alice@example.com", "robert@example.com"},
       Plan::Kind::Postmaster, Reason::NoEnvelope, {"postmaster"}},
      {"ambiguous", status(EnvelopeStatus::Ambiguous), {"alice@example.com"}, Plan::Kind::Postmaster,
       Reason::AmbiguousEnvelope, {"postmaster"}},
      {"malformed", status(EnvelopeStatus::Malformed), {"alice@example.com"}, Plan::Kind::Postmaster,
       Reason::MalformedEnvelope, {"postmaster"}},
      {"fetchmail chose another user", found("carol@example.com"), {"robert@example.com"}, Plan::Kind::Postmaster,
       Reason::Mismatch, {"postmaster"}},
      {"fetchmail chose the right one plus another", found("carol@example.com"), {"carol@example.com", "alice@example.com"},
       Plan::Kind::Postmaster, Reason::Mismatch, {"postmaster"}},
      {"fetchmail chose a foreign address", found("carol@example.com"), {"carol@example.net"}, Plan::Kind::Postmaster,
       Reason::Mismatch, {"postmaster"}},
      {"unknown user but fetchmail chose a user", found("dave@example.com"), {"alice@example.com"},
       Plan::Kind::Postmaster, Reason::Mismatch, {"postmaster"}},
      {"no recipients at all", found("alice@example.com"), {}, Plan::Kind::Postmaster, Reason::Mismatch, {"postmaster"}},
      {"our marker: loop", marker, {"alice@example.com"}, Plan::Kind::Postmaster, Reason::Loop, {"postmaster"}},
      {"our marker twice: discarded", twoMarkers, {"alice@example.com"}, Plan::Kind::Discard, Reason::LoopDiscarded, {}},
      {"too many Received", manyHops, {"alice@example.com"}, Plan::Kind::Postmaster, Reason::Loop, {"postmaster"}},
      {"Received at the limit", thirtyHops, {"alice@example.com"}, Plan::Kind::Deliver, Reason::Matched, {"alice"}},
  };
  for (const auto& c : cases) {
    Plan p = decide(c.facts, c.rcpts, users(), LoopLimits{30});
    EXPECT_EQ(p.kind, c.kind) << c.name;
    EXPECT_EQ(p.reason, c.reason) << c.name << ": " << toString(p.reason);
    EXPECT_EQ(p.users, c.users) << c.name;
  }
}

TEST(GuardDecision, WildcardMapsAnyNameOfOurDomains) {
  UserMap u = users();
  u.wildcard = true;
  EXPECT_EQ(localUserFor("zed@example.com", u), "zed");
  EXPECT_EQ(localUserFor("zed@example.net", u), "postmaster");
  EXPECT_EQ(localUserFor("not an address", u), "postmaster");
  Plan p = decide(found("Zed@example.com"), {"zed@example.com"}, u, {});
  EXPECT_EQ(p.kind, Plan::Kind::Deliver);
  EXPECT_EQ(p.users, std::vector<std::string>{"zed"});
}

TEST(GuardDecision, MismatchDetailNamesLocalUsersOnly) {
  Plan p = decide(found("carol@example.com"), {"robert@example.com"}, users(), {});
  EXPECT_EQ(p.detail, "envelope names carol, fetchmail chose robert");
}

TEST(GuardDecision, ReasonCodesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(Reason::TooLarge); ++i) {
    auto r = static_cast<Reason>(i);
    EXPECT_EQ(reasonFromString(toString(r)), r);
    EXPECT_STRNE(describe(r), "unknown");
  }
  EXPECT_FALSE(reasonFromString("nope").has_value());
}

}  // namespace
}  // namespace dynmx::guard
