// Long flapping sequences: hours to days of link and DDNS changes fed to decide() with a
// simulated clock, its answer applied as the new current mode, exactly as the coordinator
// does. Every step is checked against the rules stated independently of decide():
//   - never back to direct less than the hold-down after entering multidrop;
//   - never direct while a failure has outlasted its threshold;
//   - always multidrop on a dial-up link (auto);
//   - reviewAt is honoured: one second before it, the answer is the same;
//   - and no needless leaving: direct stays while every failure is within its limit,
//     and multidrop returns as soon as the hold-down is over.
// A second driver wakes only on input changes and at reviewAt (as the daemon does); it
// must produce exactly the same switches as polling every second.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "fixtures.hpp"

namespace dynmx::mail::test {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// An input change at a point in time.
struct Event {
  enum class What { LinkUp, LinkDown, DdnsHealthy, DdnsFailing, DdnsUnknown, DdnsDisabled };
  TimePoint at;
  What what;
  std::string code;  // DdnsFailing: the engine's code
};

// Everything the daemon would hold between decisions.
struct World {
  Policy policy;
  LinkState link;
  DdnsHealth ddns;
  CurrentMode current;
};

void apply(World& w, const Event& e) {
  auto setLink = [&](bool up) {
    if (w.link.up != up) w.link = {w.link.type, up, e.at};
  };
  auto setDdns = [&](DdnsState s, const std::string& code) {
    // Like the DDNS engine: `since` moves only when the state (or failing code) changes.
    if (w.ddns.state != s || w.ddns.code != code)
      w.ddns = {s, e.at, code, code.empty() ? "" : "simulated " + code};
  };
  switch (e.what) {
    case Event::What::LinkUp:
      setLink(true);
      break;
    case Event::What::LinkDown:
      setLink(false);
      break;
    case Event::What::DdnsHealthy:
      setDdns(DdnsState::Healthy, "");
      break;
    case Event::What::DdnsFailing:
      setDdns(DdnsState::Failing, e.code);
      break;
    case Event::What::DdnsUnknown:
      setDdns(DdnsState::Unknown, "");
      break;
    case Event::What::DdnsDisabled:
      setDdns(DdnsState::Disabled, "");
      break;
  }
}

Decision decideAt(const World& w, TimePoint now) {
  DecisionInput in;
  in.policy = &w.policy;
  in.link = w.link;
  in.ddns = w.ddns;
  in.current = w.current;
  in.now = now;
  return decide(in);
}

std::string at(TimePoint t, TimePoint start) {
  return "t0+" + formatDuration(t - start);
}

// The rules, stated on their own (not by calling into decide's internals). Returns the
// first violation as text, empty when the step is fine.
std::string violation(const World& w, TimePoint now, const Decision& d) {
  const HealthSection& h = w.policy.health;
  if (d.reasons.empty()) return "no reasons";
  if (d.reviewAt) {
    if (*d.reviewAt <= now) return "reviewAt not in the future";
    const Decision before = decideAt(w, *d.reviewAt - seconds(1));
    if (before.mode != d.mode || codesOf(before) != codesOf(d)) return "answer changed before reviewAt";
  }
  const MailPolicy policy = w.policy.mail.mode;
  if (policy == MailPolicy::Direct) return d.mode == MailMode::Direct ? "" : "policy direct not honoured";
  if (policy == MailPolicy::Multidrop)
    return d.mode == MailMode::Multidrop ? "" : "policy multidrop not honoured";

  const bool isStatic = w.policy.ddns.staticAddress.has_value();
  const bool dedicated = w.link.type == LinkType::Dedicated;
  const bool linkOver = !w.link.up && now - w.link.since >= h.linkDownMax;
  const bool ddnsStructural = !isStatic && (!w.policy.ddns.enabled || w.ddns.state == DdnsState::Disabled);
  const bool ddnsBad =
      !isStatic && (w.ddns.state == DdnsState::Failing || w.ddns.state == DdnsState::Unknown);
  const bool ddnsOver = ddnsBad && now - w.ddns.since >= h.ddnsFailingMax;
  const bool healthy = dedicated && w.link.up && !ddnsStructural && !ddnsBad;

  if (d.mode == MailMode::Direct) {
    if (!dedicated) return "direct on a non-dedicated link";
    if (linkOver) return "direct while the link is down beyond linkDownMax";
    if (ddnsStructural) return "direct with DDNS disabled and no static address";
    if (ddnsOver) return "direct while DDNS is failing beyond ddnsFailingMax";
    if (w.current.mode == MailMode::Multidrop) {
      if (now - w.current.since < h.holdDown)
        return "back to direct within the hold-down of entering multidrop";
      if (now - w.link.since < h.holdDown) return "back to direct before the link was up for the hold-down";
      if (!isStatic && now - w.ddns.since < h.holdDown)
        return "back to direct before DDNS was healthy for the hold-down";
    }
  } else {
    const bool mayStay = dedicated && !ddnsStructural && !linkOver && !ddnsOver;
    if (w.current.mode == MailMode::Direct && mayStay)
      return "left direct before any failure outlasted its limit";
    TimePoint ready = std::max(w.link.since, w.current.since);
    if (!isStatic) ready = std::max(ready, w.ddns.since);
    if (w.current.mode == MailMode::Multidrop && healthy && now >= ready + h.holdDown)
      return "stayed multidrop after the hold-down was over";
  }
  return "";
}

struct Switch {
  TimePoint at;
  MailMode to;
  bool operator==(const Switch&) const = default;
};

struct SimRun {
  std::vector<Switch> switches;
  std::string violation;  // first one, with its time
  long decisions = 0;
};

// Poll every second from `start` to `end`, checking every step.
SimRun runPolling(World w, const std::vector<Event>& events, TimePoint start, TimePoint end) {
  SimRun r;
  std::size_t next = 0;
  for (TimePoint t = start; t < end; t += seconds(1)) {
    while (next < events.size() && events[next].at <= t) apply(w, events[next++]);
    const Decision d = decideAt(w, t);
    ++r.decisions;
    if (std::string v = violation(w, t, d); !v.empty()) {
      r.violation = at(t, start) + ": " + v + "\n" + explain(d);
      return r;
    }
    if (d.mode != w.current.mode) {
      r.switches.push_back({t, d.mode});
      w.current = {d.mode, t};
    }
  }
  return r;
}

// Wake only when an input changes or at reviewAt, as the daemon's timer does.
SimRun runEventDriven(World w, const std::vector<Event>& events, TimePoint start, TimePoint end) {
  SimRun r;
  std::size_t next = 0;
  TimePoint t = start;
  while (t < end) {
    while (next < events.size() && events[next].at <= t) apply(w, events[next++]);
    Decision d = decideAt(w, t);
    ++r.decisions;
    if (d.mode != w.current.mode) {
      r.switches.push_back({t, d.mode});
      w.current = {d.mode, t};
      d = decideAt(w, t);  // the timer is re-armed from the answer for the new mode
      if (d.mode != w.current.mode) {
        r.violation = at(t, start) + ": decision flips on its own output";
        return r;
      }
    }
    TimePoint wake = end;
    if (next < events.size()) wake = std::min(wake, events[next].at);
    if (d.reviewAt) wake = std::min(wake, *d.reviewAt);
    t = wake;
  }
  return r;
}

// Alternating spells of random length: on/off events from `start` to `end`.
template <typename MakeOn, typename MakeOff>
void spells(std::mt19937& rng, std::vector<Event>& out, TimePoint start, TimePoint end, Duration onMin,
            Duration onMax, Duration offMin, Duration offMax, MakeOn on, MakeOff off) {
  std::uniform_int_distribution<long long> onLen(onMin.count(), onMax.count());
  std::uniform_int_distribution<long long> offLen(offMin.count(), offMax.count());
  TimePoint t = start;
  bool isOn = true;
  while (true) {
    t += seconds(isOn ? onLen(rng) : offLen(rng));
    if (t >= end) break;
    isOn = !isOn;
    out.push_back(isOn ? on(t) : off(t));
  }
}

void sortEvents(std::vector<Event>& events) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
}

