#include "dynmx/coordinator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace dynmx::coord {
namespace {

std::string codesOf(const mail::Decision& d) {
  std::string out;
  for (const auto& r : d.reasons) {
    if (!out.empty()) out += ',';
    out += r.code;
  }
  return out;
}

std::string textOf(const mail::Decision& d) {
  std::string out;
  for (const auto& r : d.reasons) {
    if (!out.empty()) out += "; ";
    out += r.text;
  }
  return out;
}

std::optional<mail::MailMode> parseMode(const std::string& s) {
  if (s == "direct") return mail::MailMode::Direct;
  if (s == "multidrop") return mail::MailMode::Multidrop;
  return std::nullopt;
}

}  // namespace

Coordinator::Coordinator(boost::asio::io_context& io, Policy policy, Deps deps)
    : io_(io), policy_(std::move(policy)), deps_(std::move(deps)), reviewTimer_(io), retryTimer_(io) {}

void Coordinator::start(const std::optional<status::Report>& restored) {
  startedAt_ = deps_.now();
  current_ = mail::MailMode::Multidrop;  // safe until we know better
  since_ = startedAt_;
  if (restored) {
    if (auto m = parseMode(restored->mode.current)) {
      current_ = *m;
      since_ = restored->mode.since.value_or(startedAt_);
    }
    switches_ = restored->switches;
    hooks_ = restored->hooks;
    spdlog::info("resuming in {} mode (since {})", mail::toString(current_), formatTime(since_));
  } else if (policy_.mail.mode == MailPolicy::Direct) {
    // The admin's explicit choice; there may be no ISP mailbox at all.
    current_ = mail::MailMode::Direct;
    spdlog::info("no saved state: the policy says direct");
  } else {
    spdlog::info("no saved state: starting in multidrop mode until DDNS is proven healthy");
  }
  if (current_ == mail::MailMode::Multidrop) ensureRetrieval();
  evaluate();
}

void Coordinator::evaluate() {
  const TimePoint now = deps_.now();
  mail::DecisionInput in{&policy_, deps_.link->current(), deps_.ddns->health(), {current_, since_}, now};
  lastDecision_ = mail::decide(in);
  // After a failed drain the way back waits for the retry (a drain that fails at once
  // must not be retried at once, in a loop).
  const bool directOnHold = lastDecision_.mode == mail::MailMode::Direct && now < directNotBefore_;
  if (!switching_ && lastDecision_.mode != current_ && !directOnHold) {
    if (lastDecision_.mode == mail::MailMode::Multidrop) {
      switchToMultidrop(lastDecision_);
    } else {
      beginSwitchToDirect(lastDecision_);
    }
  } else if (current_ == mail::MailMode::Multidrop && !switching_ && !retrievalReady_) {
    ensureRetrieval();
  }
  scheduleReview(lastDecision_.reviewAt);
  publish();
}

void Coordinator::ensureRetrieval(bool policyChanged) {
  if (deps_.installRcAsync) {
    // fetchmail --configdump may take seconds: the loop goes on while it runs. Asked again
    // meanwhile, it is the same check, unless the policy changed: then once more after it.
    if (installing_) {
      installAgain_ = installAgain_ || policyChanged;
      return;
    }
    installing_ = true;
    std::weak_ptr<bool> alive = alive_;
    deps_.installRcAsync(policy_, [this, alive](Status<> installed) {
      if (alive.expired()) return;
      installing_ = false;
      if (current_ != mail::MailMode::Multidrop) return;  // the mode moved on meanwhile
      if (std::exchange(installAgain_, false)) {
        ensureRetrieval();
        return;
      }
      onRcInstalled(installed);
      publish();
    });
    return;
  }
  onRcInstalled(deps_.installRc(policy_));
}

