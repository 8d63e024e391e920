#pragma once
// Admin hooks: argv lists run without a shell on every mode switch, with a timeout and
// DYNMX_* variables in the environment. They never run as root and never block the
// switch to multidrop: their outcome is reported, not waited for by the safety path.
#include <boost/asio/io_context.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/async_process.hpp"
#include "dynmx/status.hpp"

namespace dynmx::hooks {

/// One hook to run.
struct HookSpec {
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

/// What the hooks are told.
struct SwitchContext {
  std::string mode;          ///< DYNMX_MODE
  std::string previousMode;  ///< DYNMX_PREVIOUS_MODE
  std::string reason;        ///< DYNMX_REASON (codes, comma separated)
  std::string address;       ///< DYNMX_ADDRESS (current public address, may be empty)
};

/// The environment a hook sees. Pure.
std::map<std::string, std::string> hookEnvironment(const SwitchContext& ctx);

/// Run every hook (one after another, each bounded by its timeout) and report each result
/// through `done` once all finished. `uid/gid`: the unprivileged account to run as.
void runHooks(boost::asio::io_context& io, ProcessLauncher& launcher, const std::vector<HookSpec>& hooks,
              const SwitchContext& ctx, std::optional<uid_t> uid, std::optional<gid_t> gid,
              std::function<void(std::vector<status::HookRecord>)> done);

/// Hooks of successive switches, one switch's hooks at a time, in the order the switches
/// happened: a hook for "direct" never runs beside (or before) the one for the earlier
/// "multidrop". Single-threaded: call from the io_context's thread.
class HookQueue {
 public:
  HookQueue(boost::asio::io_context& io, ProcessLauncher& launcher) : io_(io), launcher_(launcher) {}
  HookQueue(const HookQueue&) = delete;
  HookQueue& operator=(const HookQueue&) = delete;

  /// Run these hooks after every batch enqueued before has finished; `done` as runHooks.
  void run(std::vector<HookSpec> hooks, SwitchContext ctx, std::optional<uid_t> uid, std::optional<gid_t> gid,
           std::function<void(std::vector<status::HookRecord>)> done);
  /// Batches waiting or running (0 when idle).
  [[nodiscard]] std::size_t pending() const { return queue_.size(); }

 private:
  struct Batch {
    std::vector<HookSpec> hooks;
    SwitchContext ctx;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::function<void(std::vector<status::HookRecord>)> done;
  };
  void startFront();

  boost::asio::io_context& io_;
  ProcessLauncher& launcher_;
  std::deque<Batch> queue_;  ///< front: the batch running now
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  ~HookQueue() { *alive_ = false; }
};

}  // namespace dynmx::hooks
