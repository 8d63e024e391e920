#include <gtest/gtest.h>

#include "dynmx/time.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsHumanUnits) {
  struct Case {
    const char* text;
    long long seconds;
  } cases[] = {{"90s", 90}, {"5m", 300}, {"1h", 3600}, {"2d", 172800}, {"1h30m", 5400},
               {"1w", 604800}, {"45", 45}, {"0s", 0}, {"1m1s", 61}};
  for (const auto& c : cases) {
    auto d = parseDuration(c.text);
    ASSERT_TRUE(d.has_value()) << c.text;
    EXPECT_EQ(d->count(), c.seconds) << c.text;
  }
}

TEST(ParseDuration, RefusesGarbage) {
  for (const char* bad : {"", "m", "5x", "-5s", "1h30", "5 m", "1.5h", "99999999999999999999s", "s5"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(formatDuration(0s), "0s");
  EXPECT_EQ(formatDuration(5400s), "1h30m");
  EXPECT_EQ(formatDuration(86461s), "1d1m1s");
  for (long long s : {1LL, 59LL, 61LL, 3599LL, 3601LL, 90061LL}) {
    EXPECT_EQ(parseDuration(formatDuration(Duration{s}))->count(), s);
  }
}

TEST(FormatTime, Rfc3339Utc) {
  EXPECT_EQ(formatTime(fromUnix(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatTime(fromUnix(1795428000)), "2026-11-23T10:00:00Z");
  EXPECT_EQ(parseTime("2026-11-23T10:00:00Z"), fromUnix(1795428000));
  EXPECT_FALSE(parseTime("2026-11-23 10:00:00").has_value());
  EXPECT_FALSE(parseTime("2026-13-23T10:00:00Z").has_value());
}