World healthyWorld(MailPolicy mode, MailMode current, TimePoint start) {
  World w{makePolicy(mode), {}, {}, {}};
  w.link = {LinkType::Dedicated, true, start - days(1)};
  w.ddns = {DdnsState::Healthy, start - days(1), "", ""};
  w.current = {current, start - days(1)};
  return w;
}

// The minimum time from entering multidrop to returning to direct, over a run.
std::optional<Duration> shortestMultidropSpell(const std::vector<Switch>& switches) {
  std::optional<Duration> shortest;
  for (std::size_t i = 0; i + 1 < switches.size(); ++i) {
    if (switches[i].to != MailMode::Multidrop) continue;
    const Duration spell = switches[i + 1].at - switches[i].at;
    if (!shortest || spell < *shortest) shortest = spell;
  }
  return shortest;
}

long count(const std::vector<Switch>& switches, MailMode to) {
  return std::count_if(switches.begin(), switches.end(), [&](const Switch& s) { return s.to == to; });
}

Event linkEvent(TimePoint t, bool up) {
  return {t, up ? Event::What::LinkUp : Event::What::LinkDown, ""};
}

const TimePoint kStart = kT0;

TEST(Flapping, LinkFlapsEvery30sDirectRidesItOut) {
  World w = healthyWorld(MailPolicy::Auto, MailMode::Direct, kStart);
  std::vector<Event> events;
  for (int k = 1; k <= 2 * 60 * 24; ++k) events.push_back(linkEvent(kStart + seconds(30 * k), k % 2 == 0));
  const SimRun polled = runPolling(w, events, kStart, kStart + days(1) + hours(1));
  ASSERT_EQ(polled.violation, "");
  EXPECT_TRUE(polled.switches.empty()) << "30s outages are all within the 2m link limit";
  EXPECT_GT(polled.decisions, 86400);
}

