// `dynmx explain`: what would the decision be in a given situation? The situation is
// described on the command line (defaults: a healthy dedicated link, DDNS verified for a
// day, currently multidrop for a day), so an admin can try "what if" before it happens.
#include <iostream>

#include "commands.hpp"
#include "dynmx/maildecision.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {
namespace {

struct ExplainOptions {
  std::string policyFile = kDefaultPolicyFile;
  std::string link;  ///< empty: the policy's [link] type (auto: dedicated unless --link says)
  bool linkDown = false;
  std::string linkFor = "1d";
  std::string ddns = "healthy";
  std::string ddnsFor = "1d";
  std::string ddnsCode = "ddns.mismatch";
  std::string current = "multidrop";
  std::string currentFor = "1d";
};

int runExplain(const ExplainOptions& o) {
  PolicyLoad load = loadPolicy(o.policyFile);
  for (const auto& d : load.diagnostics)
    if (d.severity == Severity::Error) std::cerr << formatDiagnostic(d) << '\n';
  if (!load.policy) return 2;
  auto linkFor = parseDuration(o.linkFor), ddnsFor = parseDuration(o.ddnsFor),
       currentFor = parseDuration(o.currentFor);
  if (!linkFor || !ddnsFor || !currentFor) {
    std::cerr << "dynmx explain: durations look like 90s, 5m, 1h, 2d\n";
    return 2;
  }
  const TimePoint now = std::chrono::time_point_cast<Duration>(Clock::now());
  mail::DecisionInput in;
  in.policy = &*load.policy;
  in.now = now;
  // The policy's link type unless the command line describes another: a dial-up policy is
  // explained as dial-up. "auto" is resolved at run time from the interface (ppp = dial-up).
  std::string link = o.link;
  if (link.empty())
    link = load.policy->link.type == LinkType::Dialup ? "dialup"
           : load.policy->link.type == LinkType::Auto ? "auto"
                                                      : "dedicated";
  const LinkType linkType = link == "dialup" ? LinkType::Dialup : LinkType::Dedicated;
  in.link = {linkType, !o.linkDown, now - *linkFor};
  mail::DdnsState state = o.ddns == "failing"    ? mail::DdnsState::Failing
                          : o.ddns == "disabled" ? mail::DdnsState::Disabled
                          : o.ddns == "unknown"  ? mail::DdnsState::Unknown
                                                 : mail::DdnsState::Healthy;
  in.ddns = {state, now - *ddnsFor, state == mail::DdnsState::Failing ? o.ddnsCode : "",
             state == mail::DdnsState::Failing ? "(simulated) " + o.ddnsCode : ""};
  in.current = {o.current == "direct" ? mail::MailMode::Direct : mail::MailMode::Multidrop, now - *currentFor};
  mail::Decision d = mail::decide(in);

  std::cout << "policy:   " << toString(load.policy->mail.mode) << " (" << o.policyFile << ")\n"
            << "link:     " << (link == "auto" ? "auto (explained as dedicated; --link dialup for a ppp link)" : link)
            << (o.linkDown ? ", down" : ", up") << " for " << o.linkFor << '\n'
            << "ddns:     " << o.ddns << " for " << o.ddnsFor << '\n'
            << "current:  " << o.current << " for " << o.currentFor << '\n'
            << "decision: " << mail::toString(d.mode) << '\n';
  for (const auto& r : d.reasons) std::cout << "  - [" << r.code << "] " << r.text << '\n';
  if (d.reviewAt)
    std::cout << "review:   in " << formatDuration(*d.reviewAt - now) << " (" << formatTime(*d.reviewAt) << ")\n";
  else
    std::cout << "review:   only new input changes this\n";
  return 0;
}

}  // namespace

void registerExplain(CLI::App& app, ExitCode& exit) {
  auto opts = std::make_shared<ExplainOptions>();
  auto* sub = app.add_subcommand("explain", "Show the mail-mode decision for a described situation");
  sub->add_option("-c,--config", opts->policyFile, "policy file")->capture_default_str();
  sub->add_option("--link", opts->link, "link type (default: the policy's [link] type)")->check(CLI::IsMember({"dedicated", "dialup"}));
  sub->add_flag("--link-down", opts->linkDown, "the link is down");
  sub->add_option("--link-for", opts->linkFor, "how long the link has been in that state");
  sub->add_option("--ddns", opts->ddns, "DDNS health")
      ->check(CLI::IsMember({"healthy", "failing", "disabled", "unknown"}));
  sub->add_option("--ddns-for", opts->ddnsFor, "how long DDNS has been in that state");
  sub->add_option("--ddns-code", opts->ddnsCode, "failure code when --ddns failing");
  sub->add_option("--current", opts->current, "current mode")->check(CLI::IsMember({"direct", "multidrop"}));
  sub->add_option("--current-for", opts->currentFor, "how long the current mode has been in force");
  sub->callback([opts, &exit] { exit.value = runExplain(*opts); });
}

}  // namespace dynmx::cli
