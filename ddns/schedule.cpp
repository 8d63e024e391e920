#include "dynmx/ddns/schedule.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dynmx::ddns {

namespace {

bool isOk(const std::optional<ResultCode>& code) {
  return code && consequenceOf(*code) == Consequence::Ok;
}

UpdateDecision skip(SkipReason r, std::string text, std::optional<TimePoint> notBefore = {}) {
  UpdateDecision d;
  d.reason = r;
  d.text = std::move(text);
  d.notBefore = notBefore;
  return d;
}

UpdateDecision sendWith(std::string text, bool nochgExpected, bool banLifted) {
  UpdateDecision d;
  d.send = true;
  d.text = std::move(text);
  d.nochgExpected = nochgExpected;
  d.banLifted = banLifted;
  return d;
}

// FNV-1a: tiny, stable across builds and platforms, good enough to notice an edit.
void mix(std::uint64_t& h, std::string_view s) {
  // Length first, so ("ab","c") and ("a","bc") differ.
  const std::string len = std::to_string(s.size()) + ":";
  for (std::string_view part : {std::string_view(len), s}) {
    for (char c : part) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
  }
}

}  // namespace

Duration transientBackoff(int failures) {
  if (failures <= 1) return kBackoffStart;
  Duration d = kBackoffStart;
  for (int i = 1; i < failures && d < kBackoffCap; ++i) d *= 2;
  return std::min(d, kBackoffCap);
}

bool banLifted(const HostState& state, std::string_view fingerprint, std::string_view tag) {
  if (!state.fatal()) return false;
  if (state.configFingerprint != fingerprint) return true;
  // An old record has no tag: only a tag we recorded can tell that the secret changed.
  return !state.secretTag.empty() && !tag.empty() && state.secretTag != tag;
}

std::string secretTag(std::string_view secret) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  mix(h, "dynmx-secret-tag-v1");
  mix(h, secret);
  h ^= h >> 32;
  h ^= h >> 16;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(4, '0');
  for (int i = 3; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
  return out;
}

UpdateDecision shouldUpdate(const HostState& state, const AddressSet& current, TimePoint now,
                            bool force, bool firstStart, std::string_view fingerprint,
                            const SendRules& rules) {
  const bool lifted = banLifted(state, fingerprint, rules.secretTag);
  if (state.fatal() && !lifted)
    return skip(SkipReason::Fatal,
                "disabled after \"" + state.fatalReason +
                    "\"; fix the cause, then change the account or its password, or run "
                    "`dynmx update --reset " + state.host + "`");
  if (current.empty()) return skip(SkipReason::NoAddress, "no publishable address known");
  if (lifted) return sendWith("configuration or password changed; ban lifted", true, true);

  // The provider's retry rule binds even a forced run: a 911 means "not before 30 minutes".
  if (state.retryNotBefore && now < *state.retryNotBefore)
    return skip(SkipReason::Backoff, "waiting after \"" +
                                         std::string(state.lastResult ? toString(*state.lastResult)
                                                                      : "failure") +
                                         "\" until " + formatTime(*state.retryNotBefore),
                state.retryNotBefore);

  const std::string addr = current.toString();
  const bool hasRecord = state.lastAttempt.has_value();
  // nochg is normal when we cannot know what the provider has: first contact, a restart, a
  // forced run, coming back from offline, or after a failed attempt that may have landed.
  const bool nochgExpected =
      !hasRecord || firstStart || force || state.offline || !isOk(state.lastResult);

  if (state.offline) return sendWith("bring host back online with " + addr, nochgExpected, false);
  if (!state.confirmedAddress.empty() && state.confirmedAddress == addr) {
    // Nothing new to say: even a forced run keeps the provider's minimum interval.
    if (force && state.lastAttempt && now - *state.lastAttempt < rules.minInterval)
      return skip(SkipReason::Backoff,
                  "provider already has " + addr + "; a forced re-send waits for the provider's "
                  "minimum interval until " + formatTime(*state.lastAttempt + rules.minInterval),
                  *state.lastAttempt + rules.minInterval);
    if (force) return sendWith("forced re-send of " + addr, true, false);
    return skip(SkipReason::Unchanged, "provider already has " + addr);
  }
  return sendWith(state.confirmedAddress.empty()
                      ? "publish " + addr
                      : "address changed from " + state.confirmedAddress + " to " + addr,
                  nochgExpected, false);
}

UpdateDecision shouldSendOffline(const HostState& state, TimePoint now,
                                 std::string_view fingerprint, const SendRules& rules) {
  const bool sameConfig = state.configFingerprint == fingerprint;
  if (state.fatal() && !banLifted(state, fingerprint, rules.secretTag))
    return skip(SkipReason::Fatal, "disabled after \"" + state.fatalReason + "\"");
  if (state.offlineRefused && sameConfig)
    return skip(SkipReason::Refused, "provider refused offline=YES (!donator)");
  if (state.retryNotBefore && now < *state.retryNotBefore && !state.fatal())
    return skip(SkipReason::Backoff, "waiting until " + formatTime(*state.retryNotBefore),
                state.retryNotBefore);
  // A lifted ban is proven by a request even when the host is already offline: otherwise
  // the ban stays on record while the intent stands, and health holds mail on multidrop.
  if (state.offline && !state.fatal()) return skip(SkipReason::Offline, "already offline");
  return sendWith("take host offline", true, state.fatal());
}