TEST(Flapping, LinkFlapsEvery30sPastAShortLimitThenSettles) {
  World w = healthyWorld(MailPolicy::Auto, MailMode::Direct, kStart);
  w.policy.health.linkDownMax = seconds(20);
  std::vector<Event> events;
  // Flaps for 12h (down at odd multiples of 30s), then stays up from t0+12h.
  for (int k = 1; k <= 2 * 60 * 12; ++k) events.push_back(linkEvent(kStart + seconds(30 * k), k % 2 == 0));
  const TimePoint end = kStart + days(1);
  const SimRun polled = runPolling(w, events, kStart, end);
  ASSERT_EQ(polled.violation, "");
  const std::vector<Switch> expected = {{kStart + seconds(50), MailMode::Multidrop},
                                        {kStart + hours(13), MailMode::Direct}};
  EXPECT_EQ(polled.switches, expected);
  const SimRun woken = runEventDriven(w, events, kStart, end);
  ASSERT_EQ(woken.violation, "");
  EXPECT_EQ(woken.switches, polled.switches);
  EXPECT_LT(woken.decisions, polled.decisions / 10) << "reviewAt lets the daemon sleep";
}

TEST(Flapping, DdnsAlternatesHealthyAndFailing) {
  std::mt19937 rng(20270115);
  World w = healthyWorld(MailPolicy::Auto, MailMode::Direct, kStart);
  const TimePoint end = kStart + days(3);
  std::vector<Event> events;
  const char* codes[] = {"ddns.mismatch", "ddns.provider_retrying", "ddns.resolution_failing"};
  std::uniform_int_distribution<int> pick(0, 2);
  spells(
      rng, events, kStart, end, seconds(1), hours(3), seconds(1), minutes(12),
      [](TimePoint t) {
        return Event{t, Event::What::DdnsHealthy, ""};
      },
      [&](TimePoint t) {
        return Event{t, Event::What::DdnsFailing, codes[pick(rng)]};
      });
  sortEvents(events);
  const SimRun polled = runPolling(w, events, kStart, end);
  ASSERT_EQ(polled.violation, "");
  EXPECT_GE(count(polled.switches, MailMode::Multidrop), 2) << "the sequence must exercise leaving";
  EXPECT_GE(count(polled.switches, MailMode::Direct), 2) << "the sequence must exercise returning";
  ASSERT_TRUE(shortestMultidropSpell(polled.switches).has_value());
  EXPECT_GE(*shortestMultidropSpell(polled.switches), w.policy.health.holdDown);
  const SimRun woken = runEventDriven(w, events, kStart, end);
  ASSERT_EQ(woken.violation, "");
  EXPECT_EQ(woken.switches, polled.switches);
}

// Link and DDNS both misbehave independently, DDNS also passing through "unknown".
class RandomChaos : public ::testing::TestWithParam<unsigned> {};

