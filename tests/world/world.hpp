#pragma once
// The senders' world: a loopback internet in the test's own network namespace, in which
// a real Postfix follows example.com's MX and every message is counted where it lands.
//
//   feeder ──SMTP──▶ sender Postfix 192.0.2.25 ──MX via unbound 192.0.2.54──▶ BIND 192.0.2.53
//                     │ MX 10 office.dyn.example.net (A: whatever DDNS published, TTL 10 s)
//                     │ MX 20 mx.isp.example 198.51.100.25 (ISP Postfix → dovecot domain box)
//                     ▼
//   office listener 203.0.113.7:25 │ stranger (takes the old address) │ hijacker 198.51.100.66
//   dynmx run: DDNS via the dyndns2 provider (→ nsupdate into BIND), fetchmail from the
//   ISP box into the office's local MTA (a sink on 127.0.0.1).
// See docs/world.md for the scaled time and how to add a scenario.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dynmx/result.hpp"
#include "postfix.hpp"
#include "testbed/dovecot.hpp"
#include "testbed/mail_sink.hpp"
#include "testbed/named.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"
#include "unbound.hpp"

namespace dynmx::world {

/// Who is where (documentation addresses only).
inline constexpr const char* kMailDomain = "example.com";
inline constexpr const char* kDdnsZone = "dyn.example.net";
inline constexpr const char* kOfficeHost = "office.dyn.example.net";
inline constexpr const char* kOfficeAddress = "203.0.113.7";    ///< the office's address at the start
inline constexpr const char* kHijackAddress = "198.51.100.66";  ///< where a hijacked record points
inline constexpr const char* kIspMxAddress = "198.51.100.25";   ///< mx.isp.example
inline constexpr const char* kAuthorityAddress = "192.0.2.53";  ///< BIND
inline constexpr const char* kResolverAddress = "192.0.2.54";   ///< unbound
inline constexpr const char* kSenderAddress = "192.0.2.25";     ///< the senders' Postfix
inline constexpr const char* kNowhereAddress = "198.51.100.99"; ///< no interface holds it: a record pointed
                                                                ///< there makes DDNS unsafe, senders fall back

/// Scaled time (docs/world.md): the TTL of MX and A records, and dynmx's knobs.
inline constexpr int kRecordTtlSeconds = 10;

class World;

/// How dynmx runs in this world: the variant's part of the policy.
struct DaemonSetup {
  std::string mode = "auto";         ///< [mail] mode
  std::string linkType = "dedicated";  ///< [link] type
  /// TOML appended at the very end: bare keys land in the [[ddns.account]] table, which is
  /// the policy's last table; further tables may follow.
  std::string policyFragment;
  /// MX steering: an `[[mx]]` table for example.com with `lever = "rfc2136"`, its own TSIG
  /// key (0600, the daemon's), and BIND granting that key MX updates in example.com.
  bool mxSteering = false;
  /// The provider account may send offline=YES (dyndns2d's donator accounts).
  bool donator = false;
  /// Run by start() once every server is up, before `dynmx run` starts for the first time
  /// (e.g. mail already waiting at the ISP); optional.
  std::function<Status<>(World&)> beforeDaemon;
  /// Where dynmx verifies the office's name (`[ddns.verify] servers`); empty: BIND.
  std::vector<std::string> verifyServers;
  /// DDNS by RFC 2136 instead of the dyndns2 provider: the account is `provider = "rfc2136"`,
  /// updating BIND's DDNS zone directly with its TSIG key (a 0600 copy, the daemon's:
  /// World::ddnsKeyPath). The zone starts without the office's A record: dynmx publishes it
  /// (its first UPDATE requires that none exists). The dyndns2 provider runs, and gets nothing.
  bool rfc2136 = false;
};

/// The TTL dynmx publishes the steered MX sets with: dynmx's floor (policy/mx.cpp refuses
/// less than 30 s), so it cannot be scaled down to kRecordTtlSeconds like the zone's records.
inline constexpr int kMxTtlSeconds = 30;

/// Where each copy (message × envelope recipient) ended up.
struct Account {
  int messages = 0;       ///< messages the senders accepted
  int copies = 0;         ///< message × recipient
  int direct = 0;         ///< reached the office's SMTP listener
  int viaIsp = 0;         ///< stored at the ISP and delivered by fetchmail
  int misdirected = 0;    ///< reached the stranger or the hijacker
  int atIsp = 0;          ///< still in the ISP box at the end (nobody fetched it)
  int fetching = 0;       ///< delivered by fetchmail, its copy not yet deleted from the box (a poll
                          ///< in progress): neither a duplicate nor left at the ISP
  int lost = 0;           ///< nowhere at all
  int duplicates = 0;     ///< deliveries beyond the first of a copy
  /// Extra deliveries SMTP itself makes and says so: the office's link went down after it
  /// had the whole message but before the sender read its 250, and the senders' Postfix
  /// logged "... while sending end of data -- message may be sent more than once" for that
  /// message, then delivered it again by MX 20 (RFC 5321 6.1). At most one per such line;
  /// anything beyond is a duplicate above. Listed in `notes`, not in `problems`.
  int smtpDuplicates = 0;
  int misdirectedMessages = 0;
  std::optional<double> exposureFirst;  ///< send time (s after the stream began) of the first misdirected message
  std::optional<double> exposureLast;   ///< ... and of the last one
  std::vector<std::string> problems;    ///< one line per lost or duplicated copy
  std::vector<std::string> notes;       ///< one line per SMTP duplicate (above)
  /// exposureLast - exposureFirst, 0 without misdirection.
  [[nodiscard]] double exposureSeconds() const {
    return exposureFirst ? *exposureLast - *exposureFirst : 0.0;
  }
  [[nodiscard]] nlohmann::json toJson() const;
};

/// Per test id: how often the senders' Postfix warned that a message "may be sent more
/// than once" (its end-of-data reply was lost: RFC 5321 6.1). The queue id ties the warning
/// to the cleanup line that names the message's Message-ID (<id@sender.example.org>).
std::map<std::string, int> mayBeSentTwice(const std::string& maillog);

/// The running world. Every method that waits is bounded.
class World {
 public:
  World(std::string dynmxBinary, std::string dyndns2dBinary, std::string tag = "w");
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  /// Build the network, start BIND, unbound, the ISP (Postfix + dovecot), the senders'
  /// Postfix, the provider, the office's listener and local MTA, and `dynmx run`; then
  /// wait until mail is on its steady path (auto: direct after the hold-down).
  Status<> start(const DaemonSetup& setup);

