#pragma once
// DDNS health: compare what the zone's authoritative servers publish with what we sent,
// combine that with the provider state, and produce the verdict maildecision consumes.
// Pure: observations and `now` come in as values; the previous verdict keeps "since" stable.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dynmx/ddns/address.hpp"
#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/state.hpp"
#include "dynmx/maildecision.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// Longest grace we allow for a record's TTL after our update (a silly TTL must not hide a
/// hijack for days).
inline constexpr Duration kMaxTtlGrace = std::chrono::hours(1);

/// What one authoritative server said about a host (A and AAAA together).
struct ServerAnswer {
  std::string server;                  ///< "ns1.example.net (192.0.2.53:53)", for texts
  bool answered = false;               ///< an authoritative answer came (NXDOMAIN/NODATA count, empty)
  std::vector<std::string> addresses;  ///< the records' addresses
  std::uint32_t ttl = 0;               ///< smallest TTL among the records
  std::string error;                   ///< why there is no answer (timeout, refused, ...)
};

/// One verification round for one host.
struct Observation {
  std::string account;
  std::string host;
  AddressSet expected;               ///< what should be published
  std::vector<ServerAnswer> answers; ///< one per authoritative server asked
  TimePoint at{};                    ///< when the answers were collected
};

/// The comparison result for one host.
enum class VerifyOutcome {
  Verified,           ///< every answering server publishes exactly the expected addresses
  Mismatch,           ///< some server publishes something else (or nothing)
  ResolutionFailing,  ///< no server gave an answer
};

/// The comparison with its explanation.
struct HostVerification {
  VerifyOutcome outcome = VerifyOutcome::ResolutionFailing;
  std::string text;         ///< "office.example.com resolves to 198.51.100.9 at ns1, expected ..."
  std::uint32_t ttl = 0;    ///< largest TTL among mismatching answers (for the grace period)
};

/// Compare one observation with its expected addresses. Servers that failed while others
/// answered are named in the text but do not fail the host.
HostVerification verifyHost(const Observation& obs);

/// Everything the health verdict looks at.
struct HealthInput {
  bool enabled = true;                              ///< [ddns] enabled and accounts configured
  std::vector<std::pair<std::string, std::string>> hosts;  ///< configured (account, host)
  const StateStore* states = nullptr;               ///< provider state per host (may be null)
  std::vector<Observation> observations;            ///< latest verification per host
  std::optional<NatReport> nat;                     ///< from address detection
  mail::DdnsHealth previous;                        ///< the last verdict, for stable "since"
  TimePoint now{};
};

/// The aggregate verdict. Failing codes, most severe first: "ddns.cgnat",
/// "ddns.provider_fatal", "ddns.provider_retrying", "ddns.mismatch",
/// "ddns.resolution_failing". A mismatch within the record's TTL after our last successful
/// update is not counted (grace); while only such hosts are undecided, the previous verdict
/// stands.
mail::DdnsHealth evaluateHealth(const HealthInput& in);

/// "verified" / "mismatch" / "resolution-failing".
const char* toString(VerifyOutcome o);

}  // namespace dynmx::ddns
