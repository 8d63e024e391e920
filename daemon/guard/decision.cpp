// The decision: envelope vs fetchmail's RCPT vs the users map -> where the message goes.
// Anything the guard cannot prove goes to the postmaster, never to the users in To/Cc.
#include <algorithm>
#include <cctype>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Split {
  std::string local;
  std::string domain;
};

std::optional<Split> split(const std::string& address) {
  auto addr = plainAddress(address);
  if (!addr) return std::nullopt;
  std::size_t at = addr->rfind('@');
  return Split{addr->substr(0, at), lower(addr->substr(at + 1))};
}

bool ours(const std::string& domain, const UserMap& users) {
  std::string d = domain;
  if (!d.empty() && d.back() == '.') d.pop_back();
  return std::find(users.domains.begin(), users.domains.end(), d) != users.domains.end();
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s.empty() ? "(none)" : s;
}

}  // namespace

const char* toString(Reason r) {
  switch (r) {
    case Reason::Matched: return "matched";
    case Reason::Unmapped: return "unmapped";
    case Reason::NoEnvelope: return "no-envelope";
    case Reason::AmbiguousEnvelope: return "ambiguous-envelope";
    case Reason::MalformedEnvelope: return "malformed-envelope";
    case Reason::Mismatch: return "mismatch";
    case Reason::Loop: return "loop";
    case Reason::LoopDiscarded: return "loop-discarded";
    case Reason::MtaRefused: return "mta-refused";
    case Reason::Duplicate: return "duplicate";
    case Reason::Deferred: return "deferred";
    case Reason::TooLarge: return "too-large";
  }
  return "unknown";
}

std::optional<Reason> reasonFromString(std::string_view code) {
  for (Reason r : {Reason::Matched, Reason::Unmapped, Reason::NoEnvelope, Reason::AmbiguousEnvelope,
                   Reason::MalformedEnvelope, Reason::Mismatch, Reason::Loop, Reason::LoopDiscarded,
                   Reason::MtaRefused, Reason::Duplicate, Reason::Deferred, Reason::TooLarge})
    if (code == toString(r)) return r;
  return std::nullopt;
}

const char* describe(Reason r) {
  switch (r) {
    case Reason::Matched: return "delivered to the user the envelope names";
    case Reason::Unmapped: return "the envelope recipient is not a known user of our domains";
    case Reason::NoEnvelope: return "no envelope header where the ISP writes it";
    case Reason::AmbiguousEnvelope: return "more than one envelope header where the ISP writes one";
    case Reason::MalformedEnvelope: return "the envelope header is not one plain address";
    case Reason::Mismatch: return "fetchmail chose other recipients than the envelope header names";
    case Reason::Loop: return "mail loop: the message came back through dynmx or has too many Received headers";
    case Reason::LoopDiscarded: return "mail loop again after going to the postmaster: discarded";
    case Reason::MtaRefused: return "the local MTA refused the recipient permanently";
    case Reason::Duplicate: return "delivered before: suppressed";
    case Reason::Deferred: return "the local MTA is unavailable or refused temporarily: left at the ISP";
    case Reason::TooLarge: return "the message is larger than the guard accepts";
  }
  return "unknown";
}

std::string localUserFor(const std::string& envelopeAddress, const UserMap& users) {
  auto s = split(envelopeAddress);
  if (!s || !ours(s->domain, users)) return users.postmaster;
  const std::string name = lower(s->local);
  if (auto it = users.names.find(name); it != users.names.end()) return it->second;
  if (name == "postmaster") return users.postmaster;
  if (users.wildcard) return name;
  return users.postmaster;
}

std::optional<std::string> rcptUser(const std::string& rcpt, const UserMap& users) {
  auto s = split(rcpt);
  if (!s || !ours(s->domain, users)) return std::nullopt;
  return lower(s->local);
}

Plan decide(const MessageFacts& facts, const std::vector<std::string>& rcpts, const UserMap& users,
            const LoopLimits& limits) {
  Plan plan;
  plan.envelope = facts.envelope.status == EnvelopeStatus::Found ? facts.envelope.address : "";
  auto toPostmaster = [&](Reason why, std::string detail) {
    plan.kind = Plan::Kind::Postmaster;
    plan.reason = why;
    plan.users = {users.postmaster};
    plan.detail = std::move(detail);
    return plan;
  };

  if (facts.ourMarkers >= 2) {
    plan.kind = Plan::Kind::Discard;
    plan.reason = Reason::LoopDiscarded;
    plan.detail = "our hop marker " + std::to_string(facts.ourMarkers) + " times";
    return plan;
  }
  if (facts.ourMarkers == 1) return toPostmaster(Reason::Loop, "our hop marker is already on the message");
  if (facts.received > limits.maxReceived)
    return toPostmaster(Reason::Loop, std::to_string(facts.received) + " Received headers (limit " +
                                          std::to_string(limits.maxReceived) + ")");
  switch (facts.envelope.status) {
    case EnvelopeStatus::Missing: return toPostmaster(Reason::NoEnvelope, "");
    case EnvelopeStatus::Ambiguous:
      return toPostmaster(Reason::AmbiguousEnvelope,
                          std::to_string(facts.envelope.matches) + " matching headers in the ISP's block");
    case EnvelopeStatus::Malformed: return toPostmaster(Reason::MalformedEnvelope, "");
    case EnvelopeStatus::Found: break;
  }

  const std::string expected = lower(localUserFor(facts.envelope.address, users));
  std::vector<std::string> chosen;
  for (const auto& r : rcpts) {
    auto u = rcptUser(r, users);
    chosen.push_back(u ? *u : r);  // a foreign RCPT can never equal a local user: mismatch
  }
  const bool agree = !chosen.empty() && std::all_of(chosen.begin(), chosen.end(),
                                                    [&](const std::string& c) { return c == expected; });
  if (!agree)
    return toPostmaster(Reason::Mismatch, "envelope names " + expected + ", fetchmail chose " + joinNames(chosen));
  plan.kind = Plan::Kind::Deliver;
  plan.users = {expected};
  plan.reason = expected == lower(users.postmaster) ? Reason::Unmapped : Reason::Matched;
  const bool explicitPostmaster = [&] {
    auto s = split(facts.envelope.address);
    return s && ours(s->domain, users) && (lower(s->local) == "postmaster" || users.names.count(lower(s->local)) > 0);
  }();
  if (explicitPostmaster) plan.reason = Reason::Matched;
  return plan;
}

}  // namespace dynmx::guard
