#pragma once
// What the "files" and "sigkill" fault classes check about the files dynmx writes (header
// only): the state file through the real loader, and the temp files of atomic writes.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "dynmx/process.hpp"

namespace dynmx::world {

/// `path` as `dynmx status --state` loads it when no daemon answers (the real loader):
/// the report, or nullopt when it does not load (or loads as "no usable state file").
inline std::optional<nlohmann::json> loadStateFile(const std::string& dynmx, const std::string& worldDir,
                                                   const std::string& path, std::string* output = nullptr) {
  auto r = runProcess(
      {.argv = {dynmx, "status", "--socket", worldDir + "/nobody-here.sock", "--state", path, "--json"},
       .timeout = std::chrono::seconds(60)});
  if (output != nullptr) *output = r.out + r.err;
  try {
    nlohmann::json j = nlohmann::json::parse(r.out.substr(0, r.out.rfind('}') + 1));
    if (j["health_reasons"].dump().find("no usable state file") != std::string::npos) return std::nullopt;
    if (j["mode"]["current"] != "direct" && j["mode"]["current"] != "multidrop") return std::nullopt;
    return j;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// Temp files of atomic writes (`NAME.tmp.*`) in `dir`.
inline std::set<std::string> tempsIn(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.insert(e.path().string());
  return out;
}

}  // namespace dynmx::world
