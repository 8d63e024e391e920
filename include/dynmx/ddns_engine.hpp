#pragma once
// The DDNS engine at the edge: detect → update → verify on one io_context. It carries out
// what the pure core (dynmx/ddns/*) decides, through the HttpClient and DnsResolver seams,
// persists the core's state file atomically, and serves the coordinator as a DdnsSource.
#include <boost/asio/io_context.hpp>
#include "dynmx/timer.hpp"
#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dynmx/atomic_file.hpp"
#include "dynmx/background_files.hpp"
#include "dynmx/coordinator.hpp"
#include "dynmx/ddns/address.hpp"
#include "dynmx/ddns/health.hpp"
#include "dynmx/ddns/mx_lever.hpp"
#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/state.hpp"
#include "dynmx/dnsupdate.hpp"
#include "dynmx/maildecision.hpp"
#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/net/http_client.hpp"
#include "dynmx/net/interfaces.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/status.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// The state file's name inside [daemon] state_dir.
inline constexpr const char* kStateFileName = "ddns-state.json";
/// The lock file beside it: whoever writes the state file holds an exclusive flock on this
/// (the daemon for its whole life, `dynmx update` for its pass when no daemon runs).
inline constexpr const char* kStateLockName = "ddns-state.lock";
/// A confirmed address that the authoritative servers contradict is sent again at most this
/// often (the provider answers nochg; more often would look like abuse).
inline constexpr Duration kReassertInterval = std::chrono::minutes(30);

/// How many DNS queries the verifier keeps in flight at once (each may open a socket).
inline constexpr std::size_t kMaxDnsInFlight = 32;

/// Sends one DNS UPDATE for an rfc2136 account; `done` runs once, on the loop.
using Rfc2136Sender = std::function<void(const DdnsAccount& account, dnsupdate::UpdateMessage message,
                                         std::function<void(dnsupdate::UpdateOutcome)> done)>;

/// Effects the engine uses; tests replace each one.
struct EngineDeps {
  net::HttpClient* http = nullptr;
  net::DnsResolver* dns = nullptr;
  /// Wall clock (the engine's only clock read).
  std::function<TimePoint()> now;
  /// Password file → secret (production: dynmx::readSecretFile).
  std::function<SecretRead(const std::string&)> readSecret;
  /// Interface → addresses (production: net::readInterface).
  std::function<net::InterfaceInfo(const std::string&)> readInterface;
  /// rfc2136 accounts' updates (production: makeRfc2136Sender); empty = such hosts report an error.
  Rfc2136Sender rfc2136;
  /// Mode and owner of the state file (a root-run `dynmx update` writes it for the daemon user).
  AtomicWriteOptions stateFile{};
  /// The boot clock against `now` (production: readClockAnchor). Empty, or nullopt from
  /// it: a restart cannot tell how long it was down, and back-offs run again in full.
  std::function<std::optional<ClockAnchor>(TimePoint now)> clockAnchor;
  /// Where the state file is written: the daemon's BackgroundFiles (the fsync off the loop).
  /// Null: written inline before the pass reports (`dynmx update`, unit tests).
  FileSink* stateWriter = nullptr;
  /// stateSaveError() changed (an off-loop save failed, or succeeded after a failure).
  std::function<void()> stateSaveChanged;
};

/// This boot's id and CLOCK_BOOTTIME, paired with `now`; nullopt if either is unreadable.
std::optional<ClockAnchor> readClockAnchor(TimePoint now);

/// What one pass should do.
struct PassOptions {
  bool force = false;       ///< re-send unchanged addresses (never before a back-off ends)
  bool firstStart = false;  ///< the daemon just started: a `nochg` is expected
  bool verifyOnly = false;  ///< skip detection and updates (periodic verification)
};

/// One host's line in the pass report and the `dynmx update` table.
struct HostReport {
  std::string host;
  std::string account;
  std::string address;       ///< what we published / expect published
  std::string result;        ///< reply code of this pass, or "skip: unchanged", ...
  bool sent = false;         ///< a request for this host went out in this pass
  bool fine = false;         ///< nothing wrong with this host (typed: see `condition`)
  bool blocked = false;      ///< this pass could not act for the host (rejected, no secret, held)
  bool nochgUnasked = false; ///< the provider answered nochg to a change it could not have had
  HostCondition condition = HostCondition::Pending;  ///< the host judged against the intent
  std::string verified;      ///< "yes", "no", "grace", "not checked"
  std::string verification;  ///< the verifier's sentence
  std::optional<TimePoint> retryAfter;
  std::string fatal;         ///< non-empty: disabled until the config changes
  std::string detail;        ///< why (skip text, provider line, rejection)
};

/// The outcome of one pass.
struct PassReport {
  std::vector<HostReport> hosts;
  std::string address;           ///< the address set used ("" if none)
  std::optional<NatReport> nat;  ///< interface vs web comparison
  std::vector<std::string> errors;  ///< detection, state file, password, account problems
  std::size_t requestsSent = 0;  ///< provider requests in this pass
  mail::DdnsHealth health;
  /// True when no error was recorded, every host is fine and health is not failing.
  [[nodiscard]] bool ok() const;
};

/// Completion of a pass; runs on the io_context.
using PassHandler = std::function<void(PassReport)>;

/// Accept a web IP-check URL: https, or http:// with a literal loopback host (tests).
Status<> checkWebSourceUrl(const std::string& url);

