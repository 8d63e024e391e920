#pragma once
// Every file dynmx writes goes through here: temp file in the same directory, fsync,
// rename over the target, fsync the directory. A reader sees the old file or the new
// one, never a torn or empty one.
#include <optional>
#include <string>
#include <sys/types.h>

#include "dynmx/result.hpp"

namespace dynmx {

/// Options for writeFileAtomic.
struct AtomicWriteOptions {
  mode_t mode = 0600;
  std::optional<uid_t> owner;  ///< chown the temp file before the rename (needs privilege)
  std::optional<gid_t> group;
};

/// Write `content` to `path` atomically. The error names the path and the errno text.
Status<> writeFileAtomic(const std::string& path, std::string_view content,
                         const AtomicWriteOptions& options = {});

/// A temp file created next to `path` (same directory, so rename is atomic). The caller
/// can inspect or validate it before commit(); if not committed it is removed.
class StagedFile {
 public:
  /// Create and fill the temp file. Check ok()/error() afterwards.
  StagedFile(const std::string& path, std::string_view content, const AtomicWriteOptions& options);
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  /// Path of the temp file (valid until commit or destruction).
  [[nodiscard]] const std::string& tempPath() const { return tempPath_; }
  /// Rename the temp file over the target and fsync the directory.
  Status<> commit();

 private:
  std::string path_;
  std::string tempPath_;
  std::string error_;
  bool committed_ = false;
};

/// Remove the temp files (`path.tmp.XXXXXX`) a killed writer of `path` left behind; returns
/// how many. Call at start-up, before this process writes `path`.
std::size_t removeStaleTemps(const std::string& path);

/// Read a whole file; error names the path.
Result<std::string> readFile(const std::string& path);

}  // namespace dynmx
