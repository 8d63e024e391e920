#include "world.hpp"

#include <algorithm>

namespace dynmx::soak {

namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

struct Dice {
  std::mt19937 rng;
  Duration between(Duration lo, Duration hi) {
    std::uniform_int_distribution<long long> d(lo.count(), hi.count());
    return Duration{d(rng)};
  }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
};

bool inAny(const std::vector<Episode>& eps, TimePoint t) {
  return std::any_of(eps.begin(), eps.end(), [t](const Episode& e) { return e.covers(t); });
}

}  // namespace

Timeline Timeline::generate(std::uint32_t seed, TimePoint start, int days) {
  Dice dice{std::mt19937(seed)};
  Timeline tl;
  tl.start = start;
  tl.end = start + hours(24 * days);

  // Link flaps: some shorter than linkDownMax (2m, grace), some longer, and now and then
  // the office is offline for hours.
  for (TimePoint t = start + dice.between(hours(2), hours(6)); t < tl.end;
       t += dice.between(hours(3), hours(10))) {
    const int kind = dice.pick(6);
    const Duration down = kind < 3   ? dice.between(seconds(30), seconds(100))
                          : kind < 5 ? dice.between(minutes(3), minutes(20))
                                     : dice.between(hours(2), hours(8));
    tl.linkDown.push_back({t, t + down});
    t += down;
  }

  // Provider outages, back to back with quiet stretches; a badauth episode every two weeks,
  // fixed by the admin hours later (new password file = new fingerprint).
  TimePoint nextBadauth = start + hours(60);
  for (TimePoint t = start + dice.between(hours(6), hours(14)); t < tl.end;
       t += dice.between(hours(8), hours(20))) {
    ProviderEpisode e;
    if (t > nextBadauth) {
      e.fault = ProviderFault::BadAuth;
      e.when = {t, t + dice.between(hours(2), hours(6))};
      tl.configFixes.push_back(e.when.until);
      nextBadauth = t + hours(24 * 14);
    } else {
      static constexpr ProviderFault kinds[] = {ProviderFault::Error911, ProviderFault::DnsErr,
                                                ProviderFault::Timeout};
      e.fault = kinds[dice.pick(3)];
      e.when = {t, t + dice.between(minutes(20), hours(3))};
    }
    tl.provider.push_back(e);
    t = e.when.until;
  }

  // Address changes every 2-6 hours, and one inside each provider episode so the outage
  // actually meets a request. Sometimes an old address comes back.
  std::vector<std::string> used{"203.0.113.10"};
  tl.addresses.push_back({start, used.front()});
  std::vector<TimePoint> changes;
  for (TimePoint t = start + dice.between(hours(2), hours(6)); t < tl.end;
       t += dice.between(hours(2), hours(6)))
    changes.push_back(t);
  for (const auto& e : tl.provider) changes.push_back(e.when.from + minutes(10));
  std::sort(changes.begin(), changes.end());
  for (TimePoint t : changes) {
    std::string next;
    if (used.size() > 2 && dice.pick(4) == 0) {
      next = used[static_cast<std::size_t>(dice.pick(static_cast<int>(used.size())))];
    } else {
      const char* net = dice.pick(2) == 0 ? "203.0.113." : "198.51.100.";
      next = net + std::to_string(1 + dice.pick(60));
      used.push_back(next);
    }
    if (next == tl.addresses.back().address || next == kHijackAddress) continue;
    tl.addresses.push_back({t, next});
  }

  // Two hijacks and one nameserver outage a week.
  for (int week = 0; week * 7 < days; ++week) {
    for (int day : {2, 5}) {
      if (week * 7 + day >= days) continue;
      const TimePoint from = start + hours(24 * (week * 7 + day)) + dice.between(hours(1), hours(20));
      tl.hijacks.push_back({from, from + dice.between(hours(1), hours(3))});
    }
    if (week * 7 + 4 >= days) continue;
    const TimePoint nsFrom = start + hours(24 * (week * 7 + 4)) + dice.between(hours(1), hours(20));
    tl.nameserversDown.push_back({nsFrom, nsFrom + dice.between(minutes(20), minutes(90))});
  }
  return tl;
}

TimePoint Timeline::lastDisturbance(TimePoint t) const {
  TimePoint last = start;
  auto see = [&](TimePoint x) {
    if (x <= t && x > last) last = x;
  };
  for (const auto* eps : {&linkDown, &hijacks, &nameserversDown})
    for (const auto& e : *eps) {
      see(e.from);
      see(e.until);
    }
  for (const auto& e : provider) {
    see(e.when.from);
    see(e.when.until);
  }
  for (const auto& a : addresses) see(a.at);
  for (TimePoint f : configFixes) see(f);
  return last;
}

bool Timeline::environmentHealthy(TimePoint t) const {
  return linkUp(t) && providerFault(t) == ProviderFault::None && !hijacked(t) && nameserversAnswer(t);
}

