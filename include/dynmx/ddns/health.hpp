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

/// What the coordinator wants the world to see for our hosts: our address, or not.
enum class AddressIntent {
  Publish,   ///< the hosts resolve to our address (mail may come direct)
  Withdraw,  ///< hosts whose provider allows it are taken offline (mail is on multidrop)
};

/// What one authoritative server said about a host (A and AAAA together).
struct ServerAnswer {
  std::string server;                  ///< "ns1.example.net (192.0.2.53:53)", for texts
  bool answered = false;               ///< an answer came (NXDOMAIN/NODATA count, empty)
  std::vector<std::string> addresses;  ///< the records' addresses
  std::uint32_t ttl = 0;               ///< smallest TTL among the records
  std::string error;                   ///< why there is no answer (timeout, refused, ...)
  bool authoritative = false;          ///< the AA bit was set: without it an answer proves nothing
  /// An A or AAAA question answered NXDOMAIN/NODATA: how long resolvers may cache that
  /// absence (RFC 2308; the larger of the two), nullopt without an SOA to say so.
  std::optional<std::uint32_t> negativeTtl;
};

/// One verification round for one host.
struct Observation {
  std::string account;
  std::string host;
  AddressSet expected;               ///< Publish: what should be published; Withdraw: the old address
  std::vector<ServerAnswer> answers; ///< one per authoritative server asked
  TimePoint at{};                    ///< when the answers were collected
  AddressIntent intent = AddressIntent::Publish;  ///< what the answers are checked against
};

/// The comparison result for one host.
enum class VerifyOutcome {
  Verified,           ///< Publish: every authoritative answer is exactly the expected addresses;
                      ///< Withdraw: no authoritative answer names the old address
  Mismatch,           ///< some server publishes something else (or still the old address)
  ResolutionFailing,  ///< no server gave an authoritative answer
};

/// The comparison with its explanation.
struct HostVerification {
  VerifyOutcome outcome = VerifyOutcome::ResolutionFailing;
  std::string text;         ///< "office.example.com resolves to 198.51.100.9 at ns1, expected ..."
  std::uint32_t ttl = 0;    ///< largest TTL among mismatching answers (for the grace period)
  /// Withdraw, verified: how long senders' resolvers may keep what the withdrawal left (the
  /// negative-caching TTL of an absent record, or the TTL of records naming other addresses),
  /// largest across servers. Senders that cached it during the withdrawal do not find our
  /// address again until it runs out, so the way back waits for it.
  std::uint32_t cacheTtl = 0;
};

/// Compare one observation with its expected addresses. Servers that failed while others
/// answered are named in the text but do not fail the host; an answer without the AA bit
/// counts as a failed server (a cache or a forwarder proves nothing about the zone).
HostVerification verifyHost(const Observation& obs);

/// One host judged against the intent: the one typed model of "is this host fine", shared by
/// the engine's pass report, its status and the aggregate verdict below.
enum class HostCondition {
  Verified,           ///< Publish: every authoritative server shows what we sent
  Withdrawn,          ///< Withdraw: verified, no authoritative server names our old address
  WithdrawalPending,  ///< Withdraw: not sent yet, or not yet seen at every server
  Pending,            ///< not checked yet
  Grace,              ///< a mismatch within the TTL grace after our update (caches catch up)
  NoAddress,          ///< Withdraw: no publishable address known to come back with
  Stale,              ///< a record names an address we no longer hold (link down, address gone)
  ResolutionFailing,  ///< no authoritative answer
  Mismatch,           ///< a server publishes something else, past the grace
  ProviderRetrying,   ///< the provider's last answer was a failure; back-off running
  ProviderFatal,      ///< disabled by a fatal answer until the configuration changes
};

/// A host's judgement with its explanation.
struct HostHealth {
  std::string account;
  std::string host;
  HostCondition condition = HostCondition::Pending;
  std::string text;   ///< the sentence for status and the pass table
  TimePoint since{};  ///< when the condition was observed or began
  /// Withdraw: no authoritative server names our old address any more. Also true under
  /// NoAddress: during an outage the withdrawal is a fact of its own, reported while direct
  /// cannot come back.
  bool withdrawalVerified = false;
  /// Nothing wrong with this host (Verified, Withdrawn, or within the TTL grace).
  [[nodiscard]] bool fine() const;
  /// The host shows the intent at every authoritative server (Verified, or the withdrawal
  /// verified, with or without an address to come back with).
  [[nodiscard]] bool intentMet() const;
};

/// Everything the health verdict looks at.
struct HealthInput {
  bool enabled = true;                              ///< [ddns] enabled and accounts configured
  std::vector<std::pair<std::string, std::string>> hosts;  ///< configured (account, host)
  const StateStore* states = nullptr;               ///< provider state per host (may be null)
  std::vector<Observation> observations;            ///< latest verification per host
  std::optional<NatReport> nat;                     ///< from address detection
  mail::DdnsHealth previous;                        ///< the last verdict, for stable "since"
  TimePoint now{};
  /// Hosts the intent withdraws (Withdraw, and their provider can take them offline).
  /// They are judged by what direct needs to come back: a usable provider and an address.
  std::vector<std::pair<std::string, std::string>> withdrawing;
  /// The address we would publish now (nullopt: none known).
  std::optional<AddressSet> current;
  /// Non-empty: we know we no longer hold the published address (why, e.g. "eth0 is down").
  std::string addressLost;
};

/// Judge every configured host against the intent (same order as `in.hosts`).
std::vector<HostHealth> judgeHosts(const HealthInput& in);

/// The aggregate verdict. Failing codes, most severe first: "ddns.cgnat",
/// "ddns.provider_fatal", "ddns.provider_retrying", "ddns.mismatch",
/// "ddns.resolution_failing". A mismatch within the record's TTL after our last successful
/// update is not counted (grace); while only such hosts are undecided, the previous verdict
/// stands.
mail::DdnsHealth evaluateHealth(const HealthInput& in);

/// "verified" / "mismatch" / "resolution-failing".
const char* toString(VerifyOutcome o);
/// "verified", "withdrawn", "withdrawal-pending", "pending", "grace", "no-address", "stale",
/// "resolution-failing", "mismatch", "provider-retrying", "provider-fatal".
const char* toString(HostCondition c);
/// "publish" / "withdraw".
const char* toString(AddressIntent i);

}  // namespace dynmx::ddns