/// The engine. Single-threaded: call everything from the io_context's thread.
class Engine : public coord::DdnsSource, public HostMxLever {
 public:
  /// Loads the state file (a broken one is moved aside to PATH.broken and reported).
  Engine(boost::asio::io_context& io, DdnsSection config, std::string statePath, EngineDeps deps);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// One detect → update → verify pass; passes never overlap (a second one waits).
  void runPass(PassOptions options, PassHandler done);
  /// Daemon mode: a first pass now, detection every check_interval, verification every
  /// verify.interval. `onPass` is told after each pass (the coordinator re-evaluates).
  void start(PassHandler onPass = {});
  /// Cancel the timers; a pass in flight completes but schedules nothing.
  void stop();

  mail::DdnsHealth health() const override;
  status::DdnsInfo info() const override;
  std::string address() const override;
  void setIntent(AddressIntent intent) override;
  void requestPass(bool force) override;
  void wantMx(const std::string& host, std::optional<MxSetting> wanted) override;
  void mxContradicted(const std::string& host) override;
  std::optional<MxPublication> mxPublication(const std::string& host) const override;
  void onMxFacts(std::function<void()> listener) override;
  /// `dynmx update --reset HOST`: lift a fatal ban (and the unexpected-nochg count) of HOST
  /// in every account, and persist. Back-off deadlines stay: the provider's rule binds.
  /// Returns how many host records were reset.
  std::size_t resetHost(const std::string& host);
  /// A reloaded policy's [ddns] section: applied before the next pass starts (never under a
  /// pass in flight), then a pass runs so an edited account lifts its bans at once.
  void reconfigure(DdnsSection config);

  /// The host states as persisted.
  const StateStore& states() const { return store_; }
  /// The last pass report (empty before the first pass).
  const PassReport& lastReport() const { return last_; }

  /// Why the DDNS state file could not be saved, until a save succeeds (empty: it is saved).
  /// A fact the engine owns: passes that had nothing new to save do not clear it.
  const std::string& stateSaveError() const { return saveError_; }

  /// One pass's bookkeeping (defined in engine.cpp; public only for its helpers there).
  struct Pass;

 private:
  void beginNext();
  void detect(const std::shared_ptr<Pass>& pass);
  void update(const std::shared_ptr<Pass>& pass);
  bool shouldReassert(const std::string& account, const std::string& host, const HostState& state,
                      TimePoint now) const;
  void verify(const std::shared_ptr<Pass>& pass);
  void finish(const std::shared_ptr<Pass>& pass);
  void persist(PassReport& report);
  void scheduleCheck();
  void scheduleVerify();
  /// Arm the check timer for the earliest held send that matters now (a withdrawal, an MX
  /// change) when the provider allows it sooner than the next check.
  void scheduleHeldSends(TimePoint now);
  void applyPendingConfig();
  HealthInput healthInput(TimePoint now) const;
  bool withdrawing(const DdnsAccount& account, const std::string& host) const;
  /// The dyndns2 account that updates `host` (normalized), or null.
  const DdnsAccount* dyndns2AccountOf(const std::string& host) const;

  boost::asio::io_context& io_;
  DdnsSection config_;
  std::optional<DdnsSection> pendingConfig_;  ///< from a reload, applied between passes
  /// Per (account, host): the provider's line or transport error of the last failed attempt.
  std::map<std::pair<std::string, std::string>, std::string> lastError_;
  std::string statePath_;
  std::string persisted_;  ///< what the state file holds, as we last wrote it
  std::string writing_;    ///< the newest state handed to stateWriter, not yet written
  std::string saveError_;  ///< the latest save failed: why (cleared by a successful save)
  EngineDeps deps_;
  StateStore store_;
  std::string loadError_;
  bool holdUpdates_ = false;  ///< the state file was broken: no updates in the next pass
  std::optional<AddressSet> current_;
  std::optional<NatReport> nat_;
  std::vector<Observation> observations_;
  mail::DdnsHealth health_;
  PassReport last_;
  AddressIntent intent_ = AddressIntent::Publish;  ///< set by the coordinator
  /// The largest cache TTL a verified withdrawal left (HostVerification::cacheTtl, capped at
  /// kMaxTtlGrace); reset when a new withdrawal begins.
  Duration withdrawalCacheTtl_{0};
  std::map<std::string, MxSetting> mxWanted_;  ///< host → the mx=/backmx= the MX lever asks for
  std::set<std::string> mxContradicted_;       ///< hosts whose accepted MX the servers contradict
  std::function<void()> mxListener_;
  std::string addressLost_;  ///< non-empty: detection says we no longer hold the address (why)
  std::vector<HostHealth> judged_;  ///< the last judgement of every host (one typed model)
  bool running_ = false;
  bool daemon_ = false;
  bool firstDaemonPass_ = true;
  struct Queued {
    PassOptions options;
    PassHandler done;
  };
  std::vector<Queued> queue_;
  PassHandler onPass_;
  Timer checkTimer_;
  Timer verifyTimer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// The production rfc2136 sender: loads the account's key file for every update (a rotated
/// key is picked up; an unreadable one is a fatal outcome naming the file) and sends through
/// dnsupdate::makeUpdater. A zone's primary is found through ddns.verify.servers, else the
/// system's resolvers, when the account names no server.
Rfc2136Sender makeRfc2136Sender(boost::asio::io_context& io, const DdnsSection& config);

/// Render a pass report as the `dynmx update` table.
std::string formatPassTable(const PassReport& report);
/// Render a pass report as JSON text (same fields as the table).
std::string passReportJson(const PassReport& report);

}  // namespace dynmx::ddns
