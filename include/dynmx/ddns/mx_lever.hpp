#pragma once
// The DDNS engine as the dyndns2 MX lever sees it: intent down (the mx=/backmx= a host
// should carry), facts up (what the provider accepted, or which of its rules holds the
// request). The engine owns every request to the provider, so the lever never sends one.
#include <functional>
#include <optional>
#include <string>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// Where one host's wanted MX stands at the provider.
enum class MxPublicationState {
  Pending,   ///< not accepted yet; the next pass sends it
  Waiting,   ///< the provider's rules hold the request (back-off, minimum interval) until notBefore
  Accepted,  ///< the provider accepted exactly the wanted MX
  Refused,   ///< the host is disabled or the provider refused mx=: no request until the config changes
};

/// One host's MX wish and what became of it.
struct MxPublication {
  MxPublicationState state = MxPublicationState::Pending;
  std::string text;                     ///< the answer, or the rule that holds the request
  std::optional<TimePoint> acceptedAt;  ///< Accepted: when the provider accepted it
  std::optional<TimePoint> notBefore;   ///< Waiting: the earliest next request
  bool operator==(const MxPublication&) const = default;
};

/// The hosts' MX at a dyndns2 provider (real: ddns::Engine).
class HostMxLever {
 public:
  virtual ~HostMxLever() = default;
  /// `host` should carry `wanted` from its next request on; nullopt drops the wish (the
  /// provider's MX is then left as it is). A new wish sends a request even when the address
  /// did not change, within the provider's rules.
  virtual void wantMx(const std::string& host, std::optional<MxSetting> wanted) = 0;
  /// The authoritative servers contradict the MX the provider accepted for `host` (changed
  /// behind our back, or lost by the provider): send it again, once, and no sooner than
  /// kReassertInterval after the host's last request (as a contradicted address is).
  virtual void mxContradicted(const std::string& host) = 0;
  /// What became of the host's wish; nullopt when no dyndns2 account has the host.
  [[nodiscard]] virtual std::optional<MxPublication> mxPublication(const std::string& host) const = 0;
  /// `listener` runs after every pass (a publication may have changed); one listener.
  virtual void onMxFacts(std::function<void()> listener) = 0;
};

}  // namespace dynmx::ddns
