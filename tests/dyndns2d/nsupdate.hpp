#pragma once
// Pushes record changes to an authoritative server with the `nsupdate` binary (no shell),
// on the Asio loop. Changes that arrive while one nsupdate runs are batched into the next.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol.hpp"
#include "dynmx/async_process.hpp"

namespace dynmx::dyndns2d {

/// Where and how to push.
struct NsUpdateOptions {
  std::string server;  ///< host:port (or host)
  std::string keyFile;  ///< TSIG key file for `nsupdate -k`, optional
  std::string zone;
  std::string binary = "nsupdate";
  int ttl = 60;
};

/// Build the nsupdate script for `changes` (records outside the zone are skipped). Pure.
std::string buildNsUpdateScript(const NsUpdateOptions& options, const std::vector<RecordChange>& changes);

/// Counters for /stats.
struct NsUpdateStats {
  std::uint64_t runs = 0;
  std::uint64_t failures = 0;
  std::uint64_t pending = 0;  ///< changes queued or in flight
  std::string lastError;
};

/// Runs nsupdate for queued changes, one process at a time.
class NsUpdater {
 public:
  NsUpdater(boost::asio::io_context& io, NsUpdateOptions options);
  ~NsUpdater();
  NsUpdater(const NsUpdater&) = delete;
  NsUpdater& operator=(const NsUpdater&) = delete;

  /// Queue `changes`; `done(ok)` runs once they reached the server (or failed).
  void push(std::vector<RecordChange> changes, std::function<void(bool ok)> done);

  [[nodiscard]] const NsUpdateStats& stats() const { return stats_; }

 private:
  void startNext();
  void finished(bool ok, const std::string& error);

  boost::asio::io_context& io_;
  NsUpdateOptions options_;
  std::unique_ptr<ProcessLauncher> launcher_;
  std::unique_ptr<Child> child_;
  std::string scriptPath_;
  std::string stderr_;
  std::vector<RecordChange> queued_;
  std::vector<std::function<void(bool)>> queuedDone_;
  std::vector<std::function<void(bool)>> runningDone_;
  std::uint64_t runningCount_ = 0;
  bool busy_ = false;  ///< a batch is in flight (its child may already be gone)
  NsUpdateStats stats_;
};

}  // namespace dynmx::dyndns2d