UpdateDecision shouldSendMx(const HostState& state, const MxSetting& wanted, TimePoint now,
                            std::string_view fingerprint, const SendRules& rules) {
  if (state.fatal() && !banLifted(state, fingerprint, rules.secretTag))
    return skip(SkipReason::Fatal, "disabled after \"" + state.fatalReason + "\"");
  if (state.mxRefused && state.configFingerprint == fingerprint)
    return skip(SkipReason::Refused, "provider refused mx= (!donator)");
  if (state.confirmedMx == wanted)
    return skip(SkipReason::Unchanged, "provider already has " + toString(wanted));
  if (state.retryNotBefore && now < *state.retryNotBefore)
    return skip(SkipReason::Backoff,
                "MX change to " + toString(wanted) + " waits after \"" +
                    std::string(state.lastResult ? toString(*state.lastResult) : "failure") + "\" until " +
                    formatTime(*state.retryNotBefore),
                state.retryNotBefore);
  if (state.lastAttempt && now - *state.lastAttempt < rules.minInterval)
    return skip(SkipReason::Backoff,
                "MX change to " + toString(wanted) + " waits for the provider's minimum interval until " +
                    formatTime(*state.lastAttempt + rules.minInterval),
                *state.lastAttempt + rules.minInterval);
  // The address is not news to the provider: a nochg to this request is no sign of abuse.
  return sendWith("MX change to " + toString(wanted), true, false);
}

std::string mergeFamily(const std::string& whole, const std::string& part) {
  auto w = parseAddressSet(whole).value_or(AddressSet{});
  const auto p = parseAddressSet(part);
  if (!p) return whole;
  if (p->v4) w.v4 = p->v4;
  if (p->v6) w.v6 = p->v6;
  return w.toString();
}

HostState applyResult(const HostState& state, const HostResult& result, TimePoint now,
                      const ApplyContext& ctx) {
  HostState s = state;
  s.lastAttempt = now;
  s.lastResult = result.code;
  s.lastAddressSent = ctx.partialAddress ? mergeFamily(state.lastAddressSent, ctx.sentAddress) : ctx.sentAddress;
  const bool configChanged = s.configFingerprint != ctx.fingerprint;
  s.configFingerprint = ctx.fingerprint;
  if (!ctx.secretTag.empty()) s.secretTag = ctx.secretTag;
  if (configChanged) {
    // A new configuration starts with a clean slate; what the reply says is recorded below.
    // So does the transient back-off: the failures of the old configuration (a wrong key, a
    // refused grant) say nothing about how often the new one may try (failingSince stays:
    // how long the host has been failing is a fact, not a rule).
    s.consecutiveFailures = 0;
    s.fatalReason.clear();
    s.offlineRefused = false;
    s.mxRefused = false;
  }

  const auto failed = [&] {
    ++s.consecutiveFailures;
    if (!s.failingSince) s.failingSince = now;
  };

  switch (result.consequence) {
    case Consequence::Ok:
      s.lastSuccess = now;
      s.retryNotBefore.reset();
      s.failingSince.reset();
      s.consecutiveFailures = 0;
      s.fatalReason.clear();
      if (result.code == ResultCode::NoChange && !ctx.nochgExpected) {
        // The dyndns2 rules: repeated nochg gets a host blocked. Stop before the provider does.
        if (++s.unexpectedNochg >= kMaxUnexpectedNochg)
          s.fatalReason = "nochg: " + std::to_string(s.unexpectedNochg) +
                          " unexpected nochg answers in a row; stopped before the provider "
                          "blocks the host for abuse";
      } else {
        s.unexpectedNochg = 0;
      }
      if (ctx.sentMx) {
        s.confirmedMx = ctx.sentMx;
        s.mxRefused = false;
      }
      if (ctx.offlineRequest) {
        s.offline = true;
      } else {
        s.offline = false;
        s.confirmedAddress =
            ctx.partialAddress ? mergeFamily(state.confirmedAddress, ctx.sentAddress) : ctx.sentAddress;
      }

      break;
    case Consequence::RetryLater:
      failed();
      s.retryNotBefore = now + std::max(kMinServerErrorRetry, ctx.serverErrorRetry);
      break;
    case Consequence::Transient:
      failed();
      s.retryNotBefore = now + transientBackoff(s.consecutiveFailures);
      break;
    case Consequence::FatalHost:
    case Consequence::FatalAccount:
      failed();
      s.retryNotBefore.reset();
      s.fatalReason = std::string(toString(result.code));
      if (!result.detail.empty() && result.detail != s.fatalReason)
        s.fatalReason += ": " + result.detail;
      break;
    case Consequence::FatalOption:
      // Only the option is refused; the address state is untouched.
      if (ctx.offlineRequest || !ctx.sentMx)
        s.offlineRefused = true;
      else
        s.mxRefused = true;
      break;
  }
  return s;
}

std::string configFingerprint(const DdnsAccount& account) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  mix(h, "dynmx-ddns-v1");
  mix(h, account.name);
  mix(h, account.provider);
  mix(h, account.url);
  mix(h, account.username);
  mix(h, account.passwordFile);
  mix(h, account.allowInsecureHttp ? "http" : "https");
  std::vector<std::string> hosts;
  for (const auto& host : account.hosts) {
    auto n = normalizeHostname(host);
    hosts.push_back(n ? *n : host);
  }
  std::sort(hosts.begin(), hosts.end());
  for (const auto& host : hosts) mix(h, host);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
  return out;
}

const char* toString(SkipReason r) {
  switch (r) {
    case SkipReason::None: return "none";
    case SkipReason::Unchanged: return "unchanged";
    case SkipReason::Backoff: return "backoff";
    case SkipReason::Fatal: return "fatal";
    case SkipReason::NoAddress: return "no-address";
    case SkipReason::Offline: return "offline";
    case SkipReason::Refused: return "refused";
  }
  return "unknown";
}

}  // namespace dynmx::ddns