TEST_P(RandomChaos, InvariantsHoldAndReviewAtSuffices) {
  std::mt19937 rng(GetParam());
  World w = healthyWorld(MailPolicy::Auto, MailMode::Multidrop, kStart);
  w.current.since = kStart;
  const TimePoint end = kStart + days(2);
  std::vector<Event> events;
  spells(
      rng, events, kStart, end, seconds(1), hours(2), seconds(1), minutes(4),
      [](TimePoint t) { return linkEvent(t, true); }, [](TimePoint t) { return linkEvent(t, false); });
  std::uniform_int_distribution<int> coin(0, 1);
  spells(
      rng, events, kStart, end, seconds(1), hours(3), seconds(1), minutes(8),
      [](TimePoint t) {
        return Event{t, Event::What::DdnsHealthy, ""};
      },
      [&](TimePoint t) {
        return coin(rng) ? Event{t, Event::What::DdnsUnknown, ""}
                         : Event{t, Event::What::DdnsFailing, "ddns.mismatch"};
      });
  sortEvents(events);
  const SimRun polled = runPolling(w, events, kStart, end);
  ASSERT_EQ(polled.violation, "");
  EXPECT_GE(count(polled.switches, MailMode::Direct), 1);
  EXPECT_GE(count(polled.switches, MailMode::Multidrop), 1);
  if (auto shortest = shortestMultidropSpell(polled.switches)) {
    EXPECT_GE(*shortest, w.policy.health.holdDown);
  }
  if (!polled.switches.empty() && polled.switches.front().to == MailMode::Direct) {
    EXPECT_GE(polled.switches.front().at - kStart, w.policy.health.holdDown);
  }
  const SimRun woken = runEventDriven(w, events, kStart, end);
  ASSERT_EQ(woken.violation, "");
  EXPECT_EQ(woken.switches, polled.switches);
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomChaos, ::testing::Values(1u, 7u, 4242u));

TEST(Flapping, DialupIsAlwaysMultidrop) {
  std::mt19937 rng(99);
  World w = healthyWorld(MailPolicy::Auto, MailMode::Direct, kStart);
  w.link.type = LinkType::Dialup;
  const TimePoint end = kStart + days(2);
  std::vector<Event> events;
  spells(
      rng, events, kStart, end, minutes(5), hours(2), minutes(1), hours(2),
      [](TimePoint t) { return linkEvent(t, true); }, [](TimePoint t) { return linkEvent(t, false); });
  const SimRun polled = runPolling(w, events, kStart, end);
  ASSERT_EQ(polled.violation, "");
  const std::vector<Switch> expected = {
      {kStart, MailMode::Multidrop}};  // leaves direct at once, never returns
  EXPECT_EQ(polled.switches, expected);
}

TEST(Flapping, StaticAddressIgnoresDdnsChaos) {
  std::mt19937 rng(5);
  World w = healthyWorld(MailPolicy::Auto, MailMode::Multidrop, kStart);
  w.policy.ddns.staticAddress = "203.0.113.7";
  w.current.since = kStart;
  const TimePoint end = kStart + days(1);
  std::vector<Event> events;
  spells(
      rng, events, kStart, end, seconds(1), minutes(30), seconds(1), hours(1),
      [](TimePoint t) {
        return Event{t, Event::What::DdnsHealthy, ""};
      },
      [](TimePoint t) {
        return Event{t, Event::What::DdnsDisabled, ""};
      });
  spells(
      rng, events, kStart, end, seconds(1), minutes(30), seconds(1), hours(1),
      [](TimePoint t) {
        return Event{t, Event::What::DdnsUnknown, ""};
      },
      [](TimePoint t) {
        return Event{t, Event::What::DdnsFailing, "ddns.mismatch"};
      });
  sortEvents(events);
  const SimRun polled = runPolling(w, events, kStart, end);
  ASSERT_EQ(polled.violation, "");
  const std::vector<Switch> expected = {{kStart + hours(1), MailMode::Direct}};
  EXPECT_EQ(polled.switches, expected);
}

TEST(Flapping, ExplicitPoliciesIgnoreChaos) {
  for (MailPolicy mode : {MailPolicy::Direct, MailPolicy::Multidrop}) {
    std::mt19937 rng(11);
    World w = healthyWorld(mode, MailMode::Multidrop, kStart);
    const TimePoint end = kStart + hours(12);
    std::vector<Event> events;
    spells(
        rng, events, kStart, end, seconds(1), minutes(20), seconds(1), minutes(20),
        [](TimePoint t) { return linkEvent(t, true); }, [](TimePoint t) { return linkEvent(t, false); });
    spells(
        rng, events, kStart, end, seconds(1), minutes(20), seconds(1), minutes(20),
        [](TimePoint t) {
          return Event{t, Event::What::DdnsHealthy, ""};
        },
        [](TimePoint t) {
          return Event{t, Event::What::DdnsFailing, "ddns.mismatch"};
        });
    sortEvents(events);
    const char* label = mode == MailPolicy::Direct ? "policy direct" : "policy multidrop";
    const SimRun polled = runPolling(w, events, kStart, end);
    ASSERT_EQ(polled.violation, "") << label;
    EXPECT_EQ(polled.switches.size(), mode == MailPolicy::Direct ? 1U : 0U) << label;
  }
}

}  // namespace
}  // namespace dynmx::mail::test