  // --- world events -----------------------------------------------------------------
  /// DHCP/PPPoE reconnect: the office's address becomes `address` (the old one is free).
  Status<> moveOffice(const std::string& address);
  /// The office's link drops; its address goes with it (as on a PPP link).
  Status<> linkDown();
  /// The link is back, with `address` (empty: the address it had).
  Status<> linkUp(const std::string& address = "");
  /// The stranger's server now holds `address` and accepts everything on port 25.
  Status<> strangerTakes(const std::string& address);
  /// The provider answers every update with `code` (e.g. 911); "" returns it to normal.
  Status<> providerAnswers(const std::string& code);
  /// Point the office's A record at `address` behind dynmx's back (nsupdate).
  Status<> setRecord(const std::string& address);
  /// Stop `dynmx run` with `signal` (SIGTERM or SIGKILL) and start it again.
  Status<> restartDaemon(int signal);

  // --- traffic and the count --------------------------------------------------------
  /// Feed the senders one message every `interval` from now on (a background thread).
  void startStream(std::chrono::milliseconds interval);
  /// Stop feeding (joins the thread).
  void stopStream();
  /// Seconds since the stream began.
  [[nodiscard]] double elapsed() const;
  /// Wait until every queue is empty and the ISP box is drained where dynmx fetches.
  Status<> drain(std::chrono::milliseconds bound);
  /// Where every copy went; with a window, only the messages sent in [from, to) seconds
  /// of the stream.
  [[nodiscard]] Account account(double from = 0, double to = 1e9) const;

  /// `dynmx status --json`, nullopt if it did not answer.
  [[nodiscard]] std::optional<nlohmann::json> status() const;
  /// The same with the exit code `dynmx status` would give (0 ok, 1 WARNING, 2 CRITICAL).
  [[nodiscard]] std::optional<std::pair<int, nlohmann::json>> statusWithExit() const;

