#pragma once
// Helpers shared by the policy tests: read test data, format diagnostics, temp dirs.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dynmx/policy.hpp"

namespace dynmx::testing {

/// Contents of a file ("" when missing).
inline std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Contents of a file in tests/unit/policy/data.
inline std::string dataFile(const std::string& name) {
  return readText(std::string(DYNMX_TEST_DATA_DIR) + "/data/" + name);
}

/// Contents of a file in the source tree (e.g. "docs/examples/dynmx.toml").
inline std::string sourceFile(const std::string& rel) {
  return readText(std::string(DYNMX_SOURCE_DIR) + "/" + rel);
}

/// Every diagnostic as the user sees it.
inline std::vector<std::string> formatted(const std::vector<Diagnostic>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(formatDiagnostic(d));
  return out;
}

/// A private temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dynmx-policy-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Write `content` to `name` with `mode`; returns the full path.
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) const {
    std::string p = path_ + "/" + name;
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out << content;
    }
    ::chmod(p.c_str(), mode);
    // As root, secrets must belong to the daemon user ([daemon] user, "dynmx" by default),
    // who reads them after the drop: write them as the package's setup would.
    if (::geteuid() == 0)
      if (const passwd* pw = ::getpwnam("dynmx")) (void)::chown(p.c_str(), pw->pw_uid, pw->pw_gid);
    return p;
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace dynmx::testing
