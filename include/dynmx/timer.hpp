#pragma once
// The one timer type of the coordinator, the fetchmail supervisor and the DDNS engine: an
// asio timer on dynmx::MonotonicClock, so a test's ManualTime drives it (see time.hpp).
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/wait_traits.hpp>

#include "dynmx/time.hpp"

namespace dynmx {

/// How long the reactor really sleeps for a timer. Under manual time it never sleeps on a
/// timer (the manual clock moves only when the test says so, and the next poll() must see
/// every timer that became due); on the real clock it sleeps the remaining time.
struct MonotonicWaitTraits {
  static MonotonicClock::duration to_wait_duration(const MonotonicClock::duration& d);
  static MonotonicClock::duration to_wait_duration(const MonotonicClock::time_point& t);
};

/// A timer on the monotonic clock.
using Timer = boost::asio::basic_waitable_timer<MonotonicClock, MonotonicWaitTraits>;

}  // namespace dynmx
