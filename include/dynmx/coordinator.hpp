#pragma once
// The coordinator: feeds link state and DDNS health to maildecision, and carries out
// the switch between direct SMTP and fetchmail multidrop. Every effect goes through a
// small interface (Deps) so tests drive it with fakes and a fake clock.
#include <boost/asio/io_context.hpp>
#include "dynmx/timer.hpp"
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/ddns/health.hpp"
#include "dynmx/hooks.hpp"
#include "dynmx/maildecision.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/result.hpp"
#include "dynmx/status.hpp"

namespace dynmx::coord {

/// The uplink as the coordinator needs it.
class LinkSource {
 public:
  virtual ~LinkSource() = default;
  /// Current state (type resolved, never Auto).
  virtual mail::LinkState current() const = 0;
  /// Interface name for the report.
  virtual std::string interfaceName() const = 0;
};

/// The mail retrieval side (the fetchmail supervisor in production).
class MailFetcher {
 public:
  virtual ~MailFetcher() = default;
  virtual void start() = 0;
  virtual void stop(std::function<void()> stopped) = 0;
  /// Stop the daemon and poll until the ISP box is empty (bounded).
  virtual void drain(std::function<void(bool drained, const std::string& detail)> done) = 0;
  virtual const status::FetchmailInfo& info() const = 0;
};

/// The DDNS engine as the coordinator needs it.
class DdnsSource {
 public:
  virtual ~DdnsSource() = default;
  virtual mail::DdnsHealth health() const = 0;
  virtual status::DdnsInfo info() const = 0;
  /// Current public address (for hooks), empty if unknown.
  virtual std::string address() const = 0;
  /// What our hosts should show: our address, or (where the provider allows it) withdrawn.
  /// The engine carries it out, verifies it and reports the facts in info(); it keeps no
  /// mode of its own. The coordinator sets it before the engine's first pass.
  virtual void setIntent(ddns::AddressIntent intent) = 0;
  /// Run a detect → update → verify pass soon (force: send even if unchanged).
  virtual void requestPass(bool force) = 0;
};

/// One steered domain's wanted MX set.
struct MxIntent {
  std::string domain;
  std::string mode;                ///< "direct" | "multidrop": which set this is
  std::vector<MxRecord> records;
  Duration ttl{std::chrono::minutes(5)};
  bool operator==(const MxIntent&) const = default;
};

/// The MX lever as the coordinator needs it (real: mx::Steering, RFC 2136 + verification at
/// every authoritative server). Intent down, facts up.
class MxSource {
 public:
  virtual ~MxSource() = default;
  /// Publish these sets (one per [[mx]] domain) and keep verifying them.
  virtual void setIntent(std::vector<MxIntent> intents) = 0;
  /// What the lever observed, one per domain.
  virtual std::vector<status::MxInfo> facts() const = 0;
};

/// Effects the coordinator uses.
struct Deps {
  std::function<TimePoint()> now;
  LinkSource* link = nullptr;
  MailFetcher* fetcher = nullptr;
  DdnsSource* ddns = nullptr;
  /// The MX lever; null = nothing is steered (status still reports the exposure).
  MxSource* mx = nullptr;
  /// Render, validate with the real fetchmail, and install the rc for this policy.
  std::function<Status<>(const Policy&)> installRc;
  /// The same without blocking the loop (fetchmail --configdump as a child); preferred when set.
  std::function<void(const Policy&, std::function<void(Status<>)>)> installRcAsync;
  /// Run the admin hooks; `done` gets one record per hook.
  std::function<void(const std::vector<Hook>&, const hooks::SwitchContext&,
                     std::function<void(std::vector<status::HookRecord>)>)>
      runHooks;
  /// Persist the report (state file). Called after every change that matters.
  std::function<void(const status::Report&)> persist;
  /// Fill health + healthReasons of a report.
  std::function<void(status::Report&)> computeHealth;
};

/// How long a failed drain or rc install waits before the next try.
inline constexpr std::chrono::seconds kRetryAfterFailure{60};
/// The way back to direct, one step at a time (persisted, so a restart resumes the step).
enum class ReturnStep {
  None,            ///< not returning
  PublishAddress,  ///< our hosts published again and verified at every authoritative server
  PublishMx,       ///< the direct MX set published and verified
  SenderCaches,    ///< fetchmail keeps polling while senders' caches hold the multidrop MX
  Drain,           ///< the final drain of the ISP mailbox
};

/// "", "publish-address", "publish-mx", "sender-caches", "drain".
const char* toString(ReturnStep s);

/// How many switches the journal keeps.
inline constexpr std::size_t kJournalSize = 50;

/// The coordinator. Single-threaded: call everything from the io_context.
class Coordinator {
 public:
  Coordinator(boost::asio::io_context& io, Policy policy, Deps deps);

