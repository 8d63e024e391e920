#pragma once
// The `rfc2136` provider kind in the DDNS engine: hosts of such an account are published
// with a prerequisite-guarded DNS UPDATE (dynmx/dnsupdate.hpp) instead of a dyndns2 request,
// and the answer is classified into the same HostResult discipline (retry, back off, stop
// and say why), so state, back-off and health work unchanged.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/ddns/schedule.hpp"
#include "dynmx/ddns/state.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/dnsupdate.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::ddns {

/// The provider name of the kind.
inline constexpr const char* kRfc2136 = "rfc2136";

/// True for an account of the rfc2136 kind.
bool isRfc2136(const DdnsAccount& account);

/// configFingerprint plus the kind's own keys (key file path, zone, server, ttl) and the key
/// file's identity (inode, size, mtime): a fatal stop is lifted when any of them changes.
std::string rfc2136Fingerprint(const DdnsAccount& account);

/// The UPDATE publishing `addresses` for `host` (pure). Each family is guarded by what we
/// last confirmed: RRset equals the old address, or RRset does not exist on first
/// publication; a family we no longer have is deleted, guarded the same way.
dnsupdate::UpdateMessage rfc2136Message(const DdnsAccount& account, const std::string& host,
                                        const AddressSet& addresses, const HostState& state);

/// The outcome as the engine's per-host result (pure): Applied → good/ok; PrereqFailed →
/// retry-later (the zone holds records we did not publish; we never overwrite them);
/// Retry → transient; BackOff (BADTIME) → retry-later; Fatal → fatal-account, except
/// REFUSED (the policy may grant other names) → fatal-host.
HostResult rfc2136Result(const std::string& host, const dnsupdate::UpdateOutcome& outcome);

/// One host to publish in this pass.
struct Rfc2136Job {
  const DdnsAccount* account = nullptr;
  std::string host;
  std::string fingerprint;
  UpdateDecision decision;
};

/// What planning and sending need from the engine (references into its pass).
struct Rfc2136Context {
  StateStore& store;
  std::function<HostReport&(const std::string& account, const std::string& host)> row;
  std::map<std::pair<std::string, std::string>, std::string>& lastError;
  std::function<TimePoint()> now;
  const Rfc2136Sender& send;
};

/// The rfc2136 hosts to publish now; hosts skipped get their row filled (pure planning).
std::vector<Rfc2136Job> planRfc2136(const DdnsSection& config, const AddressSet& addresses,
                                    const PassOptions& options, const Rfc2136Context& ctx);

/// Send every job; `oneDone` runs once per job after its state and row are written.
void sendRfc2136(std::vector<Rfc2136Job> jobs, const AddressSet& addresses, Rfc2136Context ctx,
                 std::function<void()> oneDone, std::weak_ptr<bool> alive);

}  // namespace dynmx::ddns
