#pragma once
// The mail-mode decision: pure. Link state, DDNS health, the current mode and `now`
// go in; the mode, its reasons and the earliest time the answer can change come out.
#include <optional>
#include <string>
#include <vector>

#include "dynmx/policy.hpp"
#include "dynmx/time.hpp"

namespace dynmx::mail {

/// Where mail for our domains goes.
enum class MailMode { Direct, Multidrop };

/// The verdict of the DDNS engine (see ddns/health).
enum class DdnsState {
  Disabled,  ///< no DDNS configured/enabled
  Healthy,   ///< every host verified at the authoritative servers
  Failing,   ///< something is wrong; `code`/`text` say what
  Unknown,   ///< not checked yet (start-up)
};

/// DDNS health as the DDNS engine reports it.
struct DdnsHealth {
  DdnsState state = DdnsState::Unknown;
  TimePoint since{};   ///< when this state began (healthy since / failing since / unknown since)
  std::string code;    ///< machine code for Failing, e.g. "ddns.mismatch", "ddns.provider_fatal"
  std::string text;    ///< human text for Failing
};

/// The uplink as the link monitor sees it. `type` is resolved: never LinkType::Auto.
struct LinkState {
  LinkType type = LinkType::Dedicated;
  bool up = true;
  TimePoint since{};  ///< when `up` last changed
};

/// The mode currently in force.
struct CurrentMode {
  MailMode mode = MailMode::Multidrop;
  TimePoint since{};
};

/// Everything decide() looks at.
struct DecisionInput {
  const Policy* policy = nullptr;
  LinkState link;
  DdnsHealth ddns;
  CurrentMode current;
  TimePoint now{};
};

/// One reason for a decision: a stable machine code and a human sentence.
struct Reason {
  std::string code;  ///< e.g. "policy.auto", "link.dialup", "ddns.failing", "holddown.pending"
  std::string text;
};

/// The outcome.
struct Decision {
  MailMode mode = MailMode::Multidrop;
  std::vector<Reason> reasons;        ///< never empty
  std::optional<TimePoint> reviewAt;  ///< earliest time the decision can change without new input
};

/// Decide the mail mode. Pure: no clock, no I/O. Rules and reason codes: docs/decision.md.
/// A null `in.policy` is a programming error (std::invalid_argument).
Decision decide(const DecisionInput& in);

/// "direct" / "multidrop".
const char* toString(MailMode m);
/// "disabled" / "healthy" / "failing" / "unknown".
const char* toString(DdnsState s);

/// Multi-line human text for a decision: the mode, each reason as "[code] text", and reviewAt.
std::string explain(const Decision& d);

}  // namespace dynmx::mail
