#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "dynmx/hooks.hpp"

using namespace dynmx;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(Hooks, EnvironmentCarriesTheSwitch) {
  auto env = hooks::hookEnvironment({"multidrop", "direct", "ddns.mismatch", "203.0.113.7"});
  EXPECT_EQ(env.at("DYNMX_MODE"), "multidrop");
  EXPECT_EQ(env.at("DYNMX_PREVIOUS_MODE"), "direct");
  EXPECT_EQ(env.at("DYNMX_REASON"), "ddns.mismatch");
  EXPECT_EQ(env.at("DYNMX_ADDRESS"), "203.0.113.7");
}

TEST(Hooks, RunWithoutShellReportEachResult) {
  std::string t = "/tmp/dmxhook-XXXXXX";
  fs::path dir = ::mkdtemp(t.data());
  std::string out = (dir / "env.txt").string();
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  std::vector<hooks::HookSpec> specs = {
      // Arguments reach the program verbatim: no shell expands `$(...)` or `;`.
      {{"sh", "-c", "env | grep ^DYNMX_ | sort > \"$1\"; printf '%s' \"$2\" >> \"$1\"", "hook", out, "$(x);y"}, 10s},
      {{"sh", "-c", "echo broken >&2; exit 7"}, 10s},
      {{"sleep", "30"}, 100ms},
      {{"/nonexistent/hook"}, 10s},
  };
  std::optional<std::vector<status::HookRecord>> records;
  hooks::runHooks(io, *launcher, specs, {"multidrop", "direct", "ddns.mismatch", "203.0.113.7"}, std::nullopt,
                  std::nullopt, [&](std::vector<status::HookRecord> r) { records = std::move(r); });
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!records && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 4u);
  EXPECT_TRUE((*records)[0].ok) << (*records)[0].error;
  EXPECT_FALSE((*records)[1].ok);
  EXPECT_EQ((*records)[1].error, "exit 7: broken");
  EXPECT_FALSE((*records)[2].ok);
  EXPECT_EQ((*records)[2].error, "timed out");
  EXPECT_FALSE((*records)[3].ok);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "DYNMX_ADDRESS=203.0.113.7\nDYNMX_MODE=multidrop\nDYNMX_PREVIOUS_MODE=direct\n"
            "DYNMX_REASON=ddns.mismatch\n$(x);y");
  fs::remove_all(dir);
}

namespace {

// Two switches in quick succession, each with a hook that logs its start and end.
std::string runTwoSwitches(bool queued) {
  std::string t = "/tmp/dmxhookq-XXXXXX";
  fs::path dir = ::mkdtemp(t.data());
  const std::string log = (dir / "order.txt").string();
  boost::asio::io_context io;
  auto launcher = makeProcessLauncher(io);
  const std::vector<hooks::HookSpec> specs = {
      {{"sh", "-c", "echo start $DYNMX_MODE >> \"$1\"; sleep 0.3; echo end $DYNMX_MODE >> \"$1\"", "hook", log},
       10s}};
  hooks::HookQueue queue(io, *launcher);
  std::vector<std::string> finished;
  for (const char* mode : {"multidrop", "direct"}) {
    hooks::SwitchContext ctx{mode, "", "test", ""};
    auto done = [&finished, mode](std::vector<status::HookRecord>) { finished.emplace_back(mode); };
    if (queued) queue.run(specs, ctx, std::nullopt, std::nullopt, done);
    else hooks::runHooks(io, *launcher, specs, ctx, std::nullopt, std::nullopt, done);
  }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (finished.size() < 2 && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  EXPECT_EQ(finished.size(), 2u);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  return text;
}

}  // namespace

// Issue 12 item 7: hooks of successive switches run one at a time, in order.
TEST(Hooks, SuccessiveSwitchesRunTheirHooksOneAtATimeInOrder) {
  EXPECT_EQ(runTwoSwitches(/*queued=*/true), "start multidrop\nend multidrop\nstart direct\nend direct\n");
}

// The daemon once called runHooks per switch: the batches overlapped. This is what the
// assertion above catches (it can fail).
TEST(Hooks, UnqueuedRunsOverlapWhichIsWhyTheDaemonQueues) {
  EXPECT_NE(runTwoSwitches(/*queued=*/false), "start multidrop\nend multidrop\nstart direct\nend direct\n");
}
