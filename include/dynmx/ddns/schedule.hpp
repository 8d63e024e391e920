#pragma once
// The DDNS planner: per-host state, whether to send now, and the new state after a reply.
// Pure: `now` is a value and nothing here reads the clock or the disk.
#include <optional>
#include <string>
#include <string_view>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// First step of the transient back-off; it doubles per failure.
inline constexpr Duration kBackoffStart = std::chrono::minutes(1);
/// The transient back-off never grows beyond this.
inline constexpr Duration kBackoffCap = std::chrono::minutes(30);
/// Unexpected `nochg` answers in a row that stop a host: the dyndns2 rules block clients
/// that keep sending what the provider already has (`abuse`), so we stop first.
inline constexpr int kMaxUnexpectedNochg = 2;

/// What we remember about one host across restarts (persisted by state.hpp).
struct HostState {
  std::string host;                        ///< normalized hostname
  std::string account;                     ///< DdnsAccount::name
  std::string lastAddressSent;             ///< AddressSet text of the last attempt ("" = none)
  std::string confirmedAddress;            ///< last address the provider confirmed (good/nochg)
  std::optional<ResultCode> lastResult;    ///< code of the last attempt
  std::optional<TimePoint> lastAttempt;    ///< when the last request was answered/failed
  std::optional<TimePoint> lastSuccess;    ///< last good/nochg
  std::optional<TimePoint> retryNotBefore; ///< nothing is sent before this
  std::optional<TimePoint> failingSince;   ///< first failure after the last success
  std::string fatalReason;                 ///< non-empty: disabled until the config changes
  std::string configFingerprint;           ///< configFingerprint(account) when last written
  std::string secretTag;                   ///< secretTag(password) when last written ("" = unknown)
  int consecutiveFailures = 0;             ///< drives the transient back-off
  int unexpectedNochg = 0;                 ///< nochg replies we had no reason to expect
  bool offline = false;                    ///< the provider holds the host offline (offline=YES)
  bool offlineRefused = false;             ///< `!donator` for offline=YES: never ask again
  std::optional<MxSetting> confirmedMx;    ///< the mx=/backmx= the provider last accepted
  bool mxRefused = false;                  ///< `!donator` for mx=: never ask again (same config)

  /// True when a fatal reply disabled the host.
  [[nodiscard]] bool fatal() const { return !fatalReason.empty(); }
  bool operator==(const HostState&) const = default;
};

/// Why nothing is sent.
enum class SkipReason {
  None,       ///< not skipped
  Unchanged,  ///< the provider already confirmed this address
  Backoff,    ///< before retryNotBefore
  Fatal,      ///< disabled by a fatal reply; config unchanged
  NoAddress,  ///< nothing publishable to send
  Offline,    ///< already offline (offline planning)
  Refused,    ///< the provider refused the option (offline planning)
};

/// The planner's answer.
struct UpdateDecision {
  bool send = false;
  SkipReason reason = SkipReason::None;
  std::string text;                    ///< human reason, for status and `dynmx update`
  std::optional<TimePoint> notBefore;  ///< for Backoff: the earliest time to ask again
  bool nochgExpected = false;          ///< a `nochg` reply to this send would be normal
  bool banLifted = false;              ///< a fatal state was lifted by a config change
};

/// Provider rules that bind every send of a host, forced or not.
struct SendRules {
  Duration minInterval{0};  ///< minUpdateInterval(account): binds sends without a new address
  std::string secretTag;    ///< secretTag(current password); a change lifts a fatal ban
};

/// Decide whether to send `current` for this host now. Never re-sends a confirmed address
/// (unless `force`); never sends before retryNotBefore (not even with `force`); never sends
/// for a fatal state unless `fingerprint` differs from the one recorded with the ban.
/// `firstStart`: the daemon has just started, so a `nochg` is expected.
/// A forced send of an address the provider already confirmed waits for
/// `rules.minInterval` after the last attempt. A ban is lifted by a new fingerprint or a new
/// secret tag (the admin fixed the password).
UpdateDecision shouldUpdate(const HostState& state, const AddressSet& current, TimePoint now,
                            bool force, bool firstStart, std::string_view fingerprint,
                            const SendRules& rules = {});

/// Decide whether to send offline=YES for this host now.
UpdateDecision shouldSendOffline(const HostState& state, TimePoint now,
                                 std::string_view fingerprint, const SendRules& rules = {});

/// Decide whether to send `wanted` as the host's mx=/backmx= when its address needs no
/// request (unchanged, or already offline). Sends only what the provider has not accepted
/// yet, and never before a back-off ends or within the provider's minimum interval after the
/// last request (an MX change carries no new address). A `nochg` reply is not counted.
UpdateDecision shouldSendMx(const HostState& state, const MxSetting& wanted, TimePoint now,
                            std::string_view fingerprint, const SendRules& rules = {});

/// What applyResult needs besides the reply.
struct ApplyContext {
  std::string sentAddress;          ///< AddressSet text that was sent ("" for offline without myip)
  std::string fingerprint;          ///< configFingerprint(account) in force
  Duration serverErrorRetry = kMinServerErrorRetry;  ///< serverErrorRetry(account)
  bool nochgExpected = false;       ///< from the UpdateDecision that led to the send
  bool offlineRequest = false;      ///< the request carried offline=YES
  std::string secretTag;            ///< secretTag(password) the request was sent with
  bool partialAddress = false;      ///< sentAddress is one family of the set: merge it
  std::optional<MxSetting> sentMx;  ///< the request carried mx=/backmx=
};

/// The new state after a reply. A `nochg` nobody expected counts; kMaxUnexpectedNochg in a
/// row make the host fatal ("repeated unexpected nochg"). 911/dnserr/garbage: retryNotBefore = now + max(30m,
/// configured); transient: now + min(1m * 2^(n-1), 30m); fatal codes record the reason and
/// the fingerprint; good/nochg clear every failure and record `sentMx` as accepted.
HostState applyResult(const HostState& state, const HostResult& result, TimePoint now,
                      const ApplyContext& ctx);

/// AddressSet text `part` (one family) laid over `whole`: the other family keeps what `whole`
/// had. For providers that take one family per request.
std::string mergeFamily(const std::string& whole, const std::string& part);

/// The transient back-off after `failures` consecutive failures (1 → 1m, 2 → 2m, ... ≤ 30m).
Duration transientBackoff(int failures);

/// A stable hash (16 hex digits) of what identifies an account's setup: provider, url,
/// username, password file path, http permission and the sorted host list. Never the
/// password itself, so a state file cannot leak it.
std::string configFingerprint(const DdnsAccount& account);

/// A 4-hex-digit tag of a secret: enough to notice that the admin changed the password, far
/// too little to guess one from (65536 values for any password). Never the secret itself.
std::string secretTag(std::string_view secret);

/// True when a fatal ban recorded in `state` no longer holds: the account's configuration
/// or its secret changed since.
bool banLifted(const HostState& state, std::string_view fingerprint, std::string_view secretTag);

/// "none" / "unchanged" / "backoff" / "fatal" / "no-address" / "offline" / "refused".
const char* toString(SkipReason r);

}  // namespace dynmx::ddns
