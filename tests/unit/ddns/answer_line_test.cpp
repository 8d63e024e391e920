// The one log line per provider answer: host, result, provider, address, next step.
#include "dynmx/ddns/answer_line.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

const TimePoint kRetry = *parseTime("2026-11-23T12:30:00Z");

TEST(AnswerLine, SaysHostResultAddressAndNextStep) {
  EXPECT_EQ(
      describeAnswer({"office.example.com", "dyn", "dyn", "good", "203.0.113.7", "", Consequence::Ok, {}}),
      "office.example.com: good from dyn for 203.0.113.7, next: verify at the authoritative servers");
  EXPECT_EQ(describeAnswer({"office.example.com", "dyn", "main", "911", "203.0.113.7", "911 maintenance",
                            Consequence::RetryLater, kRetry}),
            "office.example.com: 911 from dyn (account main) for 203.0.113.7 (911 maintenance), retry after "
            "2026-11-23T12:30:00Z");
  EXPECT_EQ(describeAnswer({"office.example.com",
                            "dyn",
                            "dyn",
                            "badauth",
                            "203.0.113.7",
                            "badauth",
                            Consequence::FatalAccount,
                            {}}),
            "office.example.com: badauth from dyn for 203.0.113.7, updates for every host of this account "
            "stop until "
            "its configuration changes");
  EXPECT_EQ(describeAnswer({"office.example.com", "custom", "office", "timeout", "203.0.113.7",
                            "timeout: Operation timed out after 3000 milliseconds", Consequence::Transient,
                            kRetry}),
            "office.example.com: timeout from custom (account office) for 203.0.113.7 (timeout: Operation "
            "timed out "
            "after 3000 milliseconds), retry after 2026-11-23T12:30:00Z");
  EXPECT_EQ(
      describeAnswer(
          {"mx.example.com", "dyn", "dyn", "nohost", "203.0.113.7", "nohost", Consequence::FatalHost, {}}),
      "mx.example.com: nohost from dyn for 203.0.113.7, updates for this host stop until its configuration "
      "changes");
}

}  // namespace
}  // namespace dynmx::ddns
