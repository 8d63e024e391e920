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
    : io_(io), policy_(std::move(policy)), deps_(std::move(deps)), reviewTimer_(io), retryTimer_(io),
      sweepTimer_(io) {}

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
    steps_ = restored->steps;
    directMxUntil_ = restored->exposure.directMxUntil;
    if (current_ == mail::MailMode::Multidrop) {
      // Resume the way back to direct at the persisted step (the drain starts over).
      for (auto s : {ReturnStep::PublishAddress, ReturnStep::PublishMx, ReturnStep::SenderCaches,
                     ReturnStep::Drain})
        if (restored->mode.step == toString(s)) step_ = s;
      stepSince_ = restored->mode.stepSince.value_or(startedAt_);
      stepUntil_ = restored->mode.stepUntil;
      if (step_ != ReturnStep::None)
        spdlog::info("resuming the way back to direct at step {}", toString(step_));
    }
    spdlog::info("resuming in {} mode (since {})", mail::toString(current_), formatTime(since_));
  } else if (policy_.mail.mode == MailPolicy::Direct) {
    // The admin's explicit choice; there may be no ISP mailbox at all.
    current_ = mail::MailMode::Direct;
    spdlog::info("no saved state: the policy says direct");
  } else {
    spdlog::info("no saved state: starting in multidrop mode until DDNS is proven healthy");
  }
  // Before the engine's first pass: a restart during multidrop must not publish again.
  applyIntent();
  if (current_ == mail::MailMode::Multidrop) ensureRetrieval();
  evaluate();
}

void Coordinator::evaluate() {
  const TimePoint now = deps_.now();
  mail::DecisionInput in{&policy_, deps_.link->current(), deps_.ddns->health(), {current_, since_}, now};
  lastDecision_ = mail::decide(in);
  // After a failed drain the way back waits for the retry (a drain that fails at once
  // must not be retried at once, in a loop).
  const bool wantDirect = lastDecision_.mode == mail::MailMode::Direct;
  const bool directOnHold = wantDirect && now < directNotBefore_;
  std::optional<TimePoint> review = lastDecision_.reviewAt;
  bool switchedNow = false;  // the switch itself installed the rc (or failed and set the retry)
  if (!switching_ && current_ == mail::MailMode::Direct && !wantDirect) {
    switchToMultidrop(lastDecision_);
    switchedNow = true;
  } else if (!switching_ && current_ == mail::MailMode::Multidrop && wantDirect && !directOnHold) {
    advanceReturn(lastDecision_);
  } else if (!switching_ && current_ == mail::MailMode::Multidrop && !wantDirect &&
             step_ != ReturnStep::None) {
    abortReturn("the decision is multidrop again: " + textOf(lastDecision_));
  }
  if (!switchedNow && current_ == mail::MailMode::Multidrop && !switching_ && !retrievalReady_)
    ensureRetrieval();
  noteMxWithdrawal();
  scheduleSweep();
  // The sender-caches step ends at a time, not on an event.
  if (step_ == ReturnStep::SenderCaches && stepUntil_ && (!review || *stepUntil_ < *review))
    review = *stepUntil_;
  scheduleReview(review);
  publish();
}

void Coordinator::noteMxWithdrawal() {
  // Senders keep the direct set for its TTL after the multidrop set went out: remember when
  // that ends (persisted, so a restart does not forget what the senders' caches hold).
  if (current_ != mail::MailMode::Multidrop || step_ != ReturnStep::None || directMxUntil_ ||
      deps_.mx == nullptr || !mxVerified("multidrop"))
    return;
  const auto facts = deps_.mx->facts();
  for (const auto& m : policy_.mx) {
    if (m.lever == MxLever::None) continue;
    for (const auto& f : facts) {
      if (f.domain != m.domain) continue;
      const TimePoint t = f.publishedAt.value_or(f.verifiedAt.value_or(deps_.now())) + m.ttl;
      if (!directMxUntil_ || t > *directMxUntil_) directMxUntil_ = t;
    }
  }
}