void Coordinator::onRcInstalled(const Status<>& installed) {
  // Safety first: even if the rc cannot be installed, mail stays off direct SMTP (it waits
  // at the ISP); we retry and the status goes CRITICAL.
  if (!installed.ok()) {
    retrievalReady_ = false;
    retrievalError_ = installed.error();
    spdlog::error("cannot install the fetchmail rc: {}", retrievalError_);
    scheduleRetry();
    return;
  }
  retrievalError_.clear();
  deps_.fetcher->start();
  retrievalReady_ = true;
}

void Coordinator::switchToMultidrop(const mail::Decision& d) {
  const auto from = current_;
  current_ = mail::MailMode::Multidrop;
  since_ = deps_.now();
  spdlog::warn("switching mail to multidrop: {}", textOf(d));
  retrievalReady_ = false;
  ensureRetrieval();
  if (std::any_of(policy_.ddns.accounts.begin(), policy_.ddns.accounts.end(),
                  [](const DdnsAccount& a) { return a.offlineOnMultidrop; }))
    deps_.ddns->setOffline(true);
  journal(from, current_, d, retrievalError_.empty() ? "fetchmail started" : "rc install failed: " + retrievalError_);
  runHooksFor(from, current_, d);  // never waited for: the safe path is already in place
}

void Coordinator::beginSwitchToDirect(const mail::Decision& d) {
  spdlog::debug("direct is safe again: {}", textOf(d));
  switching_ = true;
  spdlog::info("returning mail to direct SMTP: draining the ISP mailbox first");
  publish();
  std::weak_ptr<bool> alive = alive_;
  auto finish = [this, alive](bool drained, const std::string& detail) {
    if (alive.expired()) return;
    switching_ = false;
    const TimePoint now = deps_.now();
    // Decide again: the situation may have changed while we drained.
    mail::DecisionInput in{&policy_, deps_.link->current(), deps_.ddns->health(), {current_, since_}, now};
    mail::Decision again = mail::decide(in);
    if (!drained || again.mode != mail::MailMode::Direct) {
      drainError_ = drained ? "" : detail;
      if (!drained) spdlog::error("not returning to direct: {}", detail);
      else spdlog::info("not returning to direct: the decision changed while draining");
      retrievalReady_ = false;
      ensureRetrieval();  // keep fetching; try again later
      if (!drained) {
        directNotBefore_ = now + kRetryAfterFailure;
        scheduleRetry();
      }
      evaluate();
      return;
    }
    drainError_.clear();
    const auto from = current_;
    current_ = mail::MailMode::Direct;
    since_ = now;
    retrievalReady_ = false;
    if (std::any_of(policy_.ddns.accounts.begin(), policy_.ddns.accounts.end(),
                    [](const DdnsAccount& a) { return a.offlineOnMultidrop; }))
      deps_.ddns->setOffline(false);
    spdlog::info("mail is direct again ({})", detail);
    journal(from, current_, again, detail);
    runHooksFor(from, current_, again);
    evaluate();
  };
  // Without an ISP mailbox there is nothing to drain (e.g. a policy that is direct only).
  if (policy_.isp.server.empty()) {
    finish(true, "no ISP mailbox configured");
    return;
  }
  deps_.fetcher->drain(std::move(finish));
}

void Coordinator::journal(mail::MailMode from, mail::MailMode to, const mail::Decision& d,
                          const std::string& detail) {
  status::SwitchRecord rec;
  rec.at = deps_.now();
  rec.from = mail::toString(from);
  rec.to = mail::toString(to);
  for (const auto& r : d.reasons) rec.reasons.push_back(r.code);
  rec.detail = detail.empty() ? textOf(d) : textOf(d) + " (" + detail + ")";
  switches_.push_back(std::move(rec));
  if (switches_.size() > kJournalSize) switches_.erase(switches_.begin());
  publish();
}

