#pragma once
// A scripted world for the soak test: link (flaps and offline periods), public address,
// provider, DNS, hijacks as a deterministic timeline from a seed, and a checker that plays
// the provider and flags every request the rules forbid. Pure: time is a value.
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/time.hpp"

namespace dynmx::soak {

/// What the provider does with requests during an episode.
enum class ProviderFault { None, Error911, DnsErr, BadAuth, Timeout };

/// One scripted interval [from, until).
struct Episode {
  TimePoint from{};
  TimePoint until{};
  [[nodiscard]] bool covers(TimePoint t) const { return t >= from && t < until; }
};

/// A provider fault over an interval.
struct ProviderEpisode {
  Episode when;
  ProviderFault fault = ProviderFault::None;
};

/// An address change at a moment.
struct AddressChange {
  TimePoint at{};
  std::string address;
};

/// The whole period, generated up front from a seed so every run replays the same world.
struct Timeline {
  TimePoint start{};
  TimePoint end{};
  std::vector<Episode> linkDown;
  std::vector<AddressChange> addresses;        ///< sorted; the first is at `start`
  std::vector<ProviderEpisode> provider;       ///< non-overlapping
  std::vector<Episode> hijacks;                ///< DNS answers someone else's address
  std::vector<Episode> nameserversDown;        ///< no authoritative answer
  std::vector<TimePoint> configFixes;          ///< the admin fixes the account (new fingerprint)

  /// Build `days` days: link flaps and offline periods of hours, address changes every
  /// 2-6 h, 911/dnserr/timeout outages, a badauth episode fixed hours later every two
  /// weeks, two hijacks and a nameserver outage every week.
  static Timeline generate(std::uint32_t seed, TimePoint start, int days);

  [[nodiscard]] bool linkUp(TimePoint t) const;
  /// When the current link-down episode began (only meaningful while down).
  [[nodiscard]] TimePoint linkDownSince(TimePoint t) const;
  /// When the link last changed state (for LinkState::since).
  [[nodiscard]] TimePoint linkSince(TimePoint t) const;
  [[nodiscard]] std::string addressAt(TimePoint t) const;
  [[nodiscard]] ProviderFault providerFault(TimePoint t) const;
  [[nodiscard]] bool hijacked(TimePoint t) const;
  [[nodiscard]] bool nameserversAnswer(TimePoint t) const;
  /// How many config fixes happened at or before t (the fingerprint generation).
  [[nodiscard]] int configGeneration(TimePoint t) const;
  /// When the environment was last disturbed at or before t (any episode's start or end,
  /// an address change, a config fix): the liveness clock starts here.
  [[nodiscard]] TimePoint lastDisturbance(TimePoint t) const;
  /// True when nothing in the environment is wrong at t (what we published aside).
  [[nodiscard]] bool environmentHealthy(TimePoint t) const;
};

/// The address a hijacker publishes.
inline constexpr const char* kHijackAddress = "198.51.100.66";
/// What the provider publishes for a host held offline (offline=YES).
inline constexpr const char* kOfflineAddress = "192.0.2.250";
/// The most requests a host may send in any hour (a provider's abuse threshold).
inline constexpr int kMaxRequestsPerHostPerHour = 12;

/// One request the provider received.
struct SeenRequest {
  TimePoint at{};
  std::string host;
  std::string myip;
  std::string fingerprint;  ///< the credentials it came with (a config fix changes them)
  bool offline = false;     ///< offline=YES
};

/// The loopback provider's logic plus the rule checker: it answers per the timeline, keeps
/// the published record, and records every request that broke a rule.
class ProviderChecker {
 public:
  explicit ProviderChecker(const Timeline& timeline) : timeline_(timeline) {
    for (const char* w : {"good", "nochg", "911", "dnserr", "badauth", "timeout", "offline"}) replyWords_[w] = 0;
  }

  /// A reply: HTTP status, body, or a transport failure.
  struct Reply {
    int status = 200;
    std::string body;
    ddns::TransportFailure transport = ddns::TransportFailure::None;
  };

  /// Receive one update request at `now`, check it against the rules, and answer.
  Reply receive(const SeenRequest& req);

  /// The address the provider publishes for a host ("" = none yet).
  [[nodiscard]] std::string record(const std::string& host) const;
  /// Rule violations, one line each.
  [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
  /// How many requests arrived (counts, not copies: the soak measures the heap).
  [[nodiscard]] std::size_t requestCount() const { return requestCount_; }
  /// Count of replies with this word ("good", "911", "badauth", "timeout", ...).
  [[nodiscard]] int replies(const std::string& word) const;

 private:
  struct HostMemory {
    std::string record;                      ///< published address
    std::string confirmedToClient;           ///< last address answered good/nochg
    std::optional<TimePoint> serverErrorAt;  ///< last 911/dnserr reply
    std::optional<std::string> badauthFingerprint;  ///< set after badauth until a new config
    std::vector<TimePoint> recent;           ///< request times in the last hour
    std::optional<TimePoint> lastRequest;
  };
  const Timeline& timeline_;
  std::vector<std::pair<std::string, HostMemory>> hosts_;
  std::vector<std::string> violations_;
  std::size_t requestCount_ = 0;
  std::map<std::string, int> replyWords_;  ///< reply word -> count (keys fixed up front)
  HostMemory& memory(const std::string& host);
};

}  // namespace dynmx::soak