void Coordinator::applyIntent() {
  // Withdraw while mail is (fully) on multidrop; publish from the first step back.
  const auto address = current_ == mail::MailMode::Multidrop && step_ == ReturnStep::None
                           ? ddns::AddressIntent::Withdraw
                           : ddns::AddressIntent::Publish;
  if (appliedAddressIntent_ != address) {
    appliedAddressIntent_ = address;
    deps_.ddns->setIntent(address);
  }
  if (deps_.mx != nullptr && !policy_.mx.empty()) {
    auto intents = mxIntents();
    if (appliedMx_ != intents) {
      appliedMx_ = intents;
      deps_.mx->setIntent(std::move(intents));
    }
  }
}

std::vector<MxIntent> Coordinator::mxIntents() const {
  // The direct set goes out at the second step back, before the drain: senders must learn
  // the way to us while fetchmail still collects what their caches send to the ISP.
  const bool direct = current_ == mail::MailMode::Direct ||
                      step_ == ReturnStep::PublishMx || step_ == ReturnStep::SenderCaches ||
                      step_ == ReturnStep::Drain;
  std::vector<MxIntent> out;
  for (const auto& m : policy_.mx)
    out.push_back({m.domain, direct ? "direct" : "multidrop", direct ? m.direct : m.multidrop, m.ttl});
  return out;
}

bool Coordinator::mxVerified(const std::string& mode) const {
  if (deps_.mx == nullptr) return false;
  const auto facts = deps_.mx->facts();
  for (const auto& m : policy_.mx) {
    if (m.lever == MxLever::None) continue;
    const auto f = std::find_if(facts.begin(), facts.end(),
                                [&](const status::MxInfo& i) { return i.domain == m.domain; });
    if (f == facts.end() || !f->verified || f->wanted != mode) return false;
  }
  return true;
}

void Coordinator::setStep(ReturnStep step, const std::string& detail, std::optional<TimePoint> until) {
  step_ = step;
  stepSince_ = deps_.now();
  stepUntil_ = until;
  status::StepRecord rec{stepSince_, step == ReturnStep::None ? "aborted" : toString(step), detail};
  spdlog::info("way back to direct: {}: {}", rec.step, detail);
  steps_.push_back(std::move(rec));
  if (steps_.size() > kJournalSize) steps_.erase(steps_.begin());
  applyIntent();
  publish();
}

void Coordinator::abortReturn(const std::string& why) {
  setStep(ReturnStep::None, why);
}

void Coordinator::advanceReturn(const mail::Decision& d) {
  const TimePoint now = deps_.now();
  const bool steered = std::any_of(policy_.mx.begin(), policy_.mx.end(),
                                   [](const MxDomain& m) { return m.lever != MxLever::None; }) &&
                       deps_.mx != nullptr;
  if (step_ == ReturnStep::None)
    setStep(ReturnStep::PublishAddress, "direct is safe again (" + textOf(d) + "): publishing our address");
  if (step_ == ReturnStep::PublishAddress) {
    const status::DdnsInfo info = deps_.ddns->info();
    // The engine reports what every authoritative server shows; without DDNS hosts there
    // is nothing to publish.
    if (!info.hosts.empty() && !(info.intent == "publish" && info.intentMet)) return;
    setStep(ReturnStep::PublishMx, steered ? "address verified; publishing the direct MX set"
                                           : "address verified; no MX lever, nothing to publish");
  }
  if (step_ == ReturnStep::PublishMx) {
    if (steered && !mxVerified("direct")) return;
    // Senders cached the multidrop set for up to its TTL, and what a withdrawal left of our
    // name (offline=YES: "no such record", for the zone's negative-caching TTL): until both
    // run out they still deliver to the ISP, so fetchmail keeps collecting.
    Duration mxTtl{0};
    if (steered)
      for (const auto& m : policy_.mx)
        if (m.lever != MxLever::None) mxTtl = std::max(mxTtl, m.ttl);
    const Duration withdrawalTtl = deps_.ddns->info().withdrawalCacheTtl;
    std::vector<std::string> why;
    if (mxTtl.count() > 0) why.push_back("the multidrop set's TTL, " + formatDuration(mxTtl));
    if (withdrawalTtl.count() > 0)
      why.push_back("the withdrawn name's negative-caching TTL, " + formatDuration(withdrawalTtl));
    const Duration wait = std::max(mxTtl, withdrawalTtl);
    if (wait.count() <= 0) {
      setStep(ReturnStep::Drain, steered ? "direct MX verified; nothing cached to wait out: final drain"
                                         : "no MX set changed: final drain");
    } else {
      std::string text = steered ? "direct MX verified; " : "no MX set changed; ";
      text += "fetchmail keeps polling until " + formatTime(now + wait) + " (";
      for (std::size_t i = 0; i < why.size(); ++i) text += (i ? " and " : "") + why[i];
      setStep(ReturnStep::SenderCaches, text + ")", now + wait);
    }
  }
  if (step_ == ReturnStep::SenderCaches) {
    if (stepUntil_ && now < *stepUntil_) return;
    setStep(ReturnStep::Drain, "senders' caches expired: final drain");
  }
  if (step_ == ReturnStep::Drain && !switching_ && !sweeping_) drainAndFinish(d);
}

