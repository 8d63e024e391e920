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

/// Seconds since the epoch as a TimePoint.
inline TimePoint fromUnix(long long secs) { return TimePoint{Duration{secs}}; }
/// TimePoint as seconds since the epoch.
inline long long toUnix(TimePoint t) { return t.time_since_epoch().count(); }

}  // namespace dynmx
