#include "dynmx/ddns/health.hpp"

#include <algorithm>
#include <set>

namespace dynmx::ddns {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "nothing" : out;
}

std::set<IpAddress> expectedSet(const AddressSet& a) {
  std::set<IpAddress> s;
  if (a.v4) s.insert(*a.v4);
  if (a.v6) s.insert(*a.v6);
  return s;
}

// A condition's weight in the aggregate verdict: -1 undecided (the previous verdict stands),
// 0 fine for what mail needs, higher = more severe.
constexpr int kUndecided = -1;
constexpr int kVerified = 0;

int rankOf(HostCondition c) {
  switch (c) {
    case HostCondition::Verified:
    case HostCondition::Withdrawn:
    case HostCondition::WithdrawalPending:  // direct needs the way back, not the withdrawal
      return kVerified;
    case HostCondition::Pending:
    case HostCondition::Grace:
    case HostCondition::NoAddress:
      return kUndecided;
    case HostCondition::ResolutionFailing: return 1;
    case HostCondition::Mismatch: return 2;
    case HostCondition::Stale: return 3;
    case HostCondition::ProviderRetrying: return 4;
    case HostCondition::ProviderFatal: return 5;
  }
  return kUndecided;
}

const char* codeOf(HostCondition c) {
  switch (c) {
    case HostCondition::ResolutionFailing: return "ddns.resolution_failing";
    case HostCondition::Mismatch: return "ddns.mismatch";
    case HostCondition::Stale: return "ddns.stale";
    case HostCondition::ProviderRetrying: return "ddns.provider_retrying";
    case HostCondition::ProviderFatal: return "ddns.provider_fatal";
    default: return "";
  }
}

HostHealth judgeHost(const HealthInput& in, const std::string& account, const std::string& host,
                     const HostState& state, const Observation* obs, bool withdrawing) {
  const TimePoint now = in.now;
  const std::string name = host + " (" + account + ")";
  const auto verdict = [&](HostCondition c, std::string text, TimePoint since) {
    return HostHealth{account, host, c, std::move(text), since};
  };
  if (state.fatal())
    return verdict(HostCondition::ProviderFatal,
                   name + " disabled by the provider's \"" + state.fatalReason + "\"",
                   state.lastAttempt.value_or(now));
  const bool lastFailed = state.lastResult &&
                          consequenceOf(*state.lastResult) != Consequence::Ok &&
                          consequenceOf(*state.lastResult) != Consequence::FatalOption;
  // Under withdraw, a host the provider already holds offline gets no request, so the
  // failure of an earlier plain update (on a way back that was abandoned) is never retried
  // while the intent stands: once its back-off is over it must not hold mail on multidrop
  // (that was the offline=YES deadlock the month-long soak found). The plain update goes out
  // as soon as the intent is publish again; until that request is answered, the old failure
  // is no verdict on publishing either (judged so, a way back aborted itself at once, every
  // hour for hours: the month-long soak's late returns under offline=YES).
  const bool failureAwaitsPublish = state.offline && (!state.retryNotBefore || *state.retryNotBefore <= now);
  if (lastFailed && state.failingSince && !failureAwaitsPublish) {
    std::string text = name + " update failed with \"" + toString(*state.lastResult) + "\"";
    if (state.retryNotBefore) text += "; next try at " + formatTime(*state.retryNotBefore);
    return verdict(HostCondition::ProviderRetrying, text, *state.failingSince);
  }
  if (withdrawing) {
    // Judged by what direct needs: the provider is usable (above) and we have an address to
    // come back with. Whether the withdrawal itself is seen is reported, not decided on.
    const bool seen = obs != nullptr && obs->intent == AddressIntent::Withdraw && state.offline &&
                      verifyHost(*obs).outcome == VerifyOutcome::Verified;
    std::string withdrawal = seen ? "withdrawn (verified: " + verifyHost(*obs).text + ")"
                             : !state.offline && state.retryNotBefore && *state.retryNotBefore > now
                                 ? "withdrawal pending (held by the provider's back-off until " +
                                       formatTime(*state.retryNotBefore) + ")"
                             : !state.offline ? "withdrawal pending (offline not confirmed by the provider yet)"
                             : obs == nullptr || obs->intent != AddressIntent::Withdraw
                                 ? "withdrawal pending (not verified yet)"
                                 : "withdrawal pending (" + verifyHost(*obs).text + ")";
    HostHealth h;
    if (!in.current || in.current->empty()) {
      // An outage: nothing to come back with, but what the senders find is still a fact.
      h = verdict(HostCondition::NoAddress, name + " " + withdrawal + "; no address known to return with",
                  seen ? obs->at : now);
    } else {
      h = verdict(seen ? HostCondition::Withdrawn : HostCondition::WithdrawalPending,
                  name + " " + withdrawal + "; ready to publish " + in.current->toString(), seen ? obs->at : now);
    }
    h.withdrawalVerified = seen;
    return h;
  }
  if (!in.addressLost.empty()) {
    std::string held = state.confirmedAddress.empty() ? std::string("our old address") : state.confirmedAddress;
    return verdict(HostCondition::Stale,
                   name + " still names " + held + ", which we no longer hold (" + in.addressLost +
                       "): stale, not verified",
                   now);
  }
  if (obs == nullptr || obs->intent != AddressIntent::Publish)
    return verdict(HostCondition::Pending, name + " not verified yet", now);
  const HostVerification v = verifyHost(*obs);
  switch (v.outcome) {
    case VerifyOutcome::Verified:
      return verdict(HostCondition::Verified, v.text, obs->at);
    case VerifyOutcome::ResolutionFailing:
      return verdict(HostCondition::ResolutionFailing, v.text, obs->at);
    case VerifyOutcome::Mismatch: {
      // Secondaries and caches catch up within the old record's TTL after our update.
      const Duration grace = std::min<Duration>(Duration{v.ttl}, kMaxTtlGrace);
      if (state.lastSuccess && obs->at < *state.lastSuccess + grace)
        return verdict(HostCondition::Grace, v.text + " (within TTL grace)", obs->at);
      return verdict(HostCondition::Mismatch, v.text, obs->at);
    }
  }
  return verdict(HostCondition::Pending, "", now);
}