  /// Resume from a persisted report (mode, since, journal), or start safe (multidrop).
  void start(const std::optional<status::Report>& restored);
  /// Something changed (link event, DDNS pass finished, timer): decide again and act.
  void evaluate();
  /// Apply a reloaded policy, or keep the running one and report the errors.
  void reload(const PolicyLoad& load);
  /// The full report (for the control socket, status, metrics).
  status::Report report() const;
  /// Current mode.
  mail::MailMode mode() const { return current_; }
  bool switching() const { return switching_; }
  const Policy& policy() const { return policy_; }

 private:
  void switchToMultidrop(const mail::Decision& d);
  void ensureRetrieval(bool policyChanged = false);
  void onRcInstalled(const Status<>& installed);
  void journal(mail::MailMode from, mail::MailMode to, const mail::Decision& d, const std::string& detail);
  void runHooksFor(mail::MailMode from, mail::MailMode to, const mail::Decision& d);
  void scheduleReview(std::optional<TimePoint> at);
  void scheduleRetry();
  void publish();
  /// Tell the DDNS engine and the MX lever what the world should look like now.
  void applyIntent();
  void setStep(ReturnStep step, const std::string& detail, std::optional<TimePoint> until = {});
  /// Move the way back to direct on as far as the facts allow.
  void advanceReturn(const mail::Decision& d);
  void abortReturn(const std::string& why);
  void drainAndFinish(const mail::Decision& d);
  /// The MX sets the coordinator wants published now.
  std::vector<MxIntent> mxIntents() const;
  /// Every domain with a lever shows `mode`'s set at every authoritative server.
  bool mxVerified(const std::string& mode) const;
  void fillExposure(status::Report& r) const;
  /// Remember until when senders may still use the direct MX (once the withdrawal is seen).
  void noteMxWithdrawal();
  /// While direct: arm the sweep of the ISP mailbox (fetchmail.sweep_interval) if due.
  void scheduleSweep();
  /// One sweep: the rc installed, then polls until the ISP box is empty; the mode stays.
  void sweep();

  boost::asio::io_context& io_;
  Policy policy_;
  Deps deps_;
  TimePoint startedAt_{};
  mail::MailMode current_ = mail::MailMode::Multidrop;
  TimePoint since_{};
  bool switching_ = false;
  bool retrievalReady_ = false;  ///< rc installed and fetchmail asked to run
  bool installing_ = false;      ///< an asynchronous rc install is in flight
  bool installAgain_ = false;    ///< asked again meanwhile: run once more (the policy may have changed)
  std::string retrievalError_;
  std::string drainError_;
  TimePoint directNotBefore_{};  ///< after a failed drain: no new attempt before this
  mail::Decision lastDecision_;
  std::vector<status::SwitchRecord> switches_;
  std::vector<status::HookRecord> hooks_;
  std::vector<std::string> policyErrors_;
  ReturnStep step_ = ReturnStep::None;
  TimePoint stepSince_{};
  std::optional<TimePoint> stepUntil_;
  std::optional<TimePoint> directMxUntil_;  ///< senders may use the direct MX until then
  std::vector<status::StepRecord> steps_;
  std::optional<ddns::AddressIntent> appliedAddressIntent_;
  std::optional<std::vector<MxIntent>> appliedMx_;
  Timer reviewTimer_;
  Timer retryTimer_;
  Timer sweepTimer_;
  bool sweepArmed_ = false;
  bool sweeping_ = false;  ///< a direct-mode sweep owns fetchmail: no drain or start meanwhile
  status::SweepInfo sweepInfo_;  ///< the last sweep's outcome and the next one's time
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dynmx::coord
