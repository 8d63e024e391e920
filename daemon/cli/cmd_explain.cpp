// `dynmx explain`: what would the decision be in a given situation? The situation is
// described on the command line; what is not described is assumed (a dedicated link, or
// the policy's own link type, up for a day; DDNS verified for a day; multidrop for a day)
// and labelled so: explain never reads the live state, so an admin can try "what if"
// before it happens. It reads no secret: a missing password file is only a note.
// Exit 0: explained; 2: bad policy or bad options (an option the situation ignores is one).
#include <functional>
#include <iostream>
#include <map>
#include <tuple>

#include "commands.hpp"
#include "dynmx/maildecision.hpp"
#include "dynmx/policy.hpp"
#include "teaching_policy.hpp"

namespace dynmx::cli {
namespace {

struct ExplainOptions {
  std::string policyFile = kDefaultPolicyFile;
  std::string link;  ///< empty: the policy's fixed link type, else dedicated
  bool linkDown = false;
  std::string linkFor = "1d";
  std::string ddns = "healthy";
  std::string ddnsFor = "1d";
  std::string ddnsCode = "ddns.mismatch";
  std::string current = "multidrop";
  std::string currentFor = "1d";
  std::string now;                    ///< empty: the clock; else RFC 3339 (reproducible examples and tests)
  std::map<std::string, bool> given;  ///< option name → given on the command line
};

/// The situation as values.
struct Situation {
  bool dialup = false;
  bool linkDown = false;
  Duration linkFor{};
  mail::DdnsState ddns = mail::DdnsState::Healthy;
  Duration ddnsFor{};
  std::string ddnsCode;
  bool currentDirect = false;
  Duration currentFor{};
};

mail::DdnsState ddnsState(const std::string& s) {
  return s == "failing"    ? mail::DdnsState::Failing
         : s == "disabled" ? mail::DdnsState::Disabled
         : s == "unknown"  ? mail::DdnsState::Unknown
                           : mail::DdnsState::Healthy;
}

mail::Decision decideFor(const Policy& policy, const Situation& s, TimePoint now) {
  mail::DecisionInput in;
  in.policy = &policy;
  in.now = now;
  in.link = {s.dialup ? LinkType::Dialup : LinkType::Dedicated, !s.linkDown, now - s.linkFor};
  const bool failing = s.ddns == mail::DdnsState::Failing;
  in.ddns = {s.ddns, now - s.ddnsFor, failing ? s.ddnsCode : "", failing ? "simulated" : ""};
  in.current = {s.currentDirect ? mail::MailMode::Direct : mail::MailMode::Multidrop, now - s.currentFor};
  return mail::decide(in);
}

bool sameDecision(const mail::Decision& a, const mail::Decision& b) {
  if (a.mode != b.mode || a.reviewAt != b.reviewAt || a.reasons.size() != b.reasons.size()) return false;
  for (std::size_t i = 0; i < a.reasons.size(); ++i)
    if (a.reasons[i].code != b.reasons[i].code || a.reasons[i].text != b.reasons[i].text) return false;
  return true;
}

/// A duration option: a number and a unit, as the policy writes them ("90" is refused).
std::optional<Duration> durationWithUnit(const std::string& text) {
  if (text.empty() || std::string("smhdw").find(text.back()) == std::string::npos) return std::nullopt;
  return parseDuration(text);
}

int runExplain(const ExplainOptions& o) {
  auto policy = loadPolicyWithoutSecrets(o.policyFile, std::cerr);
  if (!policy) return 2;

  Situation s;
  for (const auto& [name, text, out] :
       {std::tuple{"--link-for", o.linkFor, &s.linkFor}, std::tuple{"--ddns-for", o.ddnsFor, &s.ddnsFor},
        std::tuple{"--current-for", o.currentFor, &s.currentFor}}) {
    auto d = durationWithUnit(text);
    if (!d) {
      std::cerr << "dynmx explain: " << name << " " << text
                << ": write a number and a unit (s, m, h, d, w), e.g. 90s, 5m, 1h, 2d\n";
      return 2;
    }
    *out = *d;
  }
  // A fixed link type in the policy is the situation's default; "auto" assumes dedicated.
  const std::string link = !o.link.empty()                         ? o.link
                           : policy->link.type == LinkType::Dialup ? "dialup"
                                                                   : "dedicated";
  s.dialup = link == "dialup";
  s.linkDown = o.linkDown;
  s.ddns = ddnsState(o.ddns);
  s.ddnsCode = o.ddnsCode;
  s.currentDirect = o.current == "direct";

  TimePoint now = std::chrono::time_point_cast<Duration>(Clock::now());
  if (!o.now.empty()) {
    auto t = parseTime(o.now);
    if (!t) {
      std::cerr << "dynmx explain: --now " << o.now
                << ": expected an RFC 3339 UTC time like 2026-11-23T10:00:00Z\n";
      return 2;
    }
    now = *t;
  }
  const mail::Decision d = decideFor(*policy, s, now);

  // An option whose every other value gives the same decision is ignored here: say so
  // rather than let the admin believe it was taken into account.
  const std::vector<std::pair<std::string, std::vector<std::function<void(Situation&)>>>> variations = {
      {"--link", {[](Situation& v) { v.dialup = !v.dialup; }}},
      {"--link-down", {[](Situation& v) { v.linkDown = !v.linkDown; }}},
      {"--link-for",
       {[](Situation& v) { v.linkFor = Duration{0}; },
        [](Situation& v) { v.linkFor = std::chrono::days(3650); }}},
      {"--ddns",
       {[](Situation& v) { v.ddns = mail::DdnsState::Healthy; },
        [](Situation& v) { v.ddns = mail::DdnsState::Failing; },
        [](Situation& v) { v.ddns = mail::DdnsState::Disabled; },
        [](Situation& v) { v.ddns = mail::DdnsState::Unknown; }}},
      {"--ddns-for",
       {[](Situation& v) { v.ddnsFor = Duration{0}; },
        [](Situation& v) { v.ddnsFor = std::chrono::days(3650); }}},
      {"--ddns-code", {[](Situation& v) { v.ddnsCode += ".other"; }}},
      {"--current", {[](Situation& v) { v.currentDirect = !v.currentDirect; }}},
      {"--current-for",
       {[](Situation& v) { v.currentFor = Duration{0}; },
        [](Situation& v) { v.currentFor = std::chrono::days(3650); }}},
  };
  for (const auto& [name, changes] : variations) {
    auto it = o.given.find(name);
    if (it == o.given.end() || !it->second) continue;
    bool matters = false;
    for (const auto& change : changes) {
      Situation other = s;
      change(other);
      matters = matters || !sameDecision(d, decideFor(*policy, other, now));
    }
    if (!matters) {
      std::cerr << "dynmx explain: " << name << " is ignored in this situation (the decision is the same "
                << "whatever its value"
                << (policy->mail.mode == MailPolicy::Auto ? "" : ": the policy fixes the mode")
                << "); leave it out\n";
      return 2;
    }
  }

  auto label = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (auto it = o.given.find(n); it != o.given.end() && it->second) return " (given)";
    return " (assumed)";
  };
  std::cout << "policy:    " << toString(policy->mail.mode) << " (" << o.policyFile << ")\n"
            << "situation: described here, not read from the running daemon\n"
            << "  link:    " << link << (o.linkDown ? ", down" : ", up") << " for " << o.linkFor
            << label({"--link", "--link-down", "--link-for"}) << '\n'
            << "  ddns:    " << o.ddns << (s.ddns == mail::DdnsState::Failing ? " (" + o.ddnsCode + ")" : "")
            << " for " << o.ddnsFor << label({"--ddns", "--ddns-for", "--ddns-code"}) << '\n'
            << "  current: " << o.current << " for " << o.currentFor << label({"--current", "--current-for"})
            << '\n'
            << "decision:  " << mail::toString(d.mode) << '\n';
  for (const auto& r : d.reasons) std::cout << "  - [" << r.code << "] " << r.text << '\n';
  if (d.reviewAt)
    std::cout << "review:    in " << formatDuration(*d.reviewAt - now) << " (" << formatTime(*d.reviewAt)
              << ") if nothing else changes\n";
  else
    std::cout << "review:    only new input changes this\n";
  return 0;
}

}  // namespace

