#pragma once
// dyndns2-family providers: presets and request building. Pure: the values built here are
// handed to the HTTP adapter, which adds the password (never present in these values).
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dynmx/ddns/address.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/result.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// The protocol's hard limit on hostnames in one request (more are answered `numhost`).
inline constexpr std::size_t kMaxHostsPerRequest = 20;
/// The shortest pause after 911/dnserr any provider gets from us (No-IP's rule).
inline constexpr Duration kMinServerErrorRetry = std::chrono::minutes(30);

/// The shortest time between two updates of one host without a new address, for a custom
/// provider (which documents none).
inline constexpr Duration kDefaultMinInterval = std::chrono::minutes(1);
/// The same for the presets: none of them wants a client more often (inadyn's default period,
/// ddclient's abuse guidance); `dynmx check` refuses a check_interval below it.
inline constexpr Duration kPresetMinInterval = std::chrono::minutes(2);
/// The least `min_interval` an account may set (a server the admin runs, e.g. a test bed):
/// below it a re-assert loop would be a flood.
inline constexpr Duration kMinSettableInterval = std::chrono::seconds(10);

/// How a provider takes an IPv4 and an IPv6 address in one request.
enum class DualStack {
  CommaInMyip,    ///< myip=v4,v6 (Dyn, No-IP)
  SeparateMyipv6, ///< myip=v4&myipv6=v6 (Dynu)
  SingleAddress,  ///< one address per request; dual stack needs two accounts
};

/// A well-known dyndns2-family service.
struct ProviderPreset {
  std::string_view name;         ///< as written in the policy: "dyn", "noip", "dynu", "freedns"
  std::string_view displayName;  ///< for humans
  std::string_view url;          ///< update endpoint: scheme, host and path, no query
  bool supportsOffline = false;  ///< accepts offline=YES (paid accounts; `!donator` otherwise)
  bool supportsMx = false;       ///< documents mx=HOST&backmx=YES|NO for the updated hostname
  std::size_t batchLimit = kMaxHostsPerRequest;  ///< hostnames per request
  Duration minRetry = kMinServerErrorRetry;      ///< pause after 911/dnserr (never below 30m)
  DualStack dualStack = DualStack::CommaInMyip;
  /// Shortest time between two updates of one host that are not an address change (a forced
  /// run, a re-assertion): more often reads as abuse.
  Duration minInterval = kPresetMinInterval;
};

/// All presets, in documentation order.
std::span<const ProviderPreset> presets();
/// Find a preset by name; nullopt for "custom" and unknown names.
std::optional<ProviderPreset> findPreset(std::string_view name);

/// Validate a hostname (LDH labels of 1..63, total <= 253, at least two labels, no leading
/// or trailing hyphen). Returns it lower-cased without a trailing dot.
Result<std::string> normalizeHostname(std::string_view host);

/// Percent-escape everything except RFC 3986 unreserved characters.
std::string percentEscape(std::string_view text);

/// The address(es) to publish: at least one must be set for an update.
struct AddressSet {
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;

  /// True when neither family is set.
  [[nodiscard]] bool empty() const { return !v4 && !v6; }
  /// "v4", "v6" or "v4,v6" in canonical text; the value compared against the state file.
  [[nodiscard]] std::string toString() const;
  bool operator==(const AddressSet&) const = default;
};

/// Parse AddressSet::toString() output back; nullopt when malformed.
std::optional<AddressSet> parseAddressSet(std::string_view text);

/// The MX of an updated hostname as dyndns2 sets it: `mx=HOST&backmx=YES` publishes
/// "10 <hostname>, 20 HOST" (mail tries the host itself first), `backmx=NO` publishes
/// "10 HOST" alone.
struct MxSetting {
  std::string mx;       ///< the exchange (lower-case, no trailing dot)
  bool backmx = false;  ///< HOST is a backup behind the hostname itself
  bool operator==(const MxSetting&) const = default;
};

/// "mx=mx.isp.example backmx=YES": for logs, status and state texts.
std::string toString(const MxSetting& s);

/// The dyndns2 parameters that publish `records` as the MX of `host`, or why dyndns2 cannot
/// publish that set (the one rule `dynmx check` and the MX lever share). Multidrop sets
/// (`hostFirst` false) must be exactly one MX other than the host; direct sets must be the
/// host itself first, then at most one backup.
Result<MxSetting> mxSettingFor(std::string_view host, const std::vector<MxRecord>& records, bool hostFirst);

/// True when the account's provider takes mx=/backmx= (a preset that documents it, or a
/// custom endpoint, whose admin knows it).
bool supportsMx(const DdnsAccount& account);

/// Knobs for one round of requests. (Re-sending an unchanged address is the planner's call.)
struct RequestOptions {
  bool offline = false;  ///< add offline=YES (mail left direct; the provider parks the host)
  std::optional<MxSetting> mx;  ///< add mx=&backmx= (every host of the round gets this MX)
};

/// One HTTP GET to send. Holds no secret: the adapter adds the password for Basic auth.
struct UpdateRequest {
  std::string account;                 ///< DdnsAccount::name
  std::string url;                     ///< full URL with path and query
  std::vector<std::string> hostnames;  ///< in the order the reply lines will follow
  std::string username;                ///< Basic-auth user
  std::string myip;                    ///< the address text sent (unescaped), empty if none
  bool offline = false;                ///< offline=YES was added
  std::optional<MxSetting> mx;         ///< mx=/backmx= were added
  bool allowInsecureHttp = false;      ///< the account allows http:// explicitly
  bool tlsVerify = true;               ///< verify the provider's certificate
  std::string caFile;                  ///< extra CA bundle; empty = the system's
  bool partialAddress = false;         ///< one family of a dual-stack set (single-address provider)
};

/// A hostname refused before any request was built.
struct RejectedHost {
  std::string host;
  std::string reason;
};

/// Requests to send, and the hosts that were refused.
struct RequestPlan {
  std::vector<UpdateRequest> requests;
  std::vector<RejectedHost> rejected;
};

/// The update endpoint for an account: the preset's URL, or `account.url` (custom, or an
/// override of a preset's endpoint). Checks the scheme (https unless allowInsecureHttp),
/// refuses credentials, fragments and a missing host.
Result<std::string> endpointFor(const DdnsAccount& account);

/// Build the requests for `hosts` of `account` (batched, escaped, in order). Account-level
/// problems (unknown preset, bad URL, no or non-publishable address, offline not supported)
/// fail as a whole; an MX asked of a provider without mx= fails as a whole; bad hostnames are rejected one by
/// one and the rest still go out.
Result<RequestPlan> buildRequests(const DdnsAccount& account,
                                  const std::vector<std::string>& hosts,
                                  const AddressSet& addresses, const RequestOptions& options = {});

/// The 911/dnserr pause for an account: max(30m, preset minimum, account setting).
Duration serverErrorRetry(const DdnsAccount& account);

/// The provider's minimum interval between two updates of one host that carry no new
/// address (forced or re-asserted): the preset's, kDefaultMinInterval for custom and
/// rfc2136; the account's min_interval where set (never below the preset's, nor below
/// kMinSettableInterval: `dynmx check` refuses both).
Duration minUpdateInterval(const DdnsAccount& account);

/// Hostnames per request for an account: the preset's limit (20 for custom), lowered by
/// max_hosts_per_request when set (providers that answer `numhost` to fewer).
std::size_t hostsPerRequest(const DdnsAccount& account);

}  // namespace dynmx::ddns
