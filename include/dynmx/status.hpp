#pragma once
// The one status shape: the daemon fills it, the control socket sends it as JSON,
// `dynmx status --json` prints it, the human table and the metrics are rendered from it,
// and the state file persists the parts that must survive a restart.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/time.hpp"

namespace dynmx::status {

/// Nagios-style overall health; the numeric value is the `dynmx status` exit code.
enum class Health { Ok = 0, Warning = 1, Critical = 2, Unknown = 3 };

/// A reason with a stable machine code.
struct Reason {
  std::string code;
  std::string text;
  std::optional<TimePoint> since;  ///< when this reason began, if known
};

/// The daemon process.
struct DaemonInfo {
  bool running = false;  ///< false when the report was built from the state file
  int pid = 0;
  std::optional<TimePoint> since;
  std::string policyFile;
  std::vector<std::string> policyErrors;  ///< file:line:col lines from a rejected reload
  std::string stateError;                 ///< non-empty: the latest state write failed (why)
  std::vector<std::string> restartNeeded;  ///< [daemon] keys a reload changed that only a restart applies
  std::string version;
  std::optional<TimePoint> stoppedAt;  ///< set by a clean stop; a state file without it: the daemon died
  std::optional<TimePoint> stateWrittenAt;  ///< a report read from the state file: when it was written
};

/// The mail mode.
struct ModeInfo {
  std::string current = "multidrop";  ///< "direct" | "multidrop"
  std::string wanted = "multidrop";   ///< what the decision says (differs while switching)
  std::optional<TimePoint> since;
  std::string policy = "auto";        ///< "direct" | "multidrop" | "auto"
  std::vector<Reason> reasons;
  std::optional<TimePoint> reviewAt;
  bool switching = false;             ///< a transition (e.g. draining the ISP box) is in progress
  /// The way back to direct, step by step: "" (none), "publish-address", "publish-mx",
  /// "sender-caches" (fetchmail keeps polling while senders' caches hold the old MX), "drain".
  std::string step;
  std::optional<TimePoint> stepSince;
  std::optional<TimePoint> stepUntil;  ///< "sender-caches": fetchmail polls at least until then
  /// Multidrop in full: the rc installed, fetchmail running and the MX withdrawal verified.
  bool multidropActive = false;
};

/// The uplink.
struct LinkInfo {
  std::string type = "dedicated";  ///< resolved: "dedicated" | "dialup"
  std::string interface;
  bool up = true;
  std::optional<TimePoint> since;
};

/// One DDNS hostname.
struct DdnsHostInfo {
  std::string host;
  std::string account;
  std::string provider;
  std::string address;           ///< last address sent/verified
  bool verified = false;
  std::string verification;      ///< human detail of the last verification
  std::string lastResult;        ///< e.g. "good", "nochg", "911", "badauth"
  std::optional<TimePoint> lastUpdate;
  std::optional<TimePoint> retryAfter;
  std::string fatal;             ///< non-empty: disabled until the config changes
  std::string lastError;         ///< the provider's line or transport error of the last failed attempt
  std::string condition;         ///< typed judgement: "verified", "withdrawn", "stale", ... (ddns/health.hpp)
  /// offline=YES in effect: no authoritative server names our old address (also during an
  /// outage, when the condition is "no-address"); senders fall back to the next MX.
  bool withdrawn = false;
};

/// The DDNS engine as a whole.
struct DdnsInfo {
  std::string health = "unknown";  ///< "disabled" | "healthy" | "failing" | "unknown"
  std::string code;                ///< failing: machine code
  std::string text;                ///< failing: human text
  std::optional<TimePoint> since;
  std::string publicAddress;
  std::string natNote;             ///< set when the interface address differs from the web address
  std::string intent = "publish";  ///< what the coordinator asked for: "publish" | "withdraw"
  bool intentMet = false;          ///< every host shows the intent at every authoritative server
  /// The last withdrawal (offline=YES), verified: how long senders' resolvers may keep what
  /// it left (the negative-caching TTL from the zone's SOA, at most an hour); 0 if none. The
  /// way back to direct keeps fetchmail polling that long after our address is verified.
  Duration withdrawalCacheTtl{0};
  std::vector<DdnsHostInfo> hosts;
};

/// The supervised fetchmail.
struct FetchmailInfo {
  bool wanted = false;
  bool running = false;
  int pid = 0;
  std::optional<TimePoint> lastPoll;
  std::optional<int> lastExit;
  std::string lastError;
  int restarts = 0;
  long polls = 0;
  long pollErrors = 0;
  std::optional<int> messagesWaiting;  ///< last known count at the ISP, if known
};

/// The sweep of the ISP mailbox while mail is direct (`[fetchmail] sweep_interval`): what a
/// backup MX took meanwhile is fetched without changing the mode.
struct SweepInfo {
  Duration interval{0};               ///< 0: never
  std::optional<TimePoint> last;      ///< when the last sweep ended
  bool lastOk = true;                 ///< it emptied the box (or found it empty)
  std::string lastDetail;             ///< its result, or why it failed
  std::optional<TimePoint> next;      ///< when the next is due (only while direct)
  int failures = 0;                   ///< failed sweeps in a row
};

/// The envelope guard (docs/guard.md): its listener and the last 24 hours of its journal.
struct GuardInfo {
  bool enabled = false;    ///< fetchmail delivers through the guard
  bool listening = false;  ///< the LMTP socket is open
  std::string socket;
  long fetched = 0;        ///< messages fetchmail handed over in the last 24 h
  long delivered = 0;
  long postmaster = 0;
  std::map<std::string, long> postmasterReasons;  ///< reason code -> count
  long duplicates = 0;
  long deferred = 0;
  long discarded = 0;
  long noEnvelope = 0;
  std::string summary;    ///< "fetched 132: delivered 129, to postmaster 2 (...)..."
  std::string warning;    ///< non-empty: messages without envelope header rise (WARNING)
  std::string lastError;  ///< e.g. the journal could not be written
};

/// One mail domain's steered MX set (docs/mx-steering.md); facts from the lever.
struct MxInfo {
  std::string domain;
  std::string lever = "none";          ///< "rfc2136" | "dyndns2" | "none"
  std::string wanted;                  ///< the set the coordinator asked for: "direct" | "multidrop"
  std::vector<std::string> records;    ///< that set, e.g. "10 mx.isp.example"
  std::string state = "idle";          ///< "publishing", "verifying", "verified", "retrying",
                                       ///< "refused", "no-lever"
  bool verified = false;               ///< every authoritative server (AA bit) shows `records`
  std::optional<TimePoint> publishedAt;  ///< the update server accepted `records`
  std::optional<TimePoint> verifiedAt;   ///< first seen at every authoritative server
  std::string detail;                  ///< the last outcome or mismatch, in a sentence
};

/// Whether senders may still deliver to an address that is not ours.
struct ExposureInfo {
  bool exposed = false;                    ///< yes, and nothing we do ends it on its own
  std::string text;                        ///< why, e.g. "senders still use office..., which ..."
  std::optional<TimePoint> directMxUntil;  ///< senders may still use the direct MX until then
};

/// One step of a transition in the journal (the way back to direct has four).
struct StepRecord {
  TimePoint at{};
  std::string step;    ///< e.g. "publish-mx", or "aborted"
  std::string detail;
};

/// One mode switch in the journal.
struct SwitchRecord {
  TimePoint at{};
  std::string from;
  std::string to;
  std::vector<std::string> reasons;  ///< codes
  std::string detail;                ///< human summary
};

/// One hook run.
struct HookRecord {
  TimePoint at{};
  std::string argv0;
  std::string mode;
  bool ok = false;
  std::string error;
};

/// The whole report.
struct Report {
  DaemonInfo daemon;
  ModeInfo mode;
  LinkInfo link;
  DdnsInfo ddns;
  FetchmailInfo fetchmail;
  SweepInfo sweep;
  GuardInfo guard;
  std::vector<SwitchRecord> switches;  ///< newest last, bounded
  std::vector<HookRecord> hooks;       ///< newest last, bounded
  std::vector<MxInfo> mx;              ///< one per [[mx]] domain
  ExposureInfo exposure;
  std::vector<StepRecord> steps;       ///< newest last, bounded
  Health health = Health::Unknown;
  std::vector<Reason> healthReasons;   ///< why the health is what it is
};

/// "ok" / "warning" / "critical" / "unknown".
const char* toString(Health h);

/// What a fetchmail exit code means (fetchmail(1) "EXIT CODES").
struct FetchmailExitMeaning {
  std::string name;          ///< e.g. "AUTHFAIL"
  std::string text;          ///< human sentence
  bool critical = false;     ///< needs the admin (authentication, configuration)
  bool mailWaiting = false;  ///< exit 0: mail was (or is) there
};

/// Interpret a fetchmail exit code. Pure.
FetchmailExitMeaning fetchmailExitMeaning(int code);

/// "NOMAIL: no mail waiting" for status reports. Pure.
std::string exitMeaningText(int code);

}  // namespace dynmx::status
