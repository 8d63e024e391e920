#include "dynmx/status/health.hpp"

#include <algorithm>

namespace dynmx::status {
namespace {

int severity(Health h) {
  switch (h) {
    case Health::Ok: return 0;
    case Health::Warning: return 1;
    case Health::Unknown: return 2;
    case Health::Critical: return 3;
  }
  return 2;
}

// fetchmail exit codes that no restart will cure (see fetchmail(1)): the admin must act.
bool fatalFetchmailExit(int code) { return fetchmailExitMeaning(code).critical; }

bool hasCode(const std::vector<Reason>& reasons, const std::string& code) {
  return std::any_of(reasons.begin(), reasons.end(), [&](const Reason& r) { return r.code == code; });
}

class Verdict {
 public:
  explicit Verdict(Report& r) : r_(r) {
    r_.health = Health::Ok;
    r_.healthReasons.clear();
  }
  void raise(Health h, std::string code, std::string text) {
    r_.health = worse(r_.health, h);
    r_.healthReasons.push_back({std::move(code), std::move(text), {}});
  }

 private:
  Report& r_;
};

// Hooks that ran for the latest switch (or all of them if nothing was journaled).
std::vector<const HookRecord*> failedRecentHooks(const Report& r) {
  std::optional<TimePoint> lastSwitch;
  if (!r.switches.empty()) lastSwitch = r.switches.back().at;
  std::vector<const HookRecord*> out;
  for (const auto& h : r.hooks)
    if (!h.ok && (!lastSwitch || h.at >= *lastSwitch)) out.push_back(&h);
  return out;
}

// After a (re)start, e.g. a reboot, the record is not verified yet and the first checks may
// fail while the network comes up: DDNS failing ever since this daemon started, on a check
// that only verification can settle, while the decision rides it out within its grace, is
// the start-up itself, not news. Should it last beyond the grace, mail leaves direct and that
// is a WARNING.
bool stillStarting(const Report& r) {
  constexpr Duration kStartSlack = std::chrono::seconds(5);  // the engine starts just before the coordinator
  if (!r.daemon.since || !r.ddns.since || *r.ddns.since > *r.daemon.since + kStartSlack) return false;
  if (r.ddns.code != "ddns.resolution_failing" && r.ddns.code != "ddns.mismatch" && !r.ddns.code.empty()) return false;
  return hasCode(r.mode.reasons, "grace.ddns");
}

}  // namespace

FetchmailExitMeaning fetchmailExitMeaning(int code) {
  switch (code) {
    case 0: return {"SUCCESS", "messages were retrieved", false, true};
    case 1: return {"NOMAIL", "no mail waiting", false, false};
    case 2: return {"SOCKET", "cannot connect to the mail server", false, false};
    case 3: return {"AUTHFAIL", "the ISP mailbox refused the user name or password", true, false};
    case 4: return {"PROTOCOL", "fatal protocol error", false, false};
    case 5: return {"SYNTAX", "syntax error in the rc file or arguments", true, false};
    case 6: return {"IOERR", "the rc file has bad permissions or cannot be read", true, false};
    case 7: return {"ERROR", "the server reported an error (or timed out)", false, false};
    case 8: return {"EXCLUDE", "another fetchmail is running for this user", false, false};
    case 9: return {"LOCKBUSY", "the server says the mailbox is locked", false, false};
    case 10: return {"SMTP", "local delivery (SMTP/LMTP) failed; mail stays at the ISP", false, false};
    case 11: return {"DNS", "fatal DNS error", false, false};
    case 12: return {"BSMTP", "cannot open the BSMTP file", true, false};
    case 13: return {"MAXFETCH", "poll ended by a fetch limit", false, true};
    case 14: return {"SERVBUSY", "the server is busy", false, false};
    case 23: return {"UNDEFINED", "fetchmail internal error", false, false};
    case 127: return {"EXEC", "fetchmail could not be started", true, false};
    default: return {"EXIT" + std::to_string(code), "unexpected exit code " + std::to_string(code), false, false};
  }
}

std::string exitMeaningText(int code) {
  const FetchmailExitMeaning m = fetchmailExitMeaning(code);
  return m.name + ": " + m.text;
}

Health worse(Health a, Health b) { return severity(a) >= severity(b) ? a : b; }

void computeHealth(Report& report) { computeHealth(report, HealthOptions{}); }

void computeHealth(Report& r, const HealthOptions& o) {
  Verdict v(r);
  const bool multidrop = r.mode.current == "multidrop";
  const bool direct = r.mode.current == "direct";
  const bool needsFetchmail = multidrop || r.mode.wanted == "multidrop";
  // On multidrop although the policy allows direct: some failure put us here.
  const bool multidropForFailure = multidrop && r.mode.wanted == "multidrop" && r.mode.policy != "multidrop";
  const auto& f = r.fetchmail;

  if (!multidrop && !direct) v.raise(Health::Unknown, "mode.unknown", "unknown mode \"" + r.mode.current + "\"");

  // CRITICAL: mail waits at the ISP and nothing fetches it, or DDNS is dead for good.
  if (needsFetchmail) {
    if (hasCode(r.mode.reasons, "fetchmail.rc_failed")) {
      for (const auto& reason : r.mode.reasons)
        if (reason.code == "fetchmail.rc_failed")
          v.raise(Health::Critical, "fetchmail.rc_failed", "multidrop needed but the fetchmail rc cannot be installed: " + reason.text);
    } else if (f.lastExit && fatalFetchmailExit(*f.lastExit)) {
      const std::string code = *f.lastExit == 3 ? "fetchmail.authfail" : "fetchmail.fatal";
      v.raise(Health::Critical, code,
              "multidrop needed but fetchmail fails: " + (f.lastError.empty() ? "exit " + std::to_string(*f.lastExit) : f.lastError));
    } else if (!f.running && !r.mode.switching) {
      v.raise(Health::Critical, "fetchmail.not_running",
              "multidrop needed but fetchmail is not running" + (f.lastError.empty() ? "" : ": " + f.lastError));
    } else if (!f.lastError.empty() && f.restarts >= o.fetchmailRestartsCritical) {
      v.raise(Health::Critical, "fetchmail.failing",
              "fetchmail keeps failing (" + std::to_string(f.restarts) + " restarts): " + f.lastError);
    } else if (!f.lastError.empty() && f.lastExit == 10) {
      v.raise(Health::Warning, "fetchmail.delivery_failed",
              "local delivery fails: " + f.lastError);
    } else if (!f.lastError.empty()) {
      v.raise(Health::Warning, "fetchmail.error", "fetchmail: " + f.lastError);
    }
  }
  for (const auto& h : r.ddns.hosts)
    if (!h.fatal.empty())
      v.raise(Health::Critical, "ddns.provider_fatal",
              h.host + ": the provider answered \"" + h.fatal + "\"; updates are off until the policy changes");
  if (r.ddns.hosts.empty() && r.ddns.code == "ddns.provider_fatal")
    v.raise(Health::Critical, "ddns.provider_fatal", r.ddns.text);

  // WARNING: on multidrop because something failed, or something needs a look.
  if (multidropForFailure) {
    bool any = false;
    for (const auto& reason : r.mode.reasons) {
      if (reason.code == "fetchmail.rc_failed") continue;  // already CRITICAL above
      v.raise(Health::Warning, reason.code, reason.text);
      any = true;
    }
    if (!any) v.raise(Health::Warning, "mode.multidrop", "mail via multidrop (policy " + r.mode.policy + ")");
  } else if (direct) {
    if (r.ddns.health == "failing" && !stillStarting(r))
      v.raise(Health::Warning, r.ddns.code.empty() ? "ddns.failing" : r.ddns.code,
              r.ddns.text.empty() ? "DDNS is failing" : r.ddns.text);
    if (!r.link.up) v.raise(Health::Warning, "link.down", "the link is down");
  }
  // Senders may deliver to an address that is no longer ours: at least WARNING.
  if (r.exposure.exposed) v.raise(Health::Warning, "mx.exposed", r.exposure.text);
  if (r.exposure.directMxUntil)
    v.raise(Health::Warning, "mx.direct_cached",
            "senders may still use the direct MX until " + formatTime(*r.exposure.directMxUntil) +
                " (TTL from the last published set)");
  for (const auto& m : r.mx)
    if (m.state == "refused")
      v.raise(Health::Warning, "mx.refused", "MX update for " + m.domain + " refused: " + m.detail);
  if (r.mode.wanted != r.mode.current)
    v.raise(Health::Warning, "mode.switching", "switching from " + r.mode.current + " to " + r.mode.wanted);
  // Mail a backup MX took while direct cannot be fetched.
  if (direct && !r.sweep.lastOk && r.sweep.last)
    v.raise(Health::Warning, "fetchmail.sweep_failed",
            "the sweep of the ISP mailbox failed" +
                (r.sweep.failures > 1 ? " " + std::to_string(r.sweep.failures) + " times in a row" : std::string()) +
                ": " + r.sweep.lastDetail + "; mail the backup MX took waits at the ISP");
  if (hasCode(r.mode.reasons, "drain.failed") && !multidropForFailure)
    v.raise(Health::Warning, "drain.failed", "the ISP mailbox could not be drained");
  for (const HookRecord* h : failedRecentHooks(r))
    v.raise(Health::Warning, "hook.failed", h->argv0 + " (" + h->mode + "): " + h->error);
  if (!r.daemon.policyErrors.empty())
    v.raise(Health::Warning, "policy.reload_failed",
            "policy reload rejected, running the previous policy: " + r.daemon.policyErrors.front());

  if (r.guard.enabled && needsFetchmail && r.daemon.running && !r.guard.listening)
    v.raise(Health::Critical, "guard.not_listening",
            "the envelope guard is not listening: fetched mail stays at the ISP" +
                (r.guard.lastError.empty() ? std::string() : ": " + r.guard.lastError));
  else if (r.guard.enabled && !r.guard.lastError.empty())
    v.raise(Health::Warning, "guard.error", "envelope guard: " + r.guard.lastError);
  if (!r.guard.warning.empty()) v.raise(Health::Warning, "guard.no_envelope", r.guard.warning);

  if (!r.daemon.stateError.empty())
    v.raise(Health::Warning, "state.write_failed", "cannot persist state: " + r.daemon.stateError);

  if (!r.daemon.running) {
    // Nothing switches the mail while the daemon is down, however it stopped.
    v.raise(Health::Critical, "daemon.not_running",
            r.daemon.stoppedAt ? "daemon stopped cleanly at " + formatTime(*r.daemon.stoppedAt)
                               : "daemon not running, and it did not stop cleanly (it died or was killed)");
  }
}

}  // namespace dynmx::status