bool Timeline::linkUp(TimePoint t) const { return !inAny(linkDown, t); }

TimePoint Timeline::linkDownSince(TimePoint t) const {
  for (const auto& e : linkDown)
    if (e.covers(t)) return e.from;
  return t;
}

TimePoint Timeline::linkSince(TimePoint t) const {
  TimePoint since = start - hours(24);
  for (const auto& e : linkDown) {
    if (e.from <= t) since = e.from;
    if (e.until <= t) since = e.until;
  }
  return since;
}

std::string Timeline::addressAt(TimePoint t) const {
  std::string a = addresses.front().address;
  for (const auto& c : addresses)
    if (c.at <= t) a = c.address;
  return a;
}

ProviderFault Timeline::providerFault(TimePoint t) const {
  for (const auto& e : provider)
    if (e.when.covers(t)) return e.fault;
  return ProviderFault::None;
}

bool Timeline::hijacked(TimePoint t) const { return inAny(hijacks, t); }

bool Timeline::nameserversAnswer(TimePoint t) const { return !inAny(nameserversDown, t); }

int Timeline::configGeneration(TimePoint t) const {
  return static_cast<int>(std::count_if(configFixes.begin(), configFixes.end(),
                                        [t](TimePoint f) { return f <= t; }));
}

ProviderChecker::HostMemory& ProviderChecker::memory(const std::string& host) {
  for (auto& [h, m] : hosts_)
    if (h == host) return m;
  hosts_.emplace_back(host, HostMemory{});
  return hosts_.back().second;
}

std::string ProviderChecker::record(const std::string& host) const {
  for (const auto& [h, m] : hosts_)
    if (h == host) return m.record;
  return {};
}

int ProviderChecker::replies(const std::string& word) const {
  const auto it = replyWords_.find(word);
  return it == replyWords_.end() ? 0 : it->second;
}

ProviderChecker::Reply ProviderChecker::receive(const SeenRequest& req) {
  ++requestCount_;
  HostMemory& m = memory(req.host);
  const std::string when = formatTime(req.at);
  // The rules a provider bans clients for.
  if (m.serverErrorAt && req.at < *m.serverErrorAt + ddns::kMinServerErrorRetry)
    violations_.push_back(when + " " + req.host + ": request within 30 min after 911/dnserr at " +
                          formatTime(*m.serverErrorAt));
  if (m.badauthFingerprint && *m.badauthFingerprint == req.fingerprint)
    violations_.push_back(when + " " + req.host +
                          ": request after badauth with the same configuration");
  // A client re-asserts a confirmed address only when the zone contradicts it, and at most
  // every 30 minutes (more would be the repeated nochg that gets hosts blocked).
  if (!req.offline && !m.confirmedToClient.empty() && req.myip == m.confirmedToClient && m.lastRequest &&
      req.at < *m.lastRequest + std::chrono::minutes(30))
    violations_.push_back(when + " " + req.host + ": re-sent the confirmed address " + req.myip +
                          " within 30 min of the previous request");
  m.recent.push_back(req.at);
  m.recent.erase(std::remove_if(m.recent.begin(), m.recent.end(),
                                [&](TimePoint x) { return x <= req.at - std::chrono::hours(1); }),
                 m.recent.end());
  if (static_cast<int>(m.recent.size()) > kMaxRequestsPerHostPerHour)
    violations_.push_back(when + " " + req.host + ": " + std::to_string(m.recent.size()) +
                          " requests within an hour");
  m.lastRequest = req.at;

  Reply r;
  switch (timeline_.providerFault(req.at)) {
    case ProviderFault::None: {
      m.badauthFingerprint.reset();
      if (req.offline) {
        m.record = kOfflineAddress;
        m.confirmedToClient.clear();
        r.body = "good " + req.myip;
        ++replyWords_["offline"];
        break;
      }
      const bool same = m.record == req.myip;
      m.record = req.myip;
      m.confirmedToClient = req.myip;
      r.body = (same ? "nochg " : "good ") + req.myip;
      ++replyWords_[same ? "nochg" : "good"];
      break;
    }
    case ProviderFault::Error911:
      m.serverErrorAt = req.at;
      r.body = "911";
      ++replyWords_["911"];
      break;
    case ProviderFault::DnsErr:
      m.serverErrorAt = req.at;
      r.body = "dnserr";
      ++replyWords_["dnserr"];
      break;
    case ProviderFault::BadAuth:
      m.badauthFingerprint = req.fingerprint;
      r.body = "badauth";
      ++replyWords_["badauth"];
      break;
    case ProviderFault::Timeout:
      // The worst case: the provider acted, but the reply never arrived.
      m.record = req.offline ? kOfflineAddress : req.myip;
      r.transport = ddns::TransportFailure::Timeout;
      ++replyWords_["timeout"];
      break;
  }
  return r;
}

}  // namespace dynmx::soak