  // --- the daemon, as the end-to-end and fault tests drive it ------------------------
  /// The policy file `dynmx run -c` reads.
  [[nodiscard]] std::string policyPath() const { return dir_.file("dynmx.toml"); }
  /// The policy start() wrote for its setup.
  [[nodiscard]] std::string goodPolicy() const { return policyText(setup_); }
  /// Write `text` as the policy and send dynmx SIGHUP. With `accepted`, wait (30 s) until
  /// its log says "policy reloaded" once more; without, return once the signal is sent.
  Status<> reloadPolicy(const std::string& text, bool accepted = true);
  /// Stop dynmx (SIGTERM: it persists its state), write `text` as the policy, start it.
  Status<> restartDaemonWith(const std::string& text);
  /// Stop dynmx with SIGTERM (bounded: 20 s, then SIGKILL) and leave it stopped.
  void stopDaemon();
  /// dynmx's process is alive and answers on its control socket.
  [[nodiscard]] bool daemonAnswers() const;
  /// What every `dynmx run` of this world logged so far, in order.
  [[nodiscard]] std::string daemonLog() const;
  /// Requests the dyndns2 provider answered so far (its /stats); -1 if it did not answer.
  [[nodiscard]] long providerRequests() const;
  /// `dig @BIND NAME TYPE +short`: what the authority publishes.
  [[nodiscard]] Result<std::string> dig(const std::string& name, const std::string& type = "A") const;
  /// The world's directory (dynmx's state is under DIR/state).
  [[nodiscard]] const std::string& dir() const { return dir_.path(); }
  /// The ISP's mailbox store goes down: dovecot stops (fetchmail cannot log in) and the ISP's
  /// Postfix can no longer store, so it defers (`defer_transports = virtual`) and queues.
  Status<> ispDown();
  /// ... and comes back: dovecot again from its own config (same ports, users, maildirs),
  /// the ISP's Postfix stores again and retries its queue at once.
  Status<> ispUp();
  /// The office's mail server stops answering (a restart of its MTA) while its link, its
  /// address and DDNS stay as they are: the senders fall back to MX 20, the ISP.
  Status<> officeMtaDown();
  /// ... and answers on the office's address again.
  Status<> officeMtaUp();
  /// The authoritative server (BIND, 192.0.2.53) goes down: dynmx cannot verify or update,
  /// the provider cannot push, and once their caches expire the senders cannot resolve
  /// example.com's MX (their Postfix defers and queues).
  Status<> authorityDown();
  /// ... and comes back: named again from its own config (same address, zones, keys and
  /// journals, so every update made before is still there); waits until it answers.
  Status<> authorityUp();
  /// The DDNS zone's key file the rfc2136 account reads (DaemonSetup::rfc2136).
  [[nodiscard]] std::string ddnsKeyPath() const { return dir_.file("ddns.key"); }
  /// Write the rfc2136 account's key file anew (a new inode, so dynmx tries again after a
  /// stop): BIND's key for the DDNS zone, with `name` and `secret` where given ("": BIND's).
  void writeDdnsKey(const std::string& name = "", const std::string& secret = "") const;
  /// The authoritative server as started (its key, zone and port; its config under
  /// dir()/named, which authorityUp() reads again).
  [[nodiscard]] const testbed::Named& authority() const { return *named_; }
  /// Delete the office's A record behind dynmx's back (nsupdate).
  Status<> deleteRecord();
  /// `dynmx status` as the admin reads it: (exit code, text).
  [[nodiscard]] std::pair<int, std::string> statusText() const;
  /// The office's current address ("" while its link is down).
  [[nodiscard]] const std::string& officeAddress() const { return officeAddress_; }
  /// Submission failures of the feeder (should stay empty).
  [[nodiscard]] std::vector<std::string> feederErrors() const;
  /// What fetchmail delivered to the office's local MTA so far.
  [[nodiscard]] std::vector<testbed::SinkMessage> fetched() const { return localMta_->messages(); }
  /// The senders' Postfix (its log shows deferrals).
  [[nodiscard]] Postfix& senders() { return *senderMta_; }
  /// The ISP's Postfix (for tests that look at its box directly).
  [[nodiscard]] Postfix& isp() { return *ispMta_; }
  /// The ISP's domain box.
  [[nodiscard]] testbed::Dovecot& ispBox() { return *dovecot_; }
  /// Every log worth reading after a failure (dynmx, provider, both Postfix).
  [[nodiscard]] std::string logs() const;

