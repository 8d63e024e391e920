// The mail-mode decision. Pure: every time it needs comes in as a value, and every
// outcome goes out as a value (mode, reasons, reviewAt). docs/decision.md has the rules
// and the reason codes; keep the two in step.
#include <algorithm>
#include <stdexcept>

#include "dynmx/maildecision.hpp"

namespace dynmx::mail {
namespace {

// Time spent in a state that began at `since`. A `since` in the future (a clock step
// between the engines) counts as "just began": that can only delay a switch to direct
// or extend a grace period by the size of the step, never skip a safety wait.
Duration elapsed(TimePoint since, TimePoint now) {
  return now > since ? now - since : Duration{0};
}

// One thing that keeps mail from direct SMTP.
struct Problem {
  std::string code;        // plain code, used when mail is (or goes) multidrop
  std::string what;        // human description without time ("the link is down")
  bool structural = true;  // true: leaves direct at once; false: only after `limit`
  std::string graceCode;   // transient only: code while direct rides it out
  TimePoint since{};       // transient only: when the failure began
  Duration limit{};        // transient only: how long it may last while direct
};

Problem structural(std::string code, std::string what) {
  return Problem{std::move(code), std::move(what), true, {}, {}, {}};
}

Problem transient(std::string code, std::string what, std::string graceCode, TimePoint since,
                  Duration limit) {
  return Problem{std::move(code), std::move(what), false, std::move(graceCode), since, limit};
}

// Everything wrong right now, in the stable order of the reasons: link first, then DDNS.
std::vector<Problem> findProblems(const DecisionInput& in) {
  const Policy& p = *in.policy;
  std::vector<Problem> out;

  switch (in.link.type) {
    case LinkType::Dialup:
      // A dial-up address changes on every call and the link is down between calls:
      // whoever gets the address next may receive our mail. Down-ness adds nothing here.
      out.push_back(
          structural("link.dialup", "the link is dial-up; direct SMTP is only safe on a dedicated link"));
      break;
    case LinkType::Auto:
      // The link monitor should have resolved this; until it has, assume the unsafe kind.
      out.push_back(
          structural("link.unresolved", "the link type is not resolved yet (dedicated or dial-up)"));
      break;
    case LinkType::Dedicated:
      if (!in.link.up)
        out.push_back(
            transient("link.down", "the link is down", "grace.link", in.link.since, p.health.linkDownMax));
      break;
  }

  // A declared static address needs no DDNS: its health does not matter.
  if (p.ddns.staticAddress) return out;
  if (!p.ddns.enabled) {
    out.push_back(
        structural("ddns.disabled", "DDNS is disabled in the policy and no static address is declared"));
    return out;
  }
  switch (in.ddns.state) {
    case DdnsState::Healthy:
      break;
    case DdnsState::Disabled:
      out.push_back(structural("ddns.disabled",
                               "the DDNS engine reports DDNS disabled and no static address is declared"));
      break;
    case DdnsState::Unknown:
      out.push_back(transient("ddns.unknown", "DDNS is not verified yet", "grace.ddns", in.ddns.since,
                              p.health.ddnsFailingMax));
      break;
    case DdnsState::Failing: {
      std::string what = "DDNS is failing";
      if (!in.ddns.code.empty() || !in.ddns.text.empty()) {
        what += " (";
        what += in.ddns.code.empty() ? std::string("ddns.failing") : in.ddns.code;
        if (!in.ddns.text.empty()) what += ": " + in.ddns.text;
        what += ")";
      }
      out.push_back(
          transient("ddns.failing", std::move(what), "grace.ddns", in.ddns.since, p.health.ddnsFailingMax));
      break;
    }
  }
  return out;
}

Decision decideExplicit(const DecisionInput& in) {
  if (in.policy->mail.mode == MailPolicy::Multidrop)
    return {
        MailMode::Multidrop, {{"policy.multidrop", "the policy fixes the mode to multidrop"}}, std::nullopt};
  Decision d{MailMode::Direct, {{"policy.direct", "the policy fixes the mode to direct"}}, std::nullopt};
  // The admin's word stands, but `dynmx check` warns about it too: say it again here.
  if (in.link.type == LinkType::Dialup)
    d.reasons.push_back({"warning.direct_on_dialup",
                         "direct SMTP on a dial-up link: the address may go to someone else between calls"});
  return d;
}

std::string healthyText(const DecisionInput& in, TimePoint healthySince) {
  const Policy& p = *in.policy;
  std::string text = "the link is dedicated and up";
  if (p.ddns.staticAddress)
    text += ", the address is declared static (" + *p.ddns.staticAddress + ")";
  else
    text += ", DDNS is verified";
  text += "; healthy for " + formatDuration(elapsed(healthySince, in.now));
  return text;
}

// Every condition for direct holds. From direct: stay. From multidrop: only once both
// the healthy spell and the time in multidrop have lasted the whole hold-down, so the
// mode can never flap faster than the hold-down.
Decision decideHealthy(const DecisionInput& in) {
  const Policy& p = *in.policy;
  const TimePoint healthySince =
      p.ddns.staticAddress ? in.link.since : std::max(in.link.since, in.ddns.since);
  if (in.current.mode == MailMode::Direct)
    return {MailMode::Direct, {{"auto.healthy", healthyText(in, healthySince)}}, std::nullopt};

  const Duration hold = p.health.holdDown;
  const TimePoint readyAt = std::max(healthySince, in.current.since) + hold;
  if (in.now >= readyAt)
    return {MailMode::Direct,
            {{"auto.healthy", healthyText(in, healthySince) + " and multidrop for " +
                                  formatDuration(elapsed(in.current.since, in.now)) + ", both at least the " +
                                  formatDuration(hold) + " hold-down"}},
            std::nullopt};

  std::string text = healthyText(in, healthySince) + ", multidrop for " +
                     formatDuration(elapsed(in.current.since, in.now)) + "; the " + formatDuration(hold) +
                     " hold-down ends in " + formatDuration(readyAt - in.now) + " (" + formatTime(readyAt) +
                     ")";
  return {MailMode::Multidrop, {{"holddown.pending", std::move(text)}}, readyAt};
}

std::string plainText(const Problem& pr, const DecisionInput& in) {
  if (pr.structural) return pr.what;
  return pr.what + " (for " + formatDuration(elapsed(pr.since, in.now)) + ")";
}

Decision decideWithProblems(const DecisionInput& in, const std::vector<Problem>& problems) {
  const bool fromDirect = in.current.mode == MailMode::Direct;
  bool mustLeave = !fromDirect;
  std::optional<TimePoint> firstDeadline;
  for (const auto& pr : problems) {
    if (pr.structural) {
      mustLeave = true;
      continue;
    }
    const TimePoint deadline = pr.since + pr.limit;
    if (in.now >= deadline) mustLeave = true;
    if (!firstDeadline || deadline < *firstDeadline) firstDeadline = deadline;
  }

  Decision d;
  if (mustLeave) {
    d.mode = MailMode::Multidrop;
    for (const auto& pr : problems) {
      std::string text = plainText(pr, in);
      if (fromDirect && !pr.structural && in.now >= pr.since + pr.limit)
        text += ", at or over its " + formatDuration(pr.limit) + " limit";
      d.reasons.push_back({pr.code, std::move(text)});
    }
    // Only new input (recovery, or the caller applying this mode) can change it.
    d.reviewAt = std::nullopt;
    return d;
  }

  // Direct and every failure is transient and still within its limit: ride it out.
  // A short outage must not bounce mail into the ISP box and back.
  d.mode = MailMode::Direct;
  for (const auto& pr : problems) {
    const TimePoint deadline = pr.since + pr.limit;
    d.reasons.push_back({pr.graceCode, plainText(pr, in) + "; mail leaves direct in " +
                                           formatDuration(deadline - in.now) + " (" + formatTime(deadline) +
                                           ") unless it recovers"});
  }
  d.reviewAt = firstDeadline;
  return d;
}

}  // namespace

Decision decide(const DecisionInput& in) {
  if (in.policy == nullptr) throw std::invalid_argument("mail::decide: DecisionInput.policy is null");
  if (in.policy->mail.mode != MailPolicy::Auto) return decideExplicit(in);
  const std::vector<Problem> problems = findProblems(in);
  if (problems.empty()) return decideHealthy(in);
  return decideWithProblems(in, problems);
}

const char* toString(MailMode m) {
  switch (m) {
    case MailMode::Direct:
      return "direct";
    case MailMode::Multidrop:
      return "multidrop";
  }
  return "?";
}

const char* toString(DdnsState s) {
  switch (s) {
    case DdnsState::Disabled:
      return "disabled";
    case DdnsState::Healthy:
      return "healthy";
    case DdnsState::Failing:
      return "failing";
    case DdnsState::Unknown:
      return "unknown";
  }
  return "?";
}

std::string explain(const Decision& d) {
  std::string out = std::string("mode: ") + toString(d.mode) + "\n";
  out += "because:\n";
  for (const auto& r : d.reasons) out += "  - [" + r.code + "] " + r.text + "\n";
  if (d.reviewAt)
    out += "review at: " + formatTime(*d.reviewAt) + "\n";
  else
    out += "review at: never by itself; only new input can change this\n";
  return out;
}

}  // namespace dynmx::mail