bool unhealthy(mail::DdnsState s) { return s == mail::DdnsState::Failing || s == mail::DdnsState::Unknown; }

mail::DdnsHealth keepSince(const mail::DdnsHealth& previous, mail::DdnsHealth next) {
  if (previous.since == TimePoint{}) return next;
  if (unhealthy(previous.state) && unhealthy(next.state)) {
    // "Unhealthy since" must not restart when the failure changes its face (mismatch,
    // then resolution failing, ...): otherwise a failure that keeps changing code would
    // restart the grace period each time and keep mail on direct indefinitely.
    next.since = std::min(previous.since, next.since);
  } else if (previous.state == next.state && previous.code == next.code) {
    next.since = previous.since;
  }
  return next;
}

}  // namespace

HostVerification verifyHost(const Observation& obs) {
  HostVerification v;
  const auto want = expectedSet(obs.expected);
  std::vector<std::string> wantText;
  for (const auto& a : want) wantText.push_back(a.toString());
  std::vector<std::string> failures;
  std::string firstMismatch;
  bool anyAnswer = false;
  const bool withdraw = obs.intent == AddressIntent::Withdraw;
  for (const auto& ans : obs.answers) {
    if (!ans.answered) {
      failures.push_back(ans.server + ": " + (ans.error.empty() ? "no answer" : ans.error));
      continue;
    }
    if (!ans.authoritative) {
      failures.push_back(ans.server + ": answer without the AA bit (no proof)");
      continue;
    }
    anyAnswer = true;
    std::set<IpAddress> got;
    bool readable = true;
    for (const auto& text : ans.addresses) {
      if (auto a = IpAddress::parse(text)) {
        got.insert(*a);
      } else {
        readable = false;
      }
    }
    if (withdraw) {
      bool still = false;
      for (const auto& a : want) {
        if (got.count(a) == 0) continue;
        still = true;
        v.ttl = std::max(v.ttl, ans.ttl);
        if (firstMismatch.empty())
          firstMismatch = obs.host + " still resolves to " + a.toString() + " at " + ans.server +
                          " (withdrawal not in effect)";
      }
      // What a resolver that asked now keeps: the absence, or the records left.
      if (!still)
        v.cacheTtl = std::max({v.cacheTtl, ans.negativeTtl.value_or(0), got.empty() ? 0u : ans.ttl});
      continue;
    }
    if (!readable || got != want) {
      v.ttl = std::max(v.ttl, ans.ttl);
      if (firstMismatch.empty())
        firstMismatch = obs.host + " resolves to " + join(ans.addresses) + " at " + ans.server +
                        ", expected " + join(wantText);
    }
  }
  if (!anyAnswer) {
    v.outcome = VerifyOutcome::ResolutionFailing;
    v.text = obs.host + ": no authoritative answer (" +
             (failures.empty() ? std::string("no servers to ask") : join(failures)) + ")";
    return v;
  }
  if (!firstMismatch.empty()) {
    v.outcome = VerifyOutcome::Mismatch;
    v.text = firstMismatch;
    return v;
  }
  v.outcome = VerifyOutcome::Verified;
  v.text = withdraw ? obs.host + " no longer resolves to " + join(wantText)
                    : obs.host + " verified as " + join(wantText);
  if (!failures.empty()) v.text += " (unreachable: " + join(failures) + ")";
  return v;
}

