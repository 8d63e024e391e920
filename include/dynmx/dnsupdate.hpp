#pragma once
// RFC 2136 DNS UPDATE with TSIG (RFC 8945): the seam between what dynmx wants published
// (intent: RRsets of a zone) and the edge that sends it (ldns on the Asio loop).
//
// Pure parts (building, classifying) take plain values; the Updater at the edge owns
// sockets and time. The key's secret never appears in any text produced here.
//
// Shared by: the `rfc2136` provider kind (A/AAAA of the office's name) and MX steering
// (the mail domain's MX set per mode). The implementation lives in ddns/rfc2136/.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/result.hpp"
#include "dynmx/time.hpp"

namespace dynmx::dnsupdate {

/// TSIG algorithms. HMAC-SHA256 and HMAC-SHA512 are the ones to use; the others exist
/// only for servers that need them.
enum class TsigAlgorithm { HmacSha256, HmacSha512, HmacSha384, HmacSha224, HmacSha1, HmacMd5 };

/// A TSIG key as read from a BIND-format key file (`key "name" { algorithm ...; secret "..."; };`).
struct TsigKey {
  std::string name;       ///< key name, lower-cased, no trailing dot
  TsigAlgorithm algorithm = TsigAlgorithm::HmacSha256;
  std::string secret;     ///< base64 as in the file; never logged, never in errors
  std::string sourceFile; ///< where it came from (for messages)
};

/// Read a BIND-format key file. Refuses symlinks (O_NOFOLLOW), files that group or others
/// can read, unknown algorithms and malformed base64; errors name the file, never the secret.
Result<TsigKey> loadKeyFile(const std::string& path);

/// Record types dynmx publishes.
enum class RecordType { A, AAAA, MX };

/// One RRset: a name, a type, a TTL and its records in presentation format
/// ("203.0.113.7", "2001:db8::7", "10 office.example.com.").
struct RRset {
  std::string name;  ///< absolute, lower-cased, no trailing dot
  RecordType type = RecordType::A;
  std::uint32_t ttl = 300;
  std::vector<std::string> records;
};

/// A prerequisite (RFC 2136 §2.4), so an update never blindly overwrites.
struct Prerequisite {
  enum class Kind {
    NameInUse,        ///< the name exists (any type)
    RRsetExists,      ///< an RRset of this type exists (value-independent)
    RRsetNotExists,   ///< no RRset of this type
    RRsetEquals,      ///< the RRset is exactly `records` (value-dependent)
  };
  Kind kind = Kind::NameInUse;
  RRset rrset;  ///< name and type always; records only for RRsetEquals
};

/// One change of the update section.
struct Change {
  enum class Kind {
    ReplaceRRset,  ///< delete the RRset, then add `records` (empty records = delete only)
    DeleteRRset,   ///< delete every record of this name and type
  };
  Kind kind = Kind::ReplaceRRset;
  RRset rrset;
};

/// One UPDATE message for one zone.
struct UpdateMessage {
  std::string zone;  ///< absolute, lower-cased, no trailing dot
  std::vector<Prerequisite> prerequisites;
  std::vector<Change> changes;
};

/// What the caller should do after an answer.
enum class Verdict {
  Applied,        ///< NOERROR: the change is in the zone (still to be verified at every NS)
  PrereqFailed,   ///< YXDOMAIN/YXRRSET/NXDOMAIN/NXRRSET: the zone is not as we assumed
  Retry,          ///< timeout, SERVFAIL, network error: try again soon (bounded back-off)
  BackOff,        ///< BADTIME (clock skew) and the like: wait long, tell the admin
  Fatal,          ///< REFUSED, NOTAUTH, BADKEY, BADSIG, NOTZONE, FORMERR: stop, say why
};

/// The classified answer to one UPDATE.
struct UpdateOutcome {
  Verdict verdict = Verdict::Retry;
  std::string rcode;    ///< "NOERROR", "REFUSED", "NOTAUTH", "BADKEY", "BADSIG", "BADTIME",
                        ///< "timeout", "connection-refused", "bad-response", ...
  std::string server;   ///< "192.0.2.53:53" that answered (or did not)
  std::string detail;   ///< a sentence for status and logs; never the secret
  bool overTcp = false; ///< the answer came over TCP (UDP truncated or refused)
};

/// Where updates go: explicit servers, or the primary named in the zone's SOA (MNAME).
struct UpdaterConfig {
  std::vector<std::pair<std::string, int>> servers;  ///< literal address + port; empty = SOA MNAME
  /// Resolver to find the SOA and the primary's address when `servers` is empty.
  std::vector<std::pair<std::string, int>> resolvers;
  TsigKey key;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  /// The port of a primary found through the SOA (53; tests run named on a high port).
  int primaryPort = 53;
  /// The TSIG signing time; empty = the system clock. Tests skew it to provoke BADTIME.
  std::function<TimePoint()> signingClock;
};

/// Sends UPDATE messages. Implementations call `done` exactly once, on the io_context.
class Updater {
 public:
  virtual ~Updater() = default;
  /// Sign with the configured key and send over UDP, falling back to TCP when the answer
  /// is truncated or the message is too large; classify the answer.
  virtual void send(UpdateMessage message, std::function<void(UpdateOutcome)> done) = 0;
};

/// One UPDATE as signed bytes, with what is needed to check the answer's TSIG.
struct SignedUpdate {
  std::vector<std::uint8_t> wire;     ///< the message with its TSIG record
  std::uint16_t id = 0;               ///< the message ID
  std::vector<std::uint8_t> mac;      ///< the request MAC as ldns holds it (length-prefixed)
  std::string keyName;                ///< for verifying the answer
  std::string keySecret;              ///< base64; never printed
};

/// Build and sign an UPDATE (pure: the ID and the signing time are given). Errors name the
/// record or name that ldns refused, never the secret.
Result<SignedUpdate> buildUpdate(const UpdateMessage& message, const TsigKey& key, std::uint16_t id,
                                 TimePoint signedAt);

/// Classify an answer's bytes to `request` (pure). A NOERROR whose TSIG does not verify is
/// not trusted (Retry). `server` only fills the outcome's server field.
UpdateOutcome classifyAnswer(const SignedUpdate& request, const std::vector<std::uint8_t>& answer,
                             const std::string& server);

/// Classify a transport failure: "timeout", "connection-refused", "network: ..." → Retry.
UpdateOutcome classifyTransportError(const std::string& error, const std::string& server);

/// Parse "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53" or "2001:db8::53";
/// nullopt on anything else. `defaultPort` when none is given.
std::optional<std::pair<std::string, int>> parseServer(const std::string& text, int defaultPort = 53);

/// Parse "hmac-sha256" etc. (case-insensitive, trailing dot allowed).
std::optional<TsigAlgorithm> parseAlgorithm(const std::string& name);

/// The `nameserver` lines of a resolv.conf (port 53); empty when unreadable.
std::vector<std::pair<std::string, int>> systemResolvers(const std::string& path = "/etc/resolv.conf");

/// The real updater: ldns for the wire format and TSIG, Asio for the sockets and timers.
std::unique_ptr<Updater> makeUpdater(boost::asio::io_context& io, UpdaterConfig config);

/// "A", "AAAA", "MX".
const char* toString(RecordType t);
/// "hmac-sha256", ...
const char* toString(TsigAlgorithm a);
/// "applied", "prereq-failed", "retry", "back-off", "fatal".
const char* toString(Verdict v);

}  // namespace dynmx::dnsupdate