void Coordinator::scheduleSweep() {
  const Duration every = policy_.fetchmail.sweepInterval;
  if (sweepArmed_ || sweeping_ || every.count() <= 0 || policy_.isp.server.empty() ||
      current_ != mail::MailMode::Direct)
    return;
  sweepArmed_ = true;
  sweepInfo_.next = deps_.now() + every;
  sweepTimer_.expires_after(every);
  std::weak_ptr<bool> alive = alive_;
  sweepTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    sweepArmed_ = false;
    sweep();
  });
}

void Coordinator::sweep() {
  // Only on direct, and never beside a switch: multidrop runs fetchmail itself.
  if (current_ != mail::MailMode::Direct || switching_ || sweeping_) {
    scheduleSweep();
    return;
  }
  sweeping_ = true;
  std::weak_ptr<bool> alive = alive_;
  auto finished = [this, alive](bool drained, const std::string& detail) {
    if (alive.expired()) return;
    sweeping_ = false;
    sweepInfo_.last = deps_.now();
    sweepInfo_.lastOk = drained;
    sweepInfo_.lastDetail = detail;
    sweepInfo_.failures = drained ? 0 : sweepInfo_.failures + 1;
    // Mail left direct while the sweep polled: fetchmail's daemon could not start beside
    // the sweep's poll (one lock per mailbox); start it now.
    if (current_ == mail::MailMode::Multidrop && retrievalReady_) deps_.fetcher->start();
    if (drained)
      spdlog::info("swept the ISP mailbox while direct: {}", detail);
    else
      spdlog::warn("the sweep of the ISP mailbox while direct failed: {} (next sweep in {})", detail,
                   formatDuration(policy_.fetchmail.sweepInterval));
    publish();
    evaluate();  // a switch or a drain may have waited for the sweep
  };
  auto poll = [this, alive, finished](const Status<>& installed) {
    if (alive.expired()) return;
    if (!installed.ok()) {
      finished(false, "fetchmail rc not installed: " + installed.error());
      return;
    }
    if (current_ != mail::MailMode::Direct) {  // the mode moved on while the rc was checked
      finished(true, "skipped: mail left direct meanwhile");
      return;
    }
    deps_.fetcher->drain(finished);
  };
  if (deps_.installRcAsync)
    deps_.installRcAsync(policy_, poll);
  else if (deps_.installRc)
    poll(deps_.installRc(policy_));
  else
    poll(Status<>(Ok{}));
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
  step_ = ReturnStep::None;
  stepUntil_.reset();
  directMxUntil_.reset();
  spdlog::warn("switching mail to multidrop: {}", textOf(d));
  retrievalReady_ = false;
  ensureRetrieval();
  applyIntent();
  journal(from, current_, d, retrievalError_.empty() ? "fetchmail started" : "rc install failed: " + retrievalError_);
  runHooksFor(from, current_, d);  // never waited for: the safe path is already in place
}