  // --- provider faults (tests/world/provider_faults_test.cpp) ---
  /// GET /control?QUERY at the world's dyndns2 provider: its fault modes (tests/dyndns2d:
  /// `mode=code&code=911`, `mode=garbage`, `mode=http&status=500`, `mode=hang`, `mode=drip`,
  /// `mode=huge&bytes=N`, `mode=normal`).
  Status<> providerControl(const std::string& query);
  /// The world's provider as the policy names it: `http://127.0.0.1:PORT`.
  [[nodiscard]] std::string providerUrl() const;
  /// Another dyndns2 provider on 127.0.0.1:`port` with the same accounts, pushing into BIND
  /// as the world's own does, plus `extraArgs` (e.g. `--tls-cert`, `--tls-key`); its log
  /// and output are DIR/provider-`tag`.log and .out. The caller stops it.
  Result<std::unique_ptr<testbed::ServerProcess>> startProvider(int port, const std::string& tag,
                                                                const std::vector<std::string>& extraArgs);
  // --- files and sigkill faults ---
  /// Start `dynmx run` again (after stopDaemon() or killDaemon()). With `waitForAnswer`
  /// false it returns once the process is forked: a SIGKILL may then land anywhere in its
  /// start-up.
  Status<> launchDaemon(bool waitForAnswer);
  /// SIGKILL `dynmx run` itself (as the OOM killer would), then reap it; its process group
  /// (a fetchmail child) goes with it.
  void killDaemon();
  /// What the latest `dynmx run` logged.
  [[nodiscard]] std::string lastDaemonLog() const;

 private:
  struct Sent {
    std::string id;
    double at = 0;
    std::vector<std::string> recipients;  ///< local parts
  };
  Status<> startDaemon();
  std::string policyText(const DaemonSetup& setup) const;
  /// The `[[ddns.account]]` table up to its hosts: dyndns2 at the world's provider, or rfc2136.
  std::string ddnsAccount(const DaemonSetup& setup) const;
  /// The `[[mx]]` table of the MX-steering column ("" without steering).
  std::string mxTable(const DaemonSetup& setup) const;
  Status<> officeListenOn(const std::string& address);
  void releaseOfficeListener(const std::string& address);
  void feed(std::chrono::milliseconds interval);

  testbed::TempDir dir_;
  std::string dynmxBinary_;
  std::string dyndns2dBinary_;
  DaemonSetup setup_;
  std::unique_ptr<testbed::Named> named_;
  std::unique_ptr<Unbound> unbound_;
  std::unique_ptr<testbed::Dovecot> dovecot_;
  std::unique_ptr<testbed::ServerProcess> restartedDovecot_;  ///< after ispDown() + ispUp()
  std::unique_ptr<testbed::ServerProcess> restartedNamed_;    ///< after authorityDown() + authorityUp()
  int namedRestarts_ = 0;
  std::unique_ptr<Postfix> ispMta_;
  std::unique_ptr<Postfix> senderMta_;
  std::unique_ptr<testbed::ServerProcess> provider_;
  std::unique_ptr<testbed::ServerProcess> daemon_;
  std::vector<std::string> interfaces_;  ///< created by start(), deleted by the destructor
  bool resolvConfMounted_ = false;
  int providerPort_ = 0;
  int daemonStarts_ = 0;
  int dovecotRestarts_ = 0;
  std::string officeAddress_;
  std::string lastOfficeAddress_;
  std::unique_ptr<testbed::MailSink> localMta_;  ///< where fetchmail delivers
  std::map<std::string, std::unique_ptr<testbed::MailSink>> officeListeners_;  ///< by address
  std::map<std::string, std::unique_ptr<testbed::MailSink>> strangers_;        ///< by address
  std::vector<testbed::SinkMessage> retiredOffice_;  ///< what listeners of given-up addresses received
  std::unique_ptr<testbed::MailSink> hijacker_;

  mutable std::mutex sentMutex_;
  std::vector<Sent> sent_;
  std::vector<std::string> feederErrors_;
  std::atomic<bool> feeding_{false};
  std::thread feeder_;
  std::chrono::steady_clock::time_point streamStart_{};
};

}  // namespace dynmx::world
