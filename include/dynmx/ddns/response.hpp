#pragma once
// Classification of a dyndns2 reply: ONE pure function turns (HTTP status, body, the
// hostnames asked for, transport failure) into per-host results in request order.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynmx::ddns {

/// Largest reply body we read; anything longer is Oversized (a dyndns2 reply is one short
/// line per host, at most 20 hosts).
inline constexpr std::size_t kMaxReplyBody = 64 * 1024;

/// What the provider (or the transport) said about one host.
enum class ResultCode {
  Good,            ///< `good ADDR`: record changed
  NoChange,        ///< `nochg ADDR`: record already had the address
  BadAuth,         ///< `badauth` or HTTP 401: credentials refused
  NotDonator,      ///< `!donator`: a paid option (offline=YES) was asked for
  NotFqdn,         ///< `notfqdn`
  NoHost,          ///< `nohost`
  NotYours,        ///< `!yours`
  NumHost,         ///< `numhost`: too many hosts in one request
  BadSys,          ///< `badsys`
  Abuse,           ///< `abuse`: host blocked for abuse
  BadAgent,        ///< `badagent`: our client is blocked
  NotActive,       ///< `!active`
  DnsErr,          ///< `dnserr`: provider-side DNS fault
  ServerError911,  ///< `911`: provider-side fault
  Garbage,         ///< a reply line we cannot read, or a missing line
  HttpError,       ///< non-2xx status without a readable dyndns2 body
  Timeout,         ///< transport: no complete answer in time
  TlsError,        ///< transport: TLS handshake or certificate failure
  ConnectError,    ///< transport: refused, unreachable, name not found
  Oversized,       ///< body larger than kMaxReplyBody
  TransportError,  ///< transport: anything else (malformed HTTP, ...)
};

/// What the caller must do about a result.
enum class Consequence {
  Ok,            ///< stored; nothing more until the address changes
  RetryLater,    ///< provider fault: nothing for at least 30 minutes
  FatalHost,     ///< this host is disabled until its account config changes
  FatalAccount,  ///< every host of the account is disabled until its config changes
  FatalOption,   ///< the option asked for (offline=YES) is refused; updates may go on
  Transient,     ///< network trouble: retry with exponential back-off
};

/// Transport-level failure reported by the HTTP adapter (mirrors net::TransportError without
/// pulling the adapter's headers into the pure core).
enum class TransportFailure { None, Timeout, Connect, Tls, Oversized, Protocol, Other };

/// The outcome for one host.
struct HostResult {
  std::string host;
  ResultCode code = ResultCode::Garbage;
  Consequence consequence = Consequence::Transient;
  std::optional<std::string> echoedAddress;  ///< the address after good/nochg, if it parsed
  std::string detail;  ///< the reply line or the failure, bounded, for status/logs
};

/// The outcome for one request.
struct Classification {
  std::vector<HostResult> hosts;  ///< same order and length as the hostnames asked for
  bool accountLevel = false;      ///< one reply applied to every host (badauth, 911 once, ...)
  bool extraLines = false;        ///< the reply had more lines than hosts (ignored)
  bool missingLines = false;      ///< the reply had fewer lines than hosts (rest: Garbage)
};

/// Classify a reply. `transport` other than None wins over status and body. A status
/// outside 2xx whose body still reads as dyndns2 codes is classified by the body; otherwise
/// 401 → BadAuth, 429 → RetryLater, 5xx → Transient, any other → HttpError FatalAccount.
Classification classify(int httpStatus, std::string_view body,
                        const std::vector<std::string>& hostnames,
                        TransportFailure transport = TransportFailure::None);

/// The consequence a code carries (for HttpError it depends on the status; this gives the
/// default for a non-retryable status).
Consequence consequenceOf(ResultCode code);

/// Stable lower-case name: the dyndns2 word where there is one ("good", "!donator", "911"),
/// otherwise "garbage", "http-error", "timeout", "tls-error", "connect-error", "oversized",
/// "transport-error".
const char* toString(ResultCode code);
/// Parse toString(ResultCode) back.
std::optional<ResultCode> parseResultCode(std::string_view text);
/// "ok" / "retry-later" / "fatal-host" / "fatal-account" / "fatal-option" / "transient".
const char* toString(Consequence c);

}  // namespace dynmx::ddns