mail::DdnsHealth evaluateHealth(const HealthInput& in) {
  using mail::DdnsState;
  if (!in.enabled || in.hosts.empty())
    return keepSince(in.previous, {DdnsState::Disabled, in.now, "", ""});

  if (in.nat && in.nat->kind == NatKind::Cgnat)
    return keepSince(in.previous, {DdnsState::Failing, in.now, "ddns.cgnat", in.nat->text});

  const std::vector<HostHealth> judged = judgeHosts(in);
  struct HostVerdict {
    int rank;
    std::string code;
    std::string text;
    TimePoint since;
  };
  std::vector<HostVerdict> verdicts;
  for (const auto& h : judged) verdicts.push_back({rankOf(h.condition), codeOf(h.condition), h.text, h.since});

  const auto worst = std::max_element(verdicts.begin(), verdicts.end(),
                                      [](const auto& a, const auto& b) { return a.rank < b.rank; });
  if (worst->rank > kVerified) {
    // The earliest "since" among hosts failing the same way: the condition began then.
    TimePoint since = worst->since;
    std::size_t same = 0;
    for (const auto& v : verdicts) {
      if (v.rank != worst->rank) continue;
      ++same;
      since = std::min(since, v.since);
    }
    std::string text = worst->text;
    if (same > 1) text += " (and " + std::to_string(same - 1) + " more)";
    return keepSince(in.previous, {DdnsState::Failing, since, worst->code, text});
  }
  const bool undecided = std::any_of(verdicts.begin(), verdicts.end(),
                                     [](const auto& v) { return v.rank == kUndecided; });
  if (undecided) {
    // Grace or not checked yet: nothing new is known, so the last verdict stands.
    if (in.previous.state == DdnsState::Disabled || in.previous.since == TimePoint{})
      return {DdnsState::Unknown, in.now, "", ""};
    return in.previous;
  }
  return keepSince(in.previous,
                   {DdnsState::Healthy, in.now, "", std::to_string(verdicts.size()) +
                                                        " host(s) verified"});
}

std::vector<HostHealth> judgeHosts(const HealthInput& in) {
  std::vector<HostHealth> out;
  for (const auto& [account, host] : in.hosts) {
    const HostState state = in.states ? in.states->get(account, host) : HostState{};
    const Observation* obs = nullptr;
    for (const auto& o : in.observations)
      if (o.account == account && o.host == host && (obs == nullptr || o.at >= obs->at)) obs = &o;
    const bool withdrawing =
        std::find(in.withdrawing.begin(), in.withdrawing.end(), std::make_pair(account, host)) !=
        in.withdrawing.end();
    out.push_back(judgeHost(in, account, host, state, obs, withdrawing));
  }
  return out;
}

bool HostHealth::fine() const {
  return condition == HostCondition::Verified || condition == HostCondition::Withdrawn ||
         condition == HostCondition::Grace;
}

bool HostHealth::intentMet() const {
  return condition == HostCondition::Verified || condition == HostCondition::Withdrawn || withdrawalVerified;
}

const char* toString(HostCondition c) {
  switch (c) {
    case HostCondition::Verified: return "verified";
    case HostCondition::Withdrawn: return "withdrawn";
    case HostCondition::WithdrawalPending: return "withdrawal-pending";
    case HostCondition::Pending: return "pending";
    case HostCondition::Grace: return "grace";
    case HostCondition::NoAddress: return "no-address";
    case HostCondition::Stale: return "stale";
    case HostCondition::ResolutionFailing: return "resolution-failing";
    case HostCondition::Mismatch: return "mismatch";
    case HostCondition::ProviderRetrying: return "provider-retrying";
    case HostCondition::ProviderFatal: return "provider-fatal";
  }
  return "unknown";
}

const char* toString(AddressIntent i) { return i == AddressIntent::Withdraw ? "withdraw" : "publish"; }

const char* toString(VerifyOutcome o) {
  switch (o) {
    case VerifyOutcome::Verified: return "verified";
    case VerifyOutcome::Mismatch: return "mismatch";
    case VerifyOutcome::ResolutionFailing: return "resolution-failing";
  }
  return "unknown";
}

}  // namespace dynmx::ddns
