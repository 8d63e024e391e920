#pragma once
// Time as plain values. Pure code receives `now`; only adapters read the clock.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace dynmx {

using Clock = std::chrono::system_clock;
/// A point in wall-clock time (UTC), second precision is enough for everything we decide.
using TimePoint = std::chrono::time_point<Clock, std::chrono::seconds>;
/// A span of time in whole seconds.
using Duration = std::chrono::seconds;

/// Parse a human duration: "90s", "5m", "1h", "2d", "1h30m", or a bare number of seconds.
/// Returns nullopt on anything else (negative, empty, unknown unit, overflow).
std::optional<Duration> parseDuration(std::string_view text);

/// Format a duration for humans: "1h30m", "45s", "0s".
std::string formatDuration(Duration d);

/// RFC 3339 UTC, e.g. "2026-11-23T10:00:00Z".
std::string formatTime(TimePoint t);

/// Parse the output of formatTime back; nullopt on malformed input.
std::optional<TimePoint> parseTime(std::string_view text);

/// The monotonic clock behind every timer and every window (hold-down, grace, back-off,
/// retry): std::chrono::steady_clock, or the manual time a test installed (ManualTime).
struct MonotonicClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<MonotonicClock>;
  static constexpr bool is_steady = true;
  /// Now on the monotonic clock (never goes back, never jumps with the wall clock).
  static time_point now() noexcept;
};

/// Now as a TimePoint on the monotonic timeline: the wall time when the process first asked
/// plus the monotonic time since. A difference of two such values is a monotonic duration
/// (a stepped wall clock changes none), so every decision about a window uses this now.
TimePoint steadyNow();

/// The wall clock (or a test's manual wall): only for display and for what is persisted.
TimePoint wallNow();

/// Test control: while one exists, MonotonicClock, steadyNow and wallNow read manual time
/// that only advance() and stepWall() move, so a test runs days of simulated time through
/// the real objects (their timers fire on io_context::poll()). One at a time.
class ManualTime {
 public:
  /// Start both clocks: the wall at `wallStart`, steadyNow anchored there.
  explicit ManualTime(TimePoint wallStart);
  /// Back to the real clocks.
  ~ManualTime();
  ManualTime(const ManualTime&) = delete;
  ManualTime& operator=(const ManualTime&) = delete;
  /// Time passes: both clocks move forward by `d`.
  void advance(std::chrono::nanoseconds d);
  /// Someone steps the wall clock (NTP, an admin) by `d`, forward or back; the monotonic
  /// clock does not move.
  void stepWall(Duration d);

 private:
  long long wallCarryNs_ = 0;  ///< sub-second part of advance() not yet on the wall
};

/// Seconds since the epoch as a TimePoint.
inline TimePoint fromUnix(long long secs) { return TimePoint{Duration{secs}}; }
/// TimePoint as seconds since the epoch.
inline long long toUnix(TimePoint t) { return t.time_since_epoch().count(); }

}  // namespace dynmx
