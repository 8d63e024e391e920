#pragma once
// A short-lived directory under /tmp for one test's servers and files.
#include <string>
#include <string_view>

namespace dynmx::testbed {

/// A fresh directory /tmp/dmx-TAG-XXXXXX, removed with everything in it on destruction.
/// Paths stay short (< 60 chars) because unix sockets inside must fit in 108 bytes.
/// Set DYNMX_KEEP_TESTBED=1 to keep it for a post-mortem.
class TempDir {
 public:
  /// Creates the directory (mode 0755 so unprivileged server workers can traverse it);
  /// throws std::runtime_error if it cannot: a test cannot run without it.
  explicit TempDir(std::string_view tag = "t");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The absolute path of the directory.
  [[nodiscard]] const std::string& path() const { return path_; }
  /// path()/name.
  [[nodiscard]] std::string file(std::string_view name) const;
  /// Create (if needed) and return the subdirectory path()/name.
  std::string subdir(std::string_view name, unsigned mode = 0755) const;

 private:
  std::string path_;
};

/// Write `text` to `path` with `mode` (replacing it); throws std::runtime_error on failure.
void writeTextFile(const std::string& path, std::string_view text, unsigned mode = 0644);

/// The whole content of a file, or "" if it cannot be read.
std::string slurp(const std::string& path);

}  // namespace dynmx::testbed