void Coordinator::runHooksFor(mail::MailMode from, mail::MailMode to, const mail::Decision& d) {
  if (policy_.daemon.hooks.empty() || !deps_.runHooks) return;
  hooks::SwitchContext ctx{mail::toString(to), mail::toString(from), codesOf(d), deps_.ddns->address()};
  std::weak_ptr<bool> alive = alive_;
  deps_.runHooks(policy_.daemon.hooks, ctx, [this, alive](std::vector<status::HookRecord> records) {
    if (alive.expired()) return;
    for (auto& r : records) {
      if (!r.ok) spdlog::warn("hook {} failed: {}", r.argv0, r.error);
      hooks_.push_back(std::move(r));
    }
    while (hooks_.size() > kJournalSize) hooks_.erase(hooks_.begin());
    publish();
  });
}

void Coordinator::scheduleReview(std::optional<TimePoint> at) {
  reviewTimer_.cancel();
  if (!at) return;
  auto delay = std::max(Duration{0}, *at - deps_.now()) + std::chrono::milliseconds(50);
  reviewTimer_.expires_after(delay);
  std::weak_ptr<bool> alive = alive_;
  reviewTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    evaluate();
  });
}

void Coordinator::scheduleRetry() {
  retryTimer_.expires_after(kRetryAfterFailure);
  std::weak_ptr<bool> alive = alive_;
  retryTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    if (current_ == mail::MailMode::Multidrop && !retrievalReady_) ensureRetrieval();
    evaluate();
  });
}

void Coordinator::reload(const PolicyLoad& load) {
  policyErrors_.clear();
  if (!load.policy) {
    for (const auto& d : load.diagnostics)
      if (d.severity == Severity::Error) policyErrors_.push_back(formatDiagnostic(d));
    spdlog::error("policy reload rejected ({} errors); keeping the running policy", policyErrors_.size());
    for (const auto& e : policyErrors_) spdlog::error("{}", e);
    publish();
    return;
  }
  policy_ = *load.policy;
  spdlog::info("policy reloaded from {}", policy_.sourceFile);
  if (current_ == mail::MailMode::Multidrop && !switching_) {
    retrievalReady_ = false;
    ensureRetrieval(/*policyChanged=*/true);  // re-render; fetchmail re-reads a changed rc at its next poll
  }
  evaluate();
}

status::Report Coordinator::report() const {
  status::Report r;
  r.daemon.running = true;
  r.daemon.since = startedAt_;
  r.daemon.policyFile = policy_.sourceFile;
  r.daemon.policyErrors = policyErrors_;
  r.mode.current = mail::toString(current_);
  r.mode.wanted = mail::toString(lastDecision_.mode);
  r.mode.since = since_;
  r.mode.policy = toString(policy_.mail.mode);
  // Reason texts carry durations ("healthy for 2h"): word them as of now, not as of the
  // last decision, which may be hours old. Same inputs otherwise; the mode stays the decided one.
  const mail::Decision now =
      mail::decide({&policy_, deps_.link->current(), deps_.ddns->health(), {current_, since_}, deps_.now()});
  for (const auto& reason : (now.mode == lastDecision_.mode ? now : lastDecision_).reasons)
    r.mode.reasons.push_back({reason.code, reason.text});
  if (!retrievalError_.empty() && current_ == mail::MailMode::Multidrop)
    r.mode.reasons.push_back({"fetchmail.rc_failed", retrievalError_});
  if (!drainError_.empty()) r.mode.reasons.push_back({"drain.failed", drainError_});
  r.mode.reviewAt = lastDecision_.reviewAt;
  r.mode.switching = switching_;
  auto link = deps_.link->current();
  r.link.type = link.type == LinkType::Dialup ? "dialup" : "dedicated";
  r.link.interface = deps_.link->interfaceName();
  r.link.up = link.up;
  r.link.since = link.since;
  r.ddns = deps_.ddns->info();
  r.fetchmail = deps_.fetcher->info();
  r.switches = switches_;
  r.hooks = hooks_;
  if (deps_.computeHealth) deps_.computeHealth(r);
  return r;
}

void Coordinator::publish() {
  if (deps_.persist) deps_.persist(report());
}

}  // namespace dynmx::coord
