// The world's test binary. Before anything else (and before any thread) the process moves
// into its own network and mount namespace: every actor's address, port 25 and 53, and the
// bind-mounted /etc/resolv.conf exist only there and vanish with the process.
//
//   dynmx_world_test                      GoogleTest: one test per scenario × variant
//   dynmx_world_test --row S V --json F   play one row, write its JSON to F (exit 1 if a check fails)
//   dynmx_world_test --table [--jobs N]   every row, each in a child process, then the table
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "dynmx/process.hpp"
#include "netns.hpp"
#include "scenario.hpp"
#include "testbed/temp_dir.hpp"
#include "world_binaries.hpp"

namespace {

using namespace dynmx;
using namespace dynmx::world;
using Json = nlohmann::json;

int playRow(const std::string& scenarioId, const std::string& variantName, const std::string& jsonPath) {
  const Scenario* s = findScenario(scenarioId);
  const Variant* v = findVariant(variantName);
  if (s == nullptr || v == nullptr) {
    std::cerr << "unknown scenario or variant: " << scenarioId << " " << variantName << "\n";
    return 2;
  }
  auto row = runRow(*s, *v, dynmxBinary(), dyndns2dBinary());
  if (!row.ok()) {
    std::cerr << scenarioId << "/" << variantName << ": " << row.error() << "\n";
    return 1;
  }
  testbed::writeTextFile(jsonPath, rowJson(*row).dump() + "\n");
  const auto problems = checkRow(*s, *row);
  for (const auto& p : problems) std::cerr << scenarioId << "/" << variantName << ": " << p << "\n";
  return problems.empty() ? 0 : 1;
}

int printTable(int jobs) {
  testbed::TempDir out("table");
  struct Job {
    std::string scenario, variant, json;
    int exitCode = -1;
    std::string log;
  };
  std::vector<Job> work;
  for (const auto& s : scenarios())
    for (const auto& v : variants()) work.push_back({s.id, v.name, out.file(s.id + "." + v.name + ".json")});
  std::mutex m;
  std::size_t next = 0;
  auto worker = [&] {
    for (;;) {
      Job* j = nullptr;
      {
        std::lock_guard lock(m);
        if (next == work.size()) return;
        j = &work[next++];
        std::cerr << "running " << j->scenario << " / " << j->variant << "\n";
      }
      auto r = runProcess({.argv = {"/proc/self/exe", "--row", j->scenario, j->variant, "--json", j->json},
                           .inheritEnvironment = true,
                           .timeout = std::chrono::minutes(5)});
      j->exitCode = r.started && !r.timedOut ? r.exitCode : -1;
      j->log = r.err;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, jobs); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  std::vector<Json> rows;
  int failures = 0;
  for (const auto& j : work) {
    const std::string text = testbed::slurp(j.json);
    if (!text.empty()) rows.push_back(Json::parse(text));
    if (j.exitCode != 0) {
      ++failures;
      std::cerr << "FAILED " << j.scenario << " / " << j.variant << ":\n" << j.log.substr(0, 4000) << "\n";
    }
  }
  std::cout << formatTable(rows);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool listing = false, table = false;
  int jobs = 2;
  std::string rowScenario, rowVariant, rowJsonPath;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--gtest_list_tests", 0) == 0) listing = true;
    if (a == "--table") table = true;
    if (a == "--jobs" && i + 1 < argc) jobs = std::atoi(argv[++i]);
    if (a == "--row" && i + 2 < argc) {
      rowScenario = argv[++i];
      rowVariant = argv[++i];
    }
    if (a == "--json" && i + 1 < argc) rowJsonPath = argv[++i];
  }
  if (table) return printTable(jobs);
  if (!listing) {
    // A world that cannot be built fails; it never skips.
    if (auto s = enterFreshNamespace(argv); !s.ok()) {
      std::cerr << "dynmx_world_test: " << s.error() << "\n";
      return 1;
    }
  }
  if (!rowScenario.empty()) return playRow(rowScenario, rowVariant, rowJsonPath.empty() ? "/dev/null" : rowJsonPath);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
