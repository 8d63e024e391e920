#pragma once
// The envelope guard, edge: the LMTP listener on a unix socket that fetchmail delivers to,
// the client that forwards to the real local MTA, and the durable journal. The decisions
// are made by the pure core in guard.hpp.
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "dynmx/guard.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/background_files.hpp"
#include "dynmx/result.hpp"

namespace dynmx::guard {

/// Everything the guard needs; built from the policy by configFromPolicy().
struct GuardConfig {
  std::string socketPath;               ///< the LMTP unix socket fetchmail delivers to
  std::optional<gid_t> socketGroup;     ///< group for 0660 (fetchmail's, when it runs as another user)
  bool mtaLmtp = false;                 ///< speak LMTP (else SMTP) to the MTA
  std::string mtaHost = "127.0.0.1";    ///< host, IP literal, or a unix socket path starting with '/'
  int mtaPort = 25;
  EnvelopeRule rule;
  UserMap users;
  LoopLimits loop;
  SessionLimits limits;
  std::string markerId;                 ///< our hop marker value (per installation)
  std::string journalPath;
  Duration retention{std::chrono::hours(24 * 7)};
  /// fdatasync the journal before every answer to fetchmail (else: write() before every
  /// answer, which survives a crash of dynmx, and fdatasync at most once a second, so an
  /// OS crash can cost the last second: at worst a duplicate, never a loss).
  bool syncEachMessage = false;
  std::chrono::milliseconds idleTimeout{std::chrono::minutes(10)};  ///< fetchmail silent this long: close
  std::chrono::milliseconds mtaTimeout{std::chrono::minutes(2)};    ///< per MTA read/write
  std::string hostname = "dynmx-guard";
};

/// The guard's [guard] settings and paths, derived from the policy.
GuardConfig configFromPolicy(const Policy& policy);

/// The guard's unix socket path for a policy ([guard] socket or <state dir>/guard.sock).
std::string guardSocketPath(const Policy& policy);

/// The hop marker id kept at `path` (created with 16 random hex digits if absent).
Result<std::string> loadOrCreateMarkerId(const std::string& path);

/// The durable journal: one line per message and local user, appended and fdatasync'ed
/// before fetchmail hears 250; records older than the retention are dropped at open.
class Journal {
 public:
  /// Open (create 0600) and load the records within `retention` of `now`.
  static Result<std::unique_ptr<Journal>> open(const std::string& path, Duration retention, TimePoint now);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Whether this message (key, envelope) already reached `user` (delivered or to the postmaster).
  [[nodiscard]] bool delivered(const std::string& key, const std::string& envelope, const std::string& user) const;
  /// Append with one write() (O_APPEND; survives a crash of this process) and, if `sync`,
  /// fdatasync before returning. On failure nothing is promised.
  Status<> append(const std::vector<JournalRecord>& records, bool sync = true);
  /// fdatasync what append() wrote without it (no-op when nothing is pending).
  Status<> sync();
  /// The same, split so the fdatasync can run off the loop: what to sync (nullopt when
  /// nothing is pending), the sync itself (any thread), and the result back (loop thread).
  struct PendingSync {
    std::shared_ptr<const int> fd;  ///< a dup of the journal's descriptor, closed with the last copy
    std::string path;
    std::uint64_t upTo = 0;         ///< appends up to this one become durable
  };
  [[nodiscard]] std::optional<PendingSync> pendingSync() const;
  static Status<> runSync(const PendingSync& pending);
  void synced(std::uint64_t upTo);
  /// The records kept in memory (within the retention).
  [[nodiscard]] const std::vector<JournalRecord>& records() const { return records_; }
  /// Lines that could not be parsed at open (a torn last line after a crash).
  [[nodiscard]] std::size_t skippedAtOpen() const { return skipped_; }

 private:
  Journal() = default;
  std::string path_;
  int fd_ = -1;
  std::vector<JournalRecord> records_;
  std::unordered_set<std::string> done_;
  std::size_t skipped_ = 0;
  std::uint64_t appended_ = 0;  ///< appends so far
  std::uint64_t durable_ = 0;   ///< appends known to be on disk
};

/// Counts and state for `dynmx status`.
struct GuardSnapshot {
  bool listening = false;
  std::string socketPath;
  GuardCounts last24h;
  std::string summary;  ///< summaryText(last24h)
  std::string warning;  ///< noEnvelopeWarning(last24h)
  std::string lastError;
};

/// The LMTP listener and its sessions. Use from the io_context's thread only.
class GuardServer {
 public:
  /// `files`: where the journal's fdatasync runs (the daemon's BackgroundFiles: off the
  /// loop); null: inline.
  GuardServer(boost::asio::io_context& io, GuardConfig config, std::function<TimePoint()> now,
              FileSink* files = nullptr);
  ~GuardServer();
  GuardServer(const GuardServer&) = delete;
  GuardServer& operator=(const GuardServer&) = delete;

  /// Open the journal and bind the socket (0660; group socketGroup if set).
  Status<> start();
  /// Close the listener and every session (messages in flight get no answer: fetchmail keeps them).
  void stop();
  /// Counts over the last 24 hours and the listener state.
  [[nodiscard]] GuardSnapshot snapshot() const;
  /// Called after every handled message (for status publication).
  void onMessage(std::function<void()> callback);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dynmx::guard
