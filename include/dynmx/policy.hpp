#pragma once
// The admin's policy: plain aggregate structs built from the TOML policy file.
// Parsing and semantic checks live in policy/; nothing here does I/O.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/diagnostic.hpp"
#include "dynmx/time.hpp"

namespace dynmx {

/// What the admin asked for: a fixed mode, or let dynmx decide.
enum class MailPolicy { Direct, Multidrop, Auto };
/// What kind of uplink the server has. Auto means: detect (ppp/dial-on-demand = dialup).
enum class LinkType { Dedicated, Dialup, Auto };
/// Mail retrieval protocol at the ISP.
enum class MailProtocol { Pop3, Imap };
/// Transport security towards the ISP mailbox.
enum class TlsMode { Implicit, StartTls, None };
/// How fetchmail hands a message to the local mail system.
enum class DeliveryMethod { Smtp, Lmtp, Mda };

/// A host:port pair as written in the policy.
struct HostPort {
  std::string host;
  int port = 0;
};

/// Where a value came from in the policy file (for diagnostics at use time).
struct SourcePos {
  int line = 0;
  int column = 0;
};

/// [mail]: the mode and the domains we receive mail for.
struct MailSection {
  MailPolicy mode = MailPolicy::Auto;
  std::vector<std::string> domains;  ///< lower-cased, no trailing dot
  SourcePos modePos;
};

/// [link]: the uplink.
struct LinkSection {
  LinkType type = LinkType::Auto;
  std::string interface;  ///< empty = the interface of the default route
};

/// [health]: thresholds the decision applies.
struct HealthSection {
  Duration ddnsFailingMax{std::chrono::minutes(5)};  ///< DDNS may fail this long before mail leaves direct
  Duration linkDownMax{std::chrono::minutes(2)};     ///< link may be down this long before mail leaves direct
  Duration holdDown{std::chrono::hours(1)};          ///< healthy this long before mail returns to direct
};

/// [isp]: the domain mailbox at the ISP.
struct IspMailbox {
  std::string server;
  MailProtocol protocol = MailProtocol::Pop3;
  int port = 0;  ///< 0 = protocol default for the TLS mode
  TlsMode tls = TlsMode::Implicit;
  bool certificateCheck = true;
  std::string sslProto;  ///< fetchmail sslproto, e.g. "TLS1.2+"; empty = fetchmail default
  std::string user;
  std::string passwordFile;              ///< preferred
  std::optional<std::string> password;   ///< secret; inline is allowed with a warning
  Duration timeout{std::chrono::seconds(60)};
  bool keep = false;     ///< leave messages on the server after delivery
  bool fetchAll = true;  ///< fetch old (seen) messages too
  SourcePos passwordFilePos;  ///< where password_file was written (checkPolicyFiles points here)
  std::string passwordCredential;  ///< systemd credential name: $CREDENTIALS_DIRECTORY/NAME
  std::string passwordEnv;         ///< environment variable holding the secret
};

/// [envelope]: the header that carries the envelope recipient at the ISP.
struct EnvelopeSection {
  std::string header;  ///< empty = not configured (refused for multidrop)
  int skip = 0;        ///< how many matching headers to skip first (ISP's own Delivered-To)
};

/// [users]: how recipient names map to local users.
struct UsersSection {
  std::map<std::string, std::string> map;  ///< remote local-part -> local user
  bool wildcard = false;                   ///< `*`: any name in our domains to the same local user
  std::string postmaster;                  ///< receives everything unmapped; required
};

/// [delivery]: where fetchmail delivers.
struct DeliverySection {
  DeliveryMethod method = DeliveryMethod::Smtp;
  HostPort target{"127.0.0.1", 25};  ///< smtp/lmtp
  std::string mda;                   ///< mda command line (fetchmail %T/%F expansion)
  /// fetchmail delivers to dynmx's envelope guard, which forwards to `target` (smtp/lmtp
  /// only). Parsed policies default to on; false keeps fetchmail -> MTA direct.
  bool guard = false;
};

/// [guard]: the envelope guard between fetchmail and the MTA (docs/guard.md).
struct GuardSection {
  std::string socket;          ///< LMTP unix socket; empty = <state dir>/guard.sock
  std::string journal;         ///< empty = <state dir>/guard.journal
  int receivedAbove = 0;       ///< Received headers the ISP writes above its envelope header
  int maxReceived = 30;        ///< more Received headers than this: a loop
  long long maxMessageSize = 64LL << 20;  ///< bytes; larger messages are refused (stay at the ISP)
  Duration retention{std::chrono::hours(24 * 7)};  ///< how long the dedup journal remembers
  std::string journalSync = "second";  ///< "second": fdatasync once a second; "message": before each answer
};

/// The longest poll interval fetchmail can read: `set daemon N` is parsed into a C int.
inline constexpr Duration kMaxFetchmailPollInterval{std::chrono::seconds(2147483647)};

/// [fetchmail]: how the fetchmail child runs.
struct FetchmailSection {
  std::string binary = "/usr/bin/fetchmail";
  std::string rcPath = "/var/lib/dynmx/fetchmail/fetchmailrc";
  std::string user = "fetchmail";  ///< unprivileged user fetchmail runs as (and owns the rc)
  std::string home;                ///< FETCHMAILHOME: idfile, pidfile; empty = dir of rcPath
  Duration pollInterval{std::chrono::minutes(5)};
  /// While mail is direct: poll the ISP mailbox this often and deliver what the ISP's backup
  /// MX took meanwhile (senders fall back to it whenever our server does not answer, and
  /// senders' caches still name it after a return to direct). Zero: never (such mail then
  /// waits at the ISP until the next multidrop period). On by default: mail must not wait
  /// at the ISP for a multidrop period that may never come.
  Duration sweepInterval{std::chrono::minutes(15)};
};

/// The `rfc2136` provider kind's keys in [[ddns.account]] (DNS UPDATE with TSIG).
struct Rfc2136Account {
  std::string keyFile;  ///< BIND-format TSIG key file (0600)
  std::string zone;     ///< the zone the hosts live in (lower-case, no trailing dot)
  std::string server;   ///< "192.0.2.53:53"; empty = the primary named in the zone's SOA
  long long ttl = 60;   ///< TTL of the published A/AAAA records
  SourcePos keyFilePos; ///< where key_file was written (checkPolicyFiles points here)
};

/// One dyndns2-family account: credentials and up to many hostnames (or an rfc2136 one).
struct DdnsAccount {
  std::string name;      ///< label used in logs, status and state
  std::string provider;  ///< preset name ("dyn", "noip", "dynu", "freedns", ...) or "custom"
  std::string url;       ///< custom: full update URL (https unless allowInsecureHttp)
  bool allowInsecureHttp = false;
  bool tlsVerify = true;
  std::string caFile;  ///< extra CA bundle for a custom provider with a private CA; empty = system
  std::string username;
  std::string passwordFile;
  std::optional<std::string> password;  ///< secret; inline allowed with a warning
  std::vector<std::string> hosts;
  bool offlineOnMultidrop = false;  ///< send offline=YES when mail leaves direct (paid feature)
  Duration retryAfterServerError{std::chrono::minutes(30)};  ///< 911/dnserr back-off (>= 30m)
  /// min_interval: the least time between two updates of a host that carry no new address
  /// (a forced re-send, an MX-only change); unset: the preset's, or 1m for custom and rfc2136.
  std::optional<Duration> minInterval;
  SourcePos pos;
  SourcePos passwordFilePos;  ///< where password_file was written (checkPolicyFiles points here)
  Rfc2136Account rfc2136;  ///< provider = "rfc2136" only
  int maxHostsPerRequest = 0;  ///< hostnames per request; 0 = the provider's limit (numhost above it)
  std::string passwordCredential;  ///< systemd credential name: $CREDENTIALS_DIRECTORY/NAME
  std::string passwordEnv;         ///< environment variable holding the secret
};

/// How our public address is found.
struct AddressDetection {
  bool ipv4 = true;
  bool ipv6 = false;
  std::string interface;              ///< read addresses from this interface; empty = none
  std::vector<std::string> webSources;  ///< IP-check URLs (https)
  std::string agreement = "majority";   ///< "majority" | "all" | "first"
  Duration timeout{std::chrono::seconds(10)};
};

/// Verification of the published record at the zone's authoritative servers.
struct Verification {
  std::vector<HostPort> servers;  ///< explicit servers; empty = look up NS of the zone
  Duration interval{std::chrono::minutes(5)};
  Duration timeout{std::chrono::seconds(5)};
};

/// [ddns]: dynamic DNS.
struct DdnsSection {
  bool enabled = true;
  std::optional<std::string> staticAddress;  ///< declared static address (no DDNS needed)
  AddressDetection detect;
  Verification verify;
  Duration checkInterval{std::chrono::minutes(5)};  ///< how often the address is re-detected
  Duration requestTimeout{std::chrono::seconds(30)};
  std::vector<DdnsAccount> accounts;
};

/// One admin hook: argv run without a shell on each switch.
struct Hook {
  std::vector<std::string> argv;
  Duration timeout{std::chrono::seconds(30)};
};

/// [daemon]: the coordinator process.
struct DaemonSection {
  std::string user = "dynmx";  ///< started as root, `dynmx run` becomes this user
  std::string stateDir = "/var/lib/dynmx";
  std::string controlSocket = "/run/dynmx/control.sock";
  std::string log = "stderr";  ///< "stderr" | "syslog"
  std::string logLevel = "info";
  std::optional<HostPort> metrics;  ///< loopback listen address for Prometheus
  std::vector<Hook> hooks;
  bool offlineOnShutdown = false;
};

/// One MX record of a published set: preference and exchange ("10 mx.isp.example").
struct MxRecord {
  int preference = 10;
  std::string host;  ///< lower-cased, no trailing dot
  bool operator==(const MxRecord&) const = default;
};

/// How a domain's MX set is changed: not at all (status then reports the exposure), by
/// RFC 2136 DNS UPDATE with a TSIG key, or by the dyndns2 mx=/backmx= of a [[ddns.account]]
/// host (the domain is that host: dyndns2 sets only the updated hostname's own MX).
enum class MxLever { None, Rfc2136, Dyndns2 };

/// [[mx]]: one mail domain's MX set per mail mode (docs/mx-steering.md).
struct MxDomain {
  std::string domain;                 ///< the mail domain whose MX is steered
  std::string zone;                   ///< the zone holding it (default: the domain; dyndns2: its parent)
  std::vector<MxRecord> direct;       ///< published while mail comes direct
  std::vector<MxRecord> multidrop;    ///< published while mail waits at the ISP
  Duration ttl{std::chrono::minutes(5)};  ///< TTL of the published sets
  MxLever lever = MxLever::None;
  std::optional<HostPort> server;     ///< UPDATE target; empty = the SOA's primary (MNAME)
  std::string keyFile;                ///< BIND-format TSIG key file (0600)
  std::vector<HostPort> verifyServers;  ///< explicit authoritative servers; empty = the zone's NS
  SourcePos pos;
};

/// The whole policy file.
struct Policy {
  std::string sourceFile;
  MailSection mail;
  LinkSection link;
  HealthSection health;
  IspMailbox isp;
  EnvelopeSection envelope;
  UsersSection users;
  DeliverySection delivery;
  GuardSection guard;
  FetchmailSection fetchmail;
  DdnsSection ddns;
  DaemonSection daemon;
  std::vector<MxDomain> mx;  ///< [[mx]]: MX steering per mail domain (empty = not steered)
};

/// The outcome of loading a policy: a policy if there were no errors, and every finding.
struct PolicyLoad {
  std::optional<Policy> policy;
  std::vector<Diagnostic> diagnostics;
  bool unreadable = false;  ///< the file itself could not be read (`dynmx check` exits 2)
};

/// Parse policy text; `fileName` is used in diagnostics. Pure: touches no files.
/// Semantic checks that need the filesystem (secret file modes) are done by checkPolicyFiles.
PolicyLoad parsePolicy(std::string_view text, const std::string& fileName);

/// Read and parse a policy file, then run the filesystem checks (secret file permissions).
PolicyLoad loadPolicy(const std::string& path);

/// Where the daemon keeps its state and control socket.
struct DaemonPaths {
  std::string stateDir;
  std::string controlSocket;
};

/// The [daemon] paths of a policy that does not load (errors elsewhere, even a TOML syntax
/// error outside [daemon]), so `dynmx status` still finds a daemon running on its last good
/// policy. Defaults for keys not written; nullopt when [daemon] itself cannot be read.
std::optional<DaemonPaths> salvageDaemonPaths(std::string_view text);

/// Filesystem checks on a parsed policy: password files exist and are not group/other readable.
std::vector<Diagnostic> checkPolicyFiles(const Policy& policy);

/// Read a secret (password) from its file or inline value; the error never contains the secret.
struct SecretRead {
  std::optional<std::string> secret;
  std::string error;
};
SecretRead readSecretFile(const std::string& path);

/// DDNS provider names the policy accepts ("dyn", "noip", "dynu", "freedns", "custom").
const std::vector<std::string>& knownDdnsProviders();

/// Names for enums, as written in the policy file.
const char* toString(MailPolicy m);
const char* toString(LinkType t);
const char* toString(MailProtocol p);
const char* toString(TlsMode t);
const char* toString(DeliveryMethod m);
const char* toString(MxLever l);
/// "10 mx.isp.example" (no trailing dot).
std::string toString(const MxRecord& r);

}  // namespace dynmx
