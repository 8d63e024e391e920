#pragma once
// Shared helpers for the maildecision tests: a policy built as plain structs (no TOML),
// a fixed epoch, and reason-code extraction.
#include <string>
#include <vector>

#include "dynmx/maildecision.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::mail::test {

/// A fixed "now" for table cases: 2027-01-15T08:00:00Z.
inline const TimePoint kT0 = fromUnix(1'800'000'000);

/// Thresholds used unless a case says otherwise: 5m DDNS, 2m link, 1h hold-down.
inline HealthSection defaultHealth() {
  HealthSection h;
  h.ddnsFailingMax = std::chrono::minutes(5);
  h.linkDownMax = std::chrono::minutes(2);
  h.holdDown = std::chrono::hours(1);
  return h;
}

/// A policy with the given mode and DDNS settings; everything else default.
inline Policy makePolicy(MailPolicy mode, bool ddnsEnabled = true, bool staticAddress = false,
                         HealthSection health = defaultHealth()) {
  Policy p;
  p.sourceFile = "test.toml";
  p.mail.mode = mode;
  p.mail.domains = {"example.com"};
  p.link.type = LinkType::Auto;
  p.health = health;
  p.ddns.enabled = ddnsEnabled;
  if (staticAddress) p.ddns.staticAddress = "203.0.113.7";
  return p;
}

/// The machine codes of a decision, in order.
inline std::vector<std::string> codesOf(const Decision& d) {
  std::vector<std::string> out;
  out.reserve(d.reasons.size());
  for (const auto& r : d.reasons) out.push_back(r.code);
  return out;
}

}  // namespace dynmx::mail::test
