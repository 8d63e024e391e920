#pragma once
// The provider fault class's bed: one LoopbackWorld (named, dovecot, the loopback dyndns2
// provider, the sink, `dynmx run`) plus what the scenarios read and steer: the provider's
// fault modes and counters, the public address its /ip answers, the daemon's DDNS row, the
// detection rounds the daemon makes (each one is a GET /ip at the provider), mail
// deposited at the ISP and counted at the sink.
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "testbed/loopback_world.hpp"

namespace dynmx::fault {

/// The test ids deposited at the ISP and the local user each must reach.
using Batch = std::map<std::string, std::string>;

/// RFC 3339 time of the status JSON → seconds since the epoch (nullopt: null/unparsable).
std::optional<long long> unixSeconds(const nlohmann::json& value);

/// `curl -s URL` (extra curl arguments first) → body, or "" on failure.
std::string curlGet(const std::string& url, const std::vector<std::string>& curlArgs = {});

/// The `dynmx` binary under test (env DYNMX_BINARY).
std::string dynmxBinaryPath();

/// Run argv (no shell, output discarded) to its end, bounded by `bound` (then SIGKILL);
/// its peak resident memory (ru_maxrss, KiB), -1 if it could not run.
long childPeakKiB(const std::vector<std::string>& argv, std::chrono::milliseconds bound);

/// Chown a file the daemon must read to the `dynmx` system user, when that user exists.
void handToDaemonUser(const std::string& path);

class ProviderBed {
 public:
  explicit ProviderBed(const std::string& tag);

  /// Start the world (not the daemon).
  Status<> start();
  /// The world's policy with `from` replaced by `to` (each pair once; fails the test if absent).
  std::string policyWith(const std::vector<std::pair<std::string, std::string>>& edits) const;

  /// GET /control?QUERY at the world's provider; true when it answered result 0.
  bool control(const std::string& query);
  /// The provider's /stats (each read is counted, see ipChecks()).
  nlohmann::json stats();
  /// Update requests the provider has seen since its last reset.
  long updateRequests();
  /// Detection rounds of the daemon since the provider's last reset: its GET /ip requests
  /// (http_requests minus updates, control requests and our own reads).
  long ipChecks();
  /// The provider's --log lines since its last reset.
  std::vector<nlohmann::json> providerLog() const;
  /// Set the address the IP-check source answers.
  bool setPublicIp(const std::string& address);

  /// The daemon's JSON status (nullopt if it did not answer).
  std::optional<nlohmann::json> status() const;
  /// The first DDNS host row of the status ({} if none).
  nlohmann::json hostRow() const;
  /// Wait until the host row satisfies `cond`.
  bool waitHost(const std::function<bool(const nlohmann::json&)>& cond, std::chrono::milliseconds bound) const;

  /// Clear: provider back to normal and reset, daemon stopped, state dir removed, `policy`
  /// written, daemon started, wait for direct with DDNS healthy. False (with the daemon's log
  /// in `why`) if the world does not get there.
  bool freshDirect(const std::string& policy, std::string& why);

  /// Watch `rounds` further detection rounds; every status sample in between must show
  /// `mode`. False if the mode was seen otherwise (`seen` names it) or the rounds did not
  /// happen within `bound`.
  bool holdsModeFor(int rounds, const std::string& mode, std::string& seen, std::chrono::milliseconds bound);

  /// Deposit each message of `batch` at the ISP box (rcpt = user@example.com).
  bool deposit(const Batch& batch);
  /// Messages of `batch` that did not reach exactly their user exactly once (missing,
  /// duplicated or misrouted each count one).
  long lost(const Batch& batch) const;
  /// Wait until every id of `batch` reached the sink.
  bool waitDelivered(const Batch& batch, std::chrono::milliseconds bound) const;

  testbed::LoopbackWorld w;

 private:
  std::string providerUrl(const std::string& path) const;
  long ownReads_ = 0;  ///< our /stats reads since the provider's last reset
};

}  // namespace dynmx::fault
