// The clock seam: real steady/system clocks in production, manual time in tests.
#include <atomic>
#include <cassert>

#include "dynmx/time.hpp"

namespace dynmx {
namespace {

// Manual time is process-wide because asio asks a clock type (not an object) for now().
// Atomics: a test's thread sets it, TSan-checked timers may read it.
std::atomic<bool> gManual{false};
std::atomic<long long> gMonoNs{0};       ///< manual MonotonicClock, ns
std::atomic<long long> gWallSecs{0};     ///< manual wall clock, s since the epoch
std::atomic<long long> gAnchorWall{0};   ///< steadyNow's anchor while manual: wall s ...
std::atomic<long long> gAnchorMonoNs{0};  ///< ... at this monotonic ns

/// Where the manual monotonic clock starts: far enough from zero that a timer set to the
/// clock's epoch is in the past.
constexpr long long kManualMonoStartNs = 1'000'000LL * 1'000'000'000LL;

struct RealAnchor {
  TimePoint wall;
  MonotonicClock::time_point mono;
};

const RealAnchor& realAnchor() {
  static const RealAnchor a{std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()),
                            MonotonicClock::time_point{std::chrono::steady_clock::now().time_since_epoch()}};
  return a;
}

}  // namespace

MonotonicClock::time_point MonotonicClock::now() noexcept {
  if (gManual.load(std::memory_order_acquire)) return time_point{duration{gMonoNs.load()}};
  return time_point{std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch())};
}

TimePoint steadyNow() {
  if (gManual.load(std::memory_order_acquire)) {
    const auto since = std::chrono::nanoseconds{gMonoNs.load() - gAnchorMonoNs.load()};
    return fromUnix(gAnchorWall.load()) + std::chrono::duration_cast<Duration>(since);
  }
  const RealAnchor& a = realAnchor();
  return a.wall + std::chrono::duration_cast<Duration>(MonotonicClock::now() - a.mono);
}

TimePoint wallNow() {
  if (gManual.load(std::memory_order_acquire)) return fromUnix(gWallSecs.load());
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

ManualTime::ManualTime(TimePoint wallStart) {
  assert(!gManual.load() && "one ManualTime at a time");
  gMonoNs = kManualMonoStartNs;
  gWallSecs = toUnix(wallStart);
  gAnchorWall = toUnix(wallStart);
  gAnchorMonoNs = kManualMonoStartNs;
  gManual.store(true, std::memory_order_release);
}

ManualTime::~ManualTime() { gManual.store(false, std::memory_order_release); }

void ManualTime::advance(std::chrono::nanoseconds d) {
  gMonoNs += d.count();
  // The wall follows in whole seconds of the monotonic time since the anchor (plus steps).
  wallCarryNs_ += d.count();
  const long long whole = wallCarryNs_ / 1'000'000'000LL;
  wallCarryNs_ -= whole * 1'000'000'000LL;
  gWallSecs += whole;
}

void ManualTime::stepWall(Duration d) { gWallSecs += d.count(); }

}  // namespace dynmx

#include "dynmx/timer.hpp"

namespace dynmx {

MonotonicClock::duration MonotonicWaitTraits::to_wait_duration(const MonotonicClock::duration& d) {
  if (gManual.load(std::memory_order_acquire)) return MonotonicClock::duration::zero();
  return d;
}

MonotonicClock::duration MonotonicWaitTraits::to_wait_duration(const MonotonicClock::time_point& t) {
  if (gManual.load(std::memory_order_acquire)) return MonotonicClock::duration::zero();
  const auto now = MonotonicClock::now();
  return t > now ? t - now : MonotonicClock::duration::zero();
}

}  // namespace dynmx