void Coordinator::drainAndFinish(const mail::Decision& d) {
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
      if (again.mode != mail::MailMode::Direct) abortReturn("the decision changed while draining");
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
    step_ = ReturnStep::None;
    stepUntil_.reset();
    directMxUntil_.reset();
    applyIntent();
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
  applyIntent();  // an edited [[mx]] set goes out now
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
  r.sweep = sweepInfo_;
  r.sweep.interval = policy_.fetchmail.sweepInterval;
  if (current_ != mail::MailMode::Direct || !sweepArmed_) r.sweep.next.reset();
  r.switches = switches_;
  r.hooks = hooks_;
  r.steps = steps_;
  if (step_ != ReturnStep::None) {
    r.mode.step = toString(step_);
    r.mode.stepSince = stepSince_;
    r.mode.stepUntil = stepUntil_;
  }
  if (deps_.mx != nullptr) r.mx = deps_.mx->facts();
  fillExposure(r);
  r.mode.multidropActive = current_ == mail::MailMode::Multidrop && retrievalReady_ &&
                           r.fetchmail.running && !r.exposure.exposed &&
                           (policy_.mx.empty() || mxVerified("multidrop"));
  if (deps_.computeHealth) deps_.computeHealth(r);
  return r;
}

void Coordinator::fillExposure(status::Report& r) const {
  // Only while mail is meant to stay off direct: our dynamic name may name a stranger.
  if (current_ != mail::MailMode::Multidrop || step_ == ReturnStep::PublishMx ||
      step_ == ReturnStep::SenderCaches || step_ == ReturnStep::Drain)
    return;
  std::vector<std::string> dynamicHosts;
  for (const auto& a : policy_.ddns.accounts)
    for (const auto& h : a.hosts) dynamicHosts.push_back(h);
  std::string exposedText;
  std::optional<TimePoint> until;
  for (const auto& m : policy_.mx) {
    // The direct set's names that follow our address and still resolve to it.
    std::vector<std::string> following;
    for (const auto& rec : m.direct) {
      if (std::find(dynamicHosts.begin(), dynamicHosts.end(), rec.host) == dynamicHosts.end()) continue;
      const auto h = std::find_if(r.ddns.hosts.begin(), r.ddns.hosts.end(),
                                  [&](const status::DdnsHostInfo& i) { return i.host == rec.host; });
      if (h != r.ddns.hosts.end() && h->withdrawn) continue;  // senders fall back
      following.push_back(rec.host);
    }
    if (following.empty()) continue;
    std::string names;
    for (const auto& f : following) names += (names.empty() ? "" : ", ") + f;
    const auto fact = std::find_if(r.mx.begin(), r.mx.end(),
                                   [&](const status::MxInfo& i) { return i.domain == m.domain; });
    std::string why;
    if (m.lever == MxLever::None || deps_.mx == nullptr) {
      why = "no MX lever configured for " + m.domain;
    } else if (fact == r.mx.end() || fact->wanted != "multidrop" || !fact->verified) {
      why = "the withdrawal of " + m.domain + "'s direct MX is not verified" +
            (fact != r.mx.end() && !fact->detail.empty() ? ": " + fact->detail : "");
    } else {
      const TimePoint t = fact->publishedAt.value_or(fact->verifiedAt.value_or(since_)) + m.ttl;
      if (!until || t > *until) until = t;
      continue;
    }
    if (!exposedText.empty()) exposedText += "; ";
    exposedText += "senders still use " + names + " (MX of " + m.domain +
                   "), which may no longer point here (" + why + ")";
  }
  r.exposure.exposed = !exposedText.empty();
  r.exposure.text = exposedText.empty() ? "" : "exposed: " + exposedText;
  // Remembered across restarts: the lever's facts start over, the senders' caches do not.
  r.exposure.directMxUntil = directMxUntil_ ? directMxUntil_ : until;
  if (r.exposure.directMxUntil && !r.exposure.exposed && deps_.now() >= *r.exposure.directMxUntil)
    r.exposure.directMxUntil.reset();
}

const char* toString(ReturnStep s) {
  switch (s) {
    case ReturnStep::None: return "";
    case ReturnStep::PublishAddress: return "publish-address";
    case ReturnStep::PublishMx: return "publish-mx";
    case ReturnStep::SenderCaches: return "sender-caches";
    case ReturnStep::Drain: return "drain";
  }
  return "";
}

void Coordinator::publish() {
  if (deps_.persist) deps_.persist(report());
}

}  // namespace dynmx::coord
