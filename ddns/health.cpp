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

// One host's contribution to the aggregate verdict.
struct HostVerdict {
  int rank = 0;  // 0 = verified; higher = more severe; -1 = undecided (grace / not checked)
  std::string code;
  std::string text;
  TimePoint since{};
};

constexpr int kUndecided = -1;
constexpr int kVerified = 0;
constexpr int kResolution = 1;
constexpr int kMismatch = 2;
constexpr int kRetrying = 3;
constexpr int kFatal = 4;

HostVerdict judgeHost(const std::string& account, const std::string& host,
                      const HostState& state, const Observation* obs, TimePoint now) {
  const std::string name = host + " (" + account + ")";
  if (state.fatal())
    return {kFatal, "ddns.provider_fatal",
            name + " disabled by the provider's \"" + state.fatalReason + "\"",
            state.lastAttempt.value_or(now)};
  const bool lastFailed = state.lastResult &&
                          consequenceOf(*state.lastResult) != Consequence::Ok &&
                          consequenceOf(*state.lastResult) != Consequence::FatalOption;
  if (lastFailed && state.failingSince) {
    std::string text = name + " update failed with \"" + toString(*state.lastResult) + "\"";
    if (state.retryNotBefore) text += "; next try at " + formatTime(*state.retryNotBefore);
    return {kRetrying, "ddns.provider_retrying", text, *state.failingSince};
  }
  if (obs == nullptr) return {kUndecided, "", name + " not verified yet", now};
  const HostVerification v = verifyHost(*obs);
  switch (v.outcome) {
    case VerifyOutcome::Verified:
      return {kVerified, "", v.text, obs->at};
    case VerifyOutcome::ResolutionFailing:
      return {kResolution, "ddns.resolution_failing", v.text, obs->at};
    case VerifyOutcome::Mismatch: {
      // Secondaries and caches catch up within the old record's TTL after our update.
      const Duration grace = std::min<Duration>(Duration{v.ttl}, kMaxTtlGrace);
      if (state.lastSuccess && obs->at < *state.lastSuccess + grace)
        return {kUndecided, "", v.text + " (within TTL grace)", obs->at};
      return {kMismatch, "ddns.mismatch", v.text, obs->at};
    }
  }
  return {kUndecided, "", "", now};
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
  for (const auto& ans : obs.answers) {
    if (!ans.answered) {
      failures.push_back(ans.server + ": " + (ans.error.empty() ? "no answer" : ans.error));
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
  v.text = obs.host + " verified as " + join(wantText);
  if (!failures.empty()) v.text += " (unreachable: " + join(failures) + ")";
  return v;
}

mail::DdnsHealth evaluateHealth(const HealthInput& in) {
  using mail::DdnsState;
  if (!in.enabled || in.hosts.empty())
    return keepSince(in.previous, {DdnsState::Disabled, in.now, "", ""});

  if (in.nat && in.nat->kind == NatKind::Cgnat)
    return keepSince(in.previous, {DdnsState::Failing, in.now, "ddns.cgnat", in.nat->text});

  std::vector<HostVerdict> verdicts;
  for (const auto& [account, host] : in.hosts) {
    const HostState state = in.states ? in.states->get(account, host) : HostState{};
    const Observation* obs = nullptr;
    for (const auto& o : in.observations)
      if (o.account == account && o.host == host && (obs == nullptr || o.at >= obs->at)) obs = &o;
    verdicts.push_back(judgeHost(account, host, state, obs, in.now));
  }

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

const char* toString(VerifyOutcome o) {
  switch (o) {
    case VerifyOutcome::Verified: return "verified";
    case VerifyOutcome::Mismatch: return "mismatch";
    case VerifyOutcome::ResolutionFailing: return "resolution-failing";
  }
  return "unknown";
}

}  // namespace dynmx::ddns
