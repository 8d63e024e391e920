#include "dynmx/hooks.hpp"

#include <boost/asio/post.hpp>

namespace dynmx::hooks {

std::map<std::string, std::string> hookEnvironment(const SwitchContext& ctx) {
  return {{"DYNMX_MODE", ctx.mode},
          {"DYNMX_PREVIOUS_MODE", ctx.previousMode},
          {"DYNMX_REASON", ctx.reason},
          {"DYNMX_ADDRESS", ctx.address}};
}

namespace {

struct Run : std::enable_shared_from_this<Run> {
  boost::asio::io_context& io;
  ProcessLauncher& launcher;
  std::vector<HookSpec> hooks;
  SwitchContext ctx;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::function<void(std::vector<status::HookRecord>)> done;
  std::vector<status::HookRecord> records;
  std::unique_ptr<Child> current;
  std::string lastStderr;

  Run(boost::asio::io_context& i, ProcessLauncher& l) : io(i), launcher(l) {}

  void next(std::size_t index) {
    if (index >= hooks.size()) {
      auto self = shared_from_this();
      boost::asio::post(io, [self] { self->done(std::move(self->records)); });
      return;
    }
    const HookSpec& h = hooks[index];
    status::HookRecord rec;
    rec.at = std::chrono::time_point_cast<Duration>(Clock::now());
    rec.argv0 = h.argv.empty() ? "" : h.argv[0];
    rec.mode = ctx.mode;
    ProcessSpec spec{.argv = h.argv, .env = hookEnvironment(ctx), .uid = uid, .gid = gid, .timeout = h.timeout};
    std::string error;
    auto self = shared_from_this();
    lastStderr.clear();
    current = launcher.launch(
        spec,
        {.onStderr = [self](const std::string& l) { if (self->lastStderr.size() < 512) self->lastStderr = l; },
         .onExit =
             [self, index, rec](const ChildExit& e) mutable {
               rec.ok = !e.timedOut && e.signal == 0 && e.exitCode == 0;
               if (e.timedOut) rec.error = "timed out";
               else if (e.signal != 0) rec.error = "killed by signal " + std::to_string(e.signal);
               else if (e.exitCode != 0) rec.error = "exit " + std::to_string(e.exitCode);
               if (!rec.ok && !self->lastStderr.empty()) rec.error += ": " + self->lastStderr;
               self->records.push_back(rec);
               boost::asio::post(self->io, [self, index] { self->next(index + 1); });
             }},
        error);
    if (!current) {
      rec.ok = false;
      rec.error = error;
      records.push_back(rec);
      boost::asio::post(io, [self, index] { self->next(index + 1); });
    }
  }
};

}  // namespace

void runHooks(boost::asio::io_context& io, ProcessLauncher& launcher, const std::vector<HookSpec>& hooks,
              const SwitchContext& ctx, std::optional<uid_t> uid, std::optional<gid_t> gid,
              std::function<void(std::vector<status::HookRecord>)> done) {
  auto run = std::make_shared<Run>(io, launcher);
  run->hooks = hooks;
  run->ctx = ctx;
  run->uid = uid;
  run->gid = gid;
  run->done = std::move(done);
  run->next(0);
}

void HookQueue::run(std::vector<HookSpec> hooks, SwitchContext ctx, std::optional<uid_t> uid,
                    std::optional<gid_t> gid, std::function<void(std::vector<status::HookRecord>)> done) {
  queue_.push_back({std::move(hooks), std::move(ctx), uid, gid, std::move(done)});
  if (queue_.size() == 1) startFront();
}

void HookQueue::startFront() {
  if (queue_.empty()) return;
  Batch& b = queue_.front();
  std::weak_ptr<bool> alive = alive_;
  runHooks(io_, launcher_, b.hooks, b.ctx, b.uid, b.gid,
           [this, alive](std::vector<status::HookRecord> records) {
             if (alive.expired()) return;
             auto done = std::move(queue_.front().done);
             queue_.pop_front();
             if (done) done(std::move(records));
             startFront();
           });
}

}  // namespace dynmx::hooks
