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
  /// Ask providers that allow it to mark our hosts offline (true) or back online (false).
  virtual void setOffline(bool offline) = 0;
  /// Run a detect → update → verify pass soon (force: send even if unchanged).
  virtual void requestPass(bool force) = 0;
};

/// Effects the coordinator uses.
struct Deps {
  std::function<TimePoint()> now;
  LinkSource* link = nullptr;
  MailFetcher* fetcher = nullptr;
  DdnsSource* ddns = nullptr;
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
  void beginSwitchToDirect(const mail::Decision& d);
  void ensureRetrieval(bool policyChanged = false);
  void onRcInstalled(const Status<>& installed);
  void journal(mail::MailMode from, mail::MailMode to, const mail::Decision& d, const std::string& detail);
  void runHooksFor(mail::MailMode from, mail::MailMode to, const mail::Decision& d);
  void scheduleReview(std::optional<TimePoint> at);
  void scheduleRetry();
  void publish();

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
  Timer reviewTimer_;
  Timer retryTimer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dynmx::coord