void registerExplain(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<ExplainOptions>();
  auto* sub = app.add_subcommand("explain", "Show the mail-mode decision for a described situation");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_option("--link", opts->link, "link type (default: the policy's, else dedicated)")
      ->check(CLI::IsMember({"dedicated", "dialup"}));
  sub->add_flag("--link-down", opts->linkDown, "the link is down");
  sub->add_option("--link-for", opts->linkFor, "how long the link has been in that state (default 1d)");
  sub->add_option("--ddns", opts->ddns, "DDNS health (default healthy)")
      ->check(CLI::IsMember({"healthy", "failing", "disabled", "unknown"}));
  sub->add_option("--ddns-for", opts->ddnsFor, "how long DDNS has been in that state (default 1d)");
  sub->add_option("--ddns-code", opts->ddnsCode, "failure code when --ddns failing (default ddns.mismatch)");
  sub->add_option("--current", opts->current, "current mode (default multidrop)")
      ->check(CLI::IsMember({"direct", "multidrop"}));
  sub->add_option("--current-for", opts->currentFor,
                  "how long the current mode has been in force (default 1d)");
  sub->add_option("--now", opts->now, "pretend it is this time (RFC 3339), for reproducible examples");
  sub->callback([opts, sub, &exit] {
    for (const char* name : {"--link", "--link-down", "--link-for", "--ddns", "--ddns-for", "--ddns-code",
                             "--current", "--current-for"})
      opts->given[name] = sub->count(name) > 0;
    exit.value = runExplain(*opts);
  });
}

}  // namespace dynmx::cli
